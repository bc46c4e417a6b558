/*
 * The redactor: one Aho-Corasick automaton over every encoded form of every
 * secret value, run once over the text whatever the number of secrets.
 *
 * Automaton. The trie's states are numbered breadth-first, so a state's
 * failure link always has a smaller number. The first ndense states (the
 * shallow ones, where a scan over ordinary text spends nearly all its time)
 * get a full transition row over byte classes (class 0: bytes that occur in
 * no pattern; one class per byte that does), with the failure links folded
 * in; an entry has FLAG set when its target ends a pattern. Deeper states
 * keep only their trie edges and follow failure links until a dense state.
 * The dense part is capped (DENSE_DEPTH, DENSE_BUDGET) so that long values
 * cost memory linear in their length, not times 256, and a redactor builds
 * in a millisecond or two: ordinary text rarely gets deeper than a few
 * bytes into a pattern (bench/redact measures both kinds of text).
 *
 * Matching, leftmost-longest, in one pass. Every pattern occurrence is
 * reported when its last byte is read (through the chain of patterns that
 * are suffixes of one another). Occurrences that start at or after the
 * cursor (the end of the last replacement) are kept as candidates, sorted
 * by start, the longest per start. With the automaton in a state of depth d
 * after p bytes, any occurrence still to come starts at p - d or later, so
 * the first candidate is final once it starts before p - d: it is the
 * leftmost, and nothing longer can start there. Bytes before min(p - d,
 * first candidate) can be written out; the rest (at most the longest
 * pattern) is held back, which is what makes chunked input give the same
 * output as a single buffer.
 */
#include "secrets/secrets.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

#include "core/banned.h"

#define NONE	     UINT32_MAX
#define FLAG	     0x80000000u	/* in a transition: the target ends a pattern */
#define STATE_MASK   0x7fffffffu	/* in a transition: the target */
#define DENSE_BUDGET ((size_t)16 << 20) /* bytes of dense transition rows at most */
#define DENSE_DEPTH  8			/* dense rows for states this deep at most */

struct nsh_redactor {
	uint32_t nstates;     /* trie states; 0 is the root */
	uint32_t ndense;      /* states [0, ndense) have a dense row */
	uint32_t dlimit;      /* ndense * ncls: encoded states below are row offsets */
	uint32_t ncls;	      /* byte classes */
	uint8_t cls[256];     /* byte -> class; 0 for bytes in no pattern (if any) */
	uint32_t *dense;      /* ndense rows of ncls transitions: enc(target) | FLAG */
	uint32_t *fail;	      /* per state: failure link */
	uint32_t *depth;      /* per state: length of the string it stands for */
	uint32_t *out;	      /* per state: longest pattern that ends it, or NONE */
	uint32_t *edge_start; /* nstates + 1: edges of s are [edge_start[s], edge_start[s + 1]) */
	uint8_t *edge_byte;   /* per edge, sorted by byte within a state */
	uint32_t *edge_to;    /* per edge: child state */
	uint32_t nedges;      /* edges (nstates - 1) */
	uint32_t npat;	      /* distinct patterns */
	uint32_t *pat_len;    /* per pattern: length */
	uint32_t *pat_next;   /* per pattern: next shorter pattern that is its suffix, or NONE */
	uint32_t *pat_secret; /* per pattern: index into names/markers */
	size_t nsecrets;      /* secrets registered */
	char **names;	      /* per secret: its name */
	char **markers;	      /* per secret: "[secret:NAME]" */
	size_t *marker_len;   /* per secret: strlen(markers[i]) */
};

struct cand {
	uint64_t start; /* first byte, absolute stream offset */
	uint64_t end;	/* one past the last byte */
	uint32_t pid;	/* pattern */
};

/* Called for each final occurrence instead of writing output (nsh_redact_scan()). */
typedef void hit_fn(void *ctx, uint64_t start, uint32_t secret);

struct nsh_redact_stream {
	const struct nsh_redactor *r; /* borrowed */
	uint32_t state;		      /* automaton state after pos bytes */
	uint64_t pos;		      /* bytes consumed */
	uint64_t cursor;	      /* output is final for every byte before this */
	unsigned char *held;	      /* input bytes [held_base, pos) not yet written */
	uint64_t held_base;	      /* stream offset of held[0] */
	size_t held_len;	      /* bytes in held */
	size_t held_alloc;	      /* bytes allocated */
	struct cand *cand;	      /* candidates, sorted by start, one per start */
	size_t ncand;		      /* candidates in use */
	size_t acand;		      /* candidates allocated */
	int error;		      /* sticky failure code, 0 when fine */
	hit_fn *hit;		      /* scan mode: report instead of writing, or NULL */
	void *hit_ctx;		      /* for hit */
};

/* Free @p after wiping @len bytes of it. */
static void wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	sodium_memzero(p, len);
	free(p);
}

/* ---- encoded forms ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/* Standard base64 of @v into @out, with or without the '=' padding. */
static void form_base64(struct nsh_buf *out, const unsigned char *v, size_t len, bool pad)
{
	size_t i;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t n = (uint32_t)v[i] << 16 | (uint32_t)v[i + 1] << 8 | v[i + 2];

		nsh_buf_addch(out, b64_chars[n >> 18 & 63]);
		nsh_buf_addch(out, b64_chars[n >> 12 & 63]);
		nsh_buf_addch(out, b64_chars[n >> 6 & 63]);
		nsh_buf_addch(out, b64_chars[n & 63]);
	}
	if (len - i == 1) {
		uint32_t n = (uint32_t)v[i] << 16;

		nsh_buf_addch(out, b64_chars[n >> 18 & 63]);
		nsh_buf_addch(out, b64_chars[n >> 12 & 63]);
		if (pad)
			nsh_buf_adds(out, "==");
	} else if (len - i == 2) {
		uint32_t n = (uint32_t)v[i] << 16 | (uint32_t)v[i + 1] << 8;

		nsh_buf_addch(out, b64_chars[n >> 18 & 63]);
		nsh_buf_addch(out, b64_chars[n >> 12 & 63]);
		nsh_buf_addch(out, b64_chars[n >> 6 & 63]);
		if (pad)
			nsh_buf_addch(out, '=');
	}
}

static bool url_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Percent-encoding of every byte outside the RFC 3986 unreserved set, with
 * @digits for the hex; @plus writes spaces as '+' (HTML form encoding).
 */
static void form_url(struct nsh_buf *out, const unsigned char *v, size_t len, const char *digits,
		     bool plus)
{
	for (size_t i = 0; i < len; i++) {
		if (url_unreserved(v[i])) {
			nsh_buf_addch(out, (char)v[i]);
		} else if (plus && v[i] == ' ') {
			nsh_buf_addch(out, '+');
		} else {
			nsh_buf_addch(out, '%');
			nsh_buf_addch(out, digits[v[i] >> 4]);
			nsh_buf_addch(out, digits[v[i] & 15]);
		}
	}
}

static void form_hex(struct nsh_buf *out, const unsigned char *v, size_t len, const char *digits)
{
	for (size_t i = 0; i < len; i++) {
		nsh_buf_addch(out, digits[v[i] >> 4]);
		nsh_buf_addch(out, digits[v[i] & 15]);
	}
}

/* ---- building ---- */

struct bedge {
	uint32_t to;   /* child node */
	uint32_t next; /* next edge of the same parent, or NONE */
	uint8_t byte;  /* label */
};

/* The trie while patterns are added, with build-time node numbers. */
struct builder {
	uint32_t *first; /* per node: first edge, or NONE */
	uint32_t *pid;	 /* per node: the pattern ending here, or NONE */
	uint32_t nnodes;
	uint32_t anodes;
	struct bedge *edges;
	uint32_t nedges;
	uint32_t aedges;
	uint32_t root_child[256]; /* the root's edges, by byte */
	bool used[256];		  /* bytes that occur in a pattern */
	uint32_t *pat_len;	  /* per pattern */
	uint32_t *pat_secret;	  /* per pattern */
	uint32_t npat;
	uint32_t apat;
	size_t total; /* bytes of all patterns added */
};

/* Grow an array of @size-byte elements to hold @want, wiping the old copy. */
static void *grow_wipe(void *p, uint32_t *alloc, uint32_t want, size_t size)
{
	uint32_t n;
	void *q;

	if (want <= *alloc)
		return p;
	n = *alloc < 64 ? 64 : *alloc + *alloc / 2;
	if (n < want)
		n = want;
	q = nsh_xcalloc(n, size);
	if (p)
		memcpy(q, p, (size_t)*alloc * size);
	wipe_free(p, (size_t)*alloc * size);
	*alloc = n;
	return q;
}

static uint32_t builder_node(struct builder *b)
{
	uint32_t n = b->nnodes++, alloc = b->anodes;

	b->first = grow_wipe(b->first, &alloc, b->nnodes, sizeof(*b->first));
	alloc = b->anodes;
	b->pid = grow_wipe(b->pid, &alloc, b->nnodes, sizeof(*b->pid));
	b->anodes = alloc;
	b->first[n] = NONE;
	b->pid[n] = NONE;
	return n;
}

/* Add pattern @p for secret @secret; a pattern already present keeps its first secret. */
static int builder_add(struct builder *b, const unsigned char *p, size_t len, uint32_t secret,
		       struct nsh_err *err)
{
	uint32_t u = 0;

	if (len > NSH_REDACT_MAX_PATTERNS - b->total)
		return nsh_err_set(err, NSH_ETOOBIG,
				   "the secrets to redact are too large together (their encoded "
				   "forms exceed %u bytes)",
				   NSH_REDACT_MAX_PATTERNS);
	b->total += len;
	for (size_t i = 0; i < len; i++) {
		uint32_t c = NONE;

		if (u == 0) {
			c = b->root_child[p[i]];
		} else {
			for (uint32_t e = b->first[u]; e != NONE; e = b->edges[e].next) {
				if (b->edges[e].byte == p[i]) {
					c = b->edges[e].to;
					break;
				}
			}
		}
		if (c == NONE) {
			uint32_t e = b->nedges++;

			c = builder_node(b);
			b->edges = grow_wipe(b->edges, &b->aedges, b->nedges, sizeof(*b->edges));
			b->edges[e] = (struct bedge){.to = c, .next = b->first[u], .byte = p[i]};
			b->first[u] = e;
			if (u == 0)
				b->root_child[p[i]] = c;
			b->used[p[i]] = true;
		}
		u = c;
	}
	if (b->pid[u] != NONE)
		return 0;
	NSH_ALLOC_GROW(b->pat_len, b->npat + 1, b->apat);
	b->pat_secret = nsh_xreallocarray(b->pat_secret, b->apat, sizeof(*b->pat_secret));
	b->pid[u] = b->npat;
	b->pat_len[b->npat] = (uint32_t)len;
	b->pat_secret[b->npat] = secret;
	b->npat++;
	return 0;
}

static void builder_release(struct builder *b)
{
	wipe_free(b->first, b->anodes * sizeof(*b->first));
	wipe_free(b->pid, b->anodes * sizeof(*b->pid));
	wipe_free(b->edges, b->aedges * sizeof(*b->edges));
	free(b->pat_len);
	free(b->pat_secret);
	sodium_memzero(b, sizeof(*b));
}

/* Register every form of one value. */
static int add_forms(struct builder *b, const unsigned char *v, size_t len, uint32_t secret,
		     struct nsh_err *err)
{
	struct nsh_buf f = NSH_BUF_INIT;
	int rc = 0;

	/* Room for the longest form (percent-encoding), so that no copy is left behind. */
	nsh_buf_grow(&f, 3 * len + 4);
	for (int form = 0; form < 8 && !rc; form++) {
		nsh_buf_reset(&f);
		switch (form) {
		case 0:
			nsh_buf_add(&f, v, len);
			break;
		case 1:
		case 2:
			form_base64(&f, v, len, form == 1);
			break;
		case 3:
		case 4:
			form_url(&f, v, len, form == 3 ? hex_upper : hex_lower, false);
			break;
		case 5:
			form_url(&f, v, len, hex_upper, true);
			break;
		case 6:
		case 7:
			form_hex(&f, v, len, form == 6 ? hex_lower : hex_upper);
			break;
		default:
			break;
		}
		rc = builder_add(b, (const unsigned char *)f.buf, f.len, secret, err);
	}
	if (f.alloc)
		sodium_memzero(f.buf, f.alloc);
	nsh_buf_release(&f);
	return rc;
}

/* The child of state @s (final numbering) on byte @c, or NONE. */
static uint32_t child(const struct nsh_redactor *r, uint32_t s, uint8_t c)
{
	uint32_t lo = r->edge_start[s], hi = r->edge_start[s + 1];

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (r->edge_byte[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->edge_start[s + 1] && r->edge_byte[lo] == c ? r->edge_to[lo] : NONE;
}

struct kid {
	uint8_t byte; /* edge label */
	uint32_t to;  /* child, build-time number */
};

/*
 * In the dense rows and the hot loop a state is encoded so that no multiply
 * sits on the critical path: a dense state as the offset of its row, a
 * sparse one as dlimit plus its distance from ndense.
 */
static inline uint32_t enc(const struct nsh_redactor *r, uint32_t s)
{
	return s < r->ndense ? s * r->ncls : r->dlimit + (s - r->ndense);
}

static inline uint32_t dec(const struct nsh_redactor *r, uint32_t v)
{
	return v < r->dlimit ? v / r->ncls : v - r->dlimit + r->ndense;
}

/* Number the trie breadth-first and lay out its edges sorted by byte. */
static void layout(struct nsh_redactor *r, const struct builder *b, uint32_t *old_of)
{
	uint32_t head = 0, tail = 1, ne = 0;
	struct kid kids[256];

	old_of[0] = 0;
	while (head < tail) {
		uint32_t u = old_of[head], nk = 0;

		r->edge_start[head] = ne;
		if (u == 0) {
			for (int c = 0; c < 256; c++)
				if (b->root_child[c] != NONE)
					kids[nk++] = (struct kid){(uint8_t)c, b->root_child[c]};
		} else {
			/* Few children below the root: insertion sort by byte. */
			for (uint32_t e = b->first[u]; e != NONE; e = b->edges[e].next) {
				uint32_t k = nk++;

				while (k && kids[k - 1].byte > b->edges[e].byte) {
					kids[k] = kids[k - 1];
					k--;
				}
				kids[k] = (struct kid){b->edges[e].byte, b->edges[e].to};
			}
		}
		for (uint32_t k = 0; k < nk; k++) {
			old_of[tail] = kids[k].to;
			r->edge_byte[ne] = kids[k].byte;
			r->edge_to[ne] = tail;
			ne++;
			tail++;
		}
		head++;
	}
	r->edge_start[head] = ne;
	sodium_memzero(kids, sizeof(kids));
}

/* Failure links, depths and outputs, in breadth-first order. */
static void link_states(struct nsh_redactor *r, const struct builder *b, const uint32_t *old_of)
{
	r->fail[0] = 0;
	r->depth[0] = 0;
	r->out[0] = NONE;
	for (uint32_t u = 0; u < r->nstates; u++) {
		for (uint32_t e = r->edge_start[u]; e < r->edge_start[u + 1]; e++) {
			uint32_t v = r->edge_to[e], f = 0, own = b->pid[old_of[v]];
			uint8_t c = r->edge_byte[e];

			if (u) {
				for (uint32_t s = r->fail[u];; s = r->fail[s]) {
					f = child(r, s, c);
					if (f != NONE || s == 0)
						break;
				}
				if (f == NONE)
					f = 0;
			}
			r->fail[v] = f;
			r->depth[v] = r->depth[u] + 1;
			r->out[v] = own != NONE ? own : r->out[f];
			if (own != NONE)
				r->pat_next[own] = r->out[f];
		}
	}
}

/* Byte classes and the dense rows of the shallowest states. */
static void make_dense(struct nsh_redactor *r, const struct builder *b)
{
	uint8_t rep[256] = {0}; /* a byte of each class */
	uint32_t used = 0, first = 1;
	size_t row;

	for (int c = 0; c < 256; c++)
		used += b->used[c];
	/* Class 0 gathers the bytes in no pattern; when there are none, it is not needed. */
	if (used == 256)
		first = 0;
	r->ncls = first;
	for (int c = 0; c < 256; c++) {
		if (b->used[c]) {
			rep[r->ncls] = (uint8_t)c;
			r->cls[c] = (uint8_t)r->ncls++;
		}
	}
	row = r->ncls * sizeof(uint32_t);
	/* Breadth-first numbering makes the shallow states a prefix. */
	r->ndense = r->nstates;
	while (r->ndense > 1 && r->depth[r->ndense - 1] > DENSE_DEPTH)
		r->ndense--;
	if ((size_t)r->ndense * row > DENSE_BUDGET)
		r->ndense = (uint32_t)(DENSE_BUDGET / row);
	r->dlimit = r->ndense * r->ncls;
	r->dense = nsh_xcalloc((size_t)r->ndense * r->ncls, sizeof(uint32_t));
	for (uint32_t s = 0; s < r->ndense; s++) {
		uint32_t *d = r->dense + (size_t)s * r->ncls;

		for (uint32_t k = 0; k < r->ncls; k++) {
			uint32_t t = k >= first ? child(r, s, rep[k]) : NONE;

			if (t == NONE)
				t = s ? dec(r,
					    r->dense[(size_t)r->fail[s] * r->ncls + k] & STATE_MASK)
				      : 0;
			d[k] = enc(r, t) | (r->out[t] != NONE ? FLAG : 0);
		}
	}
	sodium_memzero(rep, sizeof(rep));
}

void nsh_redactor_free(struct nsh_redactor *r)
{
	size_t n;

	if (!r)
		return;
	n = r->nstates;
	wipe_free(r->dense, (size_t)r->ndense * r->ncls * sizeof(uint32_t));
	wipe_free(r->fail, n * sizeof(uint32_t));
	wipe_free(r->depth, n * sizeof(uint32_t));
	wipe_free(r->out, n * sizeof(uint32_t));
	wipe_free(r->edge_start, (n + 1) * sizeof(uint32_t));
	wipe_free(r->edge_byte, r->nedges);
	wipe_free(r->edge_to, r->nedges * sizeof(uint32_t));
	wipe_free(r->pat_len, r->npat * sizeof(uint32_t));
	wipe_free(r->pat_next, r->npat * sizeof(uint32_t));
	wipe_free(r->pat_secret, r->npat * sizeof(uint32_t));
	for (size_t i = 0; i < r->nsecrets; i++) {
		free(r->names[i]);
		free(r->markers[i]);
	}
	free(r->names);
	free(r->markers);
	free(r->marker_len);
	sodium_memzero(r, sizeof(*r));
	free(r);
}

int nsh_redactor_new(const struct nsh_redact_secret *secrets, size_t n, struct nsh_redactor **ret,
		     size_t *ret_skipped, struct nsh_err *err)
{
	struct builder b = {0};
	struct nsh_redactor *r = nsh_xcalloc(1, sizeof(*r));
	uint32_t *old_of = NULL;
	size_t skipped = 0;
	int rc = 0;

	memset(b.root_child, 0xff, sizeof(b.root_child));
	builder_node(&b);
	r->names = nsh_xcalloc(n ? n : 1, sizeof(*r->names));
	r->markers = nsh_xcalloc(n ? n : 1, sizeof(*r->markers));
	r->marker_len = nsh_xcalloc(n ? n : 1, sizeof(*r->marker_len));
	for (size_t i = 0; i < n; i++) {
		const struct nsh_redact_secret *s = &secrets[i];
		uint32_t id = (uint32_t)r->nsecrets;

		if (s->len < NSH_REDACT_MIN_VALUE) {
			skipped++;
			continue;
		}
		r->names[id] = nsh_xstrdup(s->name ? s->name : "");
		r->markers[id] = nsh_xasprintf(NSH_REDACT_MARKER, r->names[id]);
		r->marker_len[id] = strlen(r->markers[id]);
		r->nsecrets++;
		rc = add_forms(&b, s->value, s->len, id, err);
		if (rc)
			goto out;
	}
	r->nstates = b.nnodes;
	r->nedges = b.nedges;
	r->npat = b.npat;
	r->fail = nsh_xmalloc(r->nstates * sizeof(uint32_t));
	r->depth = nsh_xmalloc(r->nstates * sizeof(uint32_t));
	r->out = nsh_xmalloc(r->nstates * sizeof(uint32_t));
	r->edge_start = nsh_xmalloc(((size_t)r->nstates + 1) * sizeof(uint32_t));
	r->edge_byte = nsh_xmalloc(r->nedges ? r->nedges : 1);
	r->edge_to = nsh_xmalloc((r->nedges ? r->nedges : 1) * sizeof(uint32_t));
	r->pat_len = nsh_xcalloc(r->npat ? r->npat : 1, sizeof(uint32_t));
	r->pat_secret = nsh_xcalloc(r->npat ? r->npat : 1, sizeof(uint32_t));
	if (r->npat) {
		memcpy(r->pat_len, b.pat_len, r->npat * sizeof(uint32_t));
		memcpy(r->pat_secret, b.pat_secret, r->npat * sizeof(uint32_t));
	}
	r->pat_next = nsh_xmalloc((r->npat ? r->npat : 1) * sizeof(uint32_t));
	old_of = nsh_xmalloc(r->nstates * sizeof(*old_of));
	layout(r, &b, old_of);
	link_states(r, &b, old_of);
	make_dense(r, &b);
out:
	free(old_of);
	builder_release(&b);
	if (rc) {
		nsh_redactor_free(r);
		return rc;
	}
	if (ret_skipped)
		*ret_skipped = skipped;
	*ret = r;
	return 0;
}

int nsh_redactor_from_env(const struct nsh_secrets_env *env, struct nsh_redactor **ret,
			  struct nsh_err *err)
{
	struct nsh_redact_secret *s = nsh_xcalloc(env->nr ? env->nr : 1, sizeof(*s));
	int rc;

	for (size_t i = 0; i < env->nr; i++)
		s[i] = (struct nsh_redact_secret){env->v[i].name, env->v[i].value,
						  env->v[i].value_len};
	rc = nsh_redactor_new(s, env->nr, ret, NULL, err);
	wipe_free(s, (env->nr ? env->nr : 1) * sizeof(*s));
	return rc;
}

size_t nsh_redactor_secrets(const struct nsh_redactor *r)
{
	return r->nsecrets;
}

/* ---- matching ---- */

/*
 * Transition from a state without a dense row: trie edges, else its failure
 * link, until a dense state. Returns an encoded state, FLAG set when it ends
 * a pattern.
 */
static uint32_t step_sparse(const struct nsh_redactor *r, uint32_t s, uint8_t c)
{
	uint32_t k = r->cls[c];

	if (!k && r->ncls < 256)
		return 0; /* a byte no pattern contains: back to the root */
	for (;;) {
		uint32_t t;

		if (s < r->ndense)
			return r->dense[(size_t)s * r->ncls + k];
		t = child(r, s, c);
		if (t != NONE)
			return enc(r, t) | (r->out[t] != NONE ? FLAG : 0);
		s = r->fail[s];
	}
}

static void stream_init(struct nsh_redact_stream *s, const struct nsh_redactor *r)
{
	memset(s, 0, sizeof(*s));
	s->r = r;
}

static void stream_release(struct nsh_redact_stream *s)
{
	wipe_free(s->held, s->held_alloc);
	free(s->cand);
	sodium_memzero(s, sizeof(*s));
}

/* Back to the start of a new text, keeping the allocations. */
static void stream_reset(struct nsh_redact_stream *s)
{
	if (s->held)
		sodium_memzero(s->held, s->held_alloc);
	s->state = 0;
	s->pos = 0;
	s->cursor = 0;
	s->held_base = 0;
	s->held_len = 0;
	s->ncand = 0;
}

static int out_add(struct nsh_redact_stream *s, struct nsh_buf *out, const void *p, size_t n)
{
	if (s->error || nsh_buf_add(out, p, n)) {
		s->error = NSH_ETOOBIG;
		return NSH_ETOOBIG;
	}
	return 0;
}

/*
 * Write input bytes [@a, @b) to @out. They are in the held bytes or in the
 * current chunk @in, which starts at stream offset @base.
 */
static int emit_raw(struct nsh_redact_stream *s, const unsigned char *in, uint64_t base, uint64_t a,
		    uint64_t b, struct nsh_buf *out)
{
	int rc = 0;

	if (a >= b || s->hit)
		return 0;
	if (a < base) {
		uint64_t e = b < base ? b : base;

		rc = out_add(s, out, s->held + (a - s->held_base), (size_t)(e - a));
		a = e;
	}
	if (!rc && a < b)
		rc = out_add(s, out, in + (a - base), (size_t)(b - a));
	return rc;
}

/* Replace the first candidate: it is final. */
static int take_first(struct nsh_redact_stream *s, const unsigned char *in, uint64_t base,
		      struct nsh_buf *out)
{
	const struct nsh_redactor *r = s->r;
	struct cand c = s->cand[0];
	uint32_t sec = r->pat_secret[c.pid];
	size_t drop = 1;
	int rc;

	rc = emit_raw(s, in, base, s->cursor, c.start, out);
	if (rc)
		return rc;
	if (s->hit)
		s->hit(s->hit_ctx, c.start, sec);
	else if ((rc = out_add(s, out, r->markers[sec], r->marker_len[sec])))
		return rc;
	s->cursor = c.end;
	while (drop < s->ncand && s->cand[drop].start < s->cursor)
		drop++;
	memmove(s->cand, s->cand + drop, (s->ncand - drop) * sizeof(*s->cand));
	s->ncand -= drop;
	return 0;
}

/* Keep [@start, @end) as a candidate: sorted by start, the longest per start. */
static void add_cand(struct nsh_redact_stream *s, uint64_t start, uint64_t end, uint32_t pid)
{
	size_t i = s->ncand;

	while (i && s->cand[i - 1].start > start)
		i--;
	if (i && s->cand[i - 1].start == start) {
		if (end > s->cand[i - 1].end)
			s->cand[i - 1] = (struct cand){start, end, pid};
		return;
	}
	NSH_ALLOC_GROW(s->cand, s->ncand + 1, s->acand);
	memmove(s->cand + i + 1, s->cand + i, (s->ncand - i) * sizeof(*s->cand));
	s->cand[i] = (struct cand){start, end, pid};
	s->ncand++;
}

/* After the byte that ends at offset @p took the automaton to @st. */
static int after_byte(struct nsh_redact_stream *s, uint32_t st, uint64_t p, const unsigned char *in,
		      uint64_t base, struct nsh_buf *out)
{
	const struct nsh_redactor *r = s->r;
	uint64_t horizon = p - r->depth[st];
	int rc;

	/* Patterns ending here, longest (leftmost) first. */
	for (uint32_t pid = r->out[st]; pid != NONE; pid = r->pat_next[pid]) {
		uint64_t start = p - r->pat_len[pid];

		if (start >= s->cursor)
			add_cand(s, start, p, pid);
	}
	while (s->ncand && s->cand[0].start < horizon) {
		rc = take_first(s, in, base, out);
		if (rc)
			return rc;
	}
	return 0;
}

/* Make room for @n held bytes, wiping what a reallocation leaves behind. */
static void held_reserve(struct nsh_redact_stream *s, size_t n)
{
	unsigned char *p;
	size_t want;

	if (n <= s->held_alloc)
		return;
	want = n < 256 ? 256 : n + n / 2;
	p = nsh_xmalloc(want);
	if (s->held_len)
		memcpy(p, s->held, s->held_len);
	wipe_free(s->held, s->held_alloc);
	s->held = p;
	s->held_alloc = want;
}

static int feed(struct nsh_redact_stream *s, const unsigned char *in, size_t n, struct nsh_buf *out)
{
	const struct nsh_redactor *r = s->r;
	const uint64_t base = s->pos;
	uint32_t st = s->state;
	uint64_t safe, keep_from;
	size_t i = 0;
	int rc;

	if (s->error)
		return s->error;
	for (;;) {
		uint32_t e = 0;

		if (!s->ncand) {
			/* The hot loop: nothing pending, stop at the first match. */
			const uint32_t *dense = r->dense, dlimit = r->dlimit;
			const uint8_t *cls = r->cls;
			uint32_t v = enc(r, st);

			while (i < n) {
				e = __builtin_expect(v < dlimit, 1)
					    ? dense[v + cls[in[i]]]
					    : step_sparse(r, dec(r, v), in[i]);
				i++;
				v = e & STATE_MASK;
				if (e & FLAG)
					break;
			}
			st = dec(r, v);
			if (!(e & FLAG))
				break;
		} else {
			if (i == n)
				break;
			st = dec(r, step_sparse(r, st, in[i++]) & STATE_MASK);
		}
		rc = after_byte(s, st, base + i, in, base, out);
		if (rc)
			return rc;
	}
	s->state = st;
	s->pos = base + n;

	/* Write what no match can still cover; hold the rest back. */
	safe = s->pos - r->depth[st];
	if (s->ncand && s->cand[0].start < safe)
		safe = s->cand[0].start;
	if (safe > s->cursor) {
		rc = emit_raw(s, in, base, s->cursor, safe, out);
		if (rc)
			return rc;
		s->cursor = safe;
	}
	keep_from = s->cursor;
	if (keep_from < base) {
		size_t off = (size_t)(keep_from - s->held_base), len = (size_t)(base - keep_from);

		memmove(s->held, s->held + off, len);
		s->held_len = len;
	} else {
		s->held_len = 0;
	}
	if (keep_from < s->pos) {
		size_t from = keep_from > base ? (size_t)(keep_from - base) : 0;

		held_reserve(s, s->held_len + (n - from));
		memcpy(s->held + s->held_len, in + from, n - from);
		s->held_len += n - from;
	}
	s->held_base = keep_from;
	return 0;
}

static int finish(struct nsh_redact_stream *s, struct nsh_buf *out)
{
	int rc = s->error;

	/* No more input: every candidate is final, leftmost first. */
	while (!rc && s->ncand)
		rc = take_first(s, NULL, s->pos, out);
	if (!rc)
		rc = emit_raw(s, NULL, s->pos, s->cursor, s->pos, out);
	if (!rc)
		stream_reset(s);
	return rc;
}

static int too_big(struct nsh_err *err)
{
	return nsh_err_set(err, NSH_ETOOBIG, "redacted output exceeds its size limit");
}

int nsh_redact_buf(const struct nsh_redactor *r, const void *in, size_t len, struct nsh_buf *out,
		   struct nsh_err *err)
{
	struct nsh_redact_stream s;
	int rc;

	stream_init(&s, r);
	rc = feed(&s, in, len, out);
	if (!rc)
		rc = finish(&s, out);
	stream_release(&s);
	return rc ? too_big(err) : 0;
}

struct nsh_redact_stream *nsh_redact_stream_new(const struct nsh_redactor *r)
{
	struct nsh_redact_stream *s = nsh_xmalloc(sizeof(*s));

	stream_init(s, r);
	return s;
}

int nsh_redact_stream_write(struct nsh_redact_stream *s, const void *in, size_t len,
			    struct nsh_buf *out, struct nsh_err *err)
{
	return feed(s, in, len, out) ? too_big(err) : 0;
}

int nsh_redact_stream_finish(struct nsh_redact_stream *s, struct nsh_buf *out, struct nsh_err *err)
{
	return finish(s, out) ? too_big(err) : 0;
}

void nsh_redact_stream_free(struct nsh_redact_stream *s)
{
	if (!s)
		return;
	stream_release(s);
	free(s);
}

/* ---- scanning (diffs) ---- */

struct found {
	uint64_t start;	 /* offset in the text */
	uint32_t secret; /* which secret */
};

struct founds {
	struct found *v;
	size_t nr;
	size_t alloc;
};

static void record_hit(void *ctx, uint64_t start, uint32_t secret)
{
	struct founds *f = ctx;

	NSH_ALLOC_GROW(f->v, f->nr + 1, f->alloc);
	f->v[f->nr++] = (struct found){start, secret};
}

/* Where a unified diff is while its lines are walked. */
struct diffpos {
	char *old_path;	  /* from "--- " */
	char *file;	  /* the file of the hunks that follow */
	size_t old_line;  /* next line number on the old side */
	size_t new_line;  /* next line number on the new side */
	size_t old_left;  /* old-side lines left in the hunk */
	size_t new_left;  /* new-side lines left in the hunk */
	char side;	  /* of the current line: '+', '-', ' ' or 0 */
	size_t file_line; /* of the current line, 0 outside hunks */
};

/* A path from a "---"/"+++" line: unquoted, without a timestamp or "a/"/"b/". */
static char *diff_path(const char *p, size_t len)
{
	size_t n = 0;

	if (len && *p == '"') {
		p++;
		len--;
		while (n < len && p[n] != '"')
			n++;
	} else {
		while (n < len && p[n] != '\t')
			n++;
	}
	if (n == 9 && !memcmp(p, "/dev/null", 9))
		return NULL;
	if (n >= 2 && (p[0] == 'a' || p[0] == 'b') && p[1] == '/') {
		p += 2;
		n -= 2;
	}
	return nsh_xstrndup(p, n);
}

/* Parse a decimal number at *@p, advancing it; false when there is none. */
static bool parse_num(const char **p, const char *end, size_t *ret)
{
	size_t v = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9' && v < SIZE_MAX / 10 - 10)
		v = v * 10 + (size_t)(*s++ - '0');
	*p = s;
	*ret = v;
	return true;
}

/* "@@ -l[,s] +l[,s] @@": start a hunk. */
static bool parse_hunk(struct diffpos *d, const char *p, const char *end)
{
	size_t ol, os = 1, nl, ns = 1;

	if (end - p < 4 || memcmp(p, "@@ -", 4))
		return false;
	p += 4;
	if (!parse_num(&p, end, &ol))
		return false;
	if (p < end && *p == ',' && (p++, !parse_num(&p, end, &os)))
		return false;
	if (end - p < 2 || memcmp(p, " +", 2))
		return false;
	p += 2;
	if (!parse_num(&p, end, &nl))
		return false;
	if (p < end && *p == ',' && (p++, !parse_num(&p, end, &ns)))
		return false;
	d->old_line = ol;
	d->new_line = nl;
	d->old_left = os;
	d->new_left = ns;
	return true;
}

/* Classify the line [@p, @end) and move the diff position past it. */
static void diff_line(struct diffpos *d, const char *p, const char *end)
{
	size_t len = (size_t)(end - p);

	d->side = 0;
	d->file_line = 0;
	if (d->old_left || d->new_left) {
		char c = len ? *p : ' '; /* an empty line is context whose space was stripped */

		if (c == ' ' && d->old_left && d->new_left) {
			d->side = ' ';
			d->file_line = d->new_line++;
			d->old_line++;
			d->old_left--;
			d->new_left--;
			return;
		}
		if (c == '+' && d->new_left) {
			d->side = '+';
			d->file_line = d->new_line++;
			d->new_left--;
			return;
		}
		if (c == '-' && d->old_left) {
			d->side = '-';
			d->file_line = d->old_line++;
			d->old_left--;
			return;
		}
		if (c == '\\')
			return;		       /* "\ No newline at end of file" */
		d->old_left = d->new_left = 0; /* not a hunk line after all */
	}
	if (len >= 11 && !memcmp(p, "diff --git ", 11)) {
		free(d->old_path);
		free(d->file);
		d->old_path = NULL;
		d->file = NULL;
	} else if (len >= 4 && !memcmp(p, "--- ", 4)) {
		free(d->old_path);
		d->old_path = diff_path(p + 4, len - 4);
	} else if (len >= 4 && !memcmp(p, "+++ ", 4)) {
		free(d->file);
		d->file = diff_path(p + 4, len - 4);
		if (!d->file && d->old_path)
			d->file = nsh_xstrdup(d->old_path); /* a deleted file */
	} else if (len >= 4 && !memcmp(p, "@@ -", 4)) {
		parse_hunk(d, p, end);
	}
}

int nsh_redact_scan(const struct nsh_redactor *r, const char *text, size_t len,
		    struct nsh_redact_hits *ret, struct nsh_err *err)
{
	struct nsh_redact_stream s;
	struct founds f = {0};
	struct diffpos d = {0};
	const char *p = text, *end = text + len;
	size_t line = 1, k = 0;

	(void)err;
	stream_init(&s, r);
	s.hit = record_hit;
	s.hit_ctx = &f;
	feed(&s, (const unsigned char *)text, len, NULL);
	finish(&s, NULL);
	stream_release(&s);

	/* Walk the lines once, placing each occurrence on the line where it starts. */
	while (k < f.nr) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		size_t first = ret->nr;

		diff_line(&d, p, eol);
		for (; k < f.nr && text + f.v[k].start <= eol; k++) {
			const char *name = r->names[f.v[k].secret];
			struct nsh_redact_hit *h;
			bool dup = false;

			for (size_t j = first; j < ret->nr && !dup; j++)
				dup = !strcmp(ret->v[j].name, name);
			if (dup)
				continue;
			NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
			h = &ret->v[ret->nr++];
			h->name = nsh_xstrdup(name);
			h->line = line;
			h->side = d.side;
			h->file_line = d.file_line;
			h->file = d.side && d.file ? nsh_xstrdup(d.file) : NULL;
		}
		if (!nl)
			break;
		p = nl + 1;
		line++;
	}
	free(d.old_path);
	free(d.file);
	free(f.v);
	return 0;
}

void nsh_redact_hits_release(struct nsh_redact_hits *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nr; i++) {
		free(h->v[i].name);
		free(h->v[i].file);
	}
	free(h->v);
	memset(h, 0, sizeof(*h));
}
