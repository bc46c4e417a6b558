/*
 * Coverage figures from the files the tools write: istanbul's
 * coverage-summary.json (c8, nyc, jest), lcov.info (node --test's lcov
 * reporter, c8, nyc), coverage.py's JSON report and Go cover profiles.
 * One figure per run: covered lines (statements for Go and coverage.py)
 * over measured ones. For a test run the caller starts itself, a snapshot
 * of those files before it tells the files that run wrote from stale ones.
 */
#include "verify/verify_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/below.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

#define GO_BLOCKS_MAX 10000000

const char *const nsh_vrf_cov_candidates[] = {
	"coverage/coverage-summary.json",
	"coverage/lcov.info",
	"lcov.info",
	"coverage.json",
	"coverage.out",
	"cover.out",
	NULL,
};

static const char *const cov_names[] = {
	[NSH_VERIFY_COV_NONE] = "none", [NSH_VERIFY_COV_ISTANBUL] = "istanbul",
	[NSH_VERIFY_COV_LCOV] = "lcov", [NSH_VERIFY_COV_PY_JSON] = "coverage.py",
	[NSH_VERIFY_COV_GO] = "go",
};

const char *nsh_verify_cov_format_name(enum nsh_verify_cov_format f)
{
	return (unsigned)f < sizeof(cov_names) / sizeof(cov_names[0]) ? cov_names[f] : "?";
}

void nsh_verify_coverage_release(struct nsh_verify_coverage *c)
{
	if (!c)
		return;
	free(c->source);
	memset(c, 0, sizeof(*c));
}

enum nsh_verify_cov_format nsh_verify_cov_format_of(const char *path)
{
	const char *base = nsh_vrf_basename(path);
	size_t n = strlen(base);

	if (strstr(base, "coverage-summary") || strstr(base, "coverage-final"))
		return NSH_VERIFY_COV_ISTANBUL;
	if (strstr(base, "lcov") || (n > 5 && !strcmp(base + n - 5, ".info")))
		return NSH_VERIFY_COV_LCOV;
	if (n > 5 && !strcmp(base + n - 5, ".json"))
		return NSH_VERIFY_COV_PY_JSON;
	if ((n > 4 && !strcmp(base + n - 4, ".out")) || strstr(base, "coverprofile") ||
	    (n > 4 && !strcmp(base + n - 4, ".cov")))
		return NSH_VERIFY_COV_GO;
	return NSH_VERIFY_COV_NONE;
}

static void set(struct nsh_verify_coverage *c, int64_t covered, int64_t total)
{
	c->present = true;
	c->covered = covered;
	c->total = total;
	c->percent = total > 0 ? 100.0 * (double)covered / (double)total : 100.0;
}

static int istanbul(const char *text, size_t len, struct nsh_verify_coverage *ret,
		    struct nsh_err *err)
{
	json_t *doc = NULL, *lines;
	int rc;

	if ((rc = nsh_json_parse_limits(text, len, NSH_VERIFY_REPORT_MAX, 64, &doc, err)))
		return rc;
	lines = json_object_get(json_object_get(doc, "total"), "lines");
	if (!json_is_number(json_object_get(lines, "total")) ||
	    !json_is_number(json_object_get(lines, "covered"))) {
		json_decref(doc);
		return nsh_err_set(err, NSH_EINVAL, "no 'total.lines' in the coverage summary");
	}
	set(ret, (int64_t)json_number_value(json_object_get(lines, "covered")),
	    (int64_t)json_number_value(json_object_get(lines, "total")));
	json_decref(doc);
	return 0;
}

static int64_t num(const char *p, const char *e)
{
	int64_t v = 0;

	while (p < e && *p >= '0' && *p <= '9' && v < ((int64_t)1 << 50))
		v = v * 10 + (*p++ - '0');
	return v;
}

static int lcov(const char *text, size_t len, struct nsh_verify_coverage *ret, struct nsh_err *err)
{
	int64_t lf = 0, lh = 0, da = 0, da_hit = 0;
	bool any = false, summary = false;

	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		const char *p = text + i, *e = nl ? nl : text + len;

		i = (size_t)(e - text) + 1;
		if (e - p > 3 && !memcmp(p, "LF:", 3)) {
			lf += num(p + 3, e);
			summary = any = true;
		} else if (e - p > 3 && !memcmp(p, "LH:", 3)) {
			lh += num(p + 3, e);
		} else if (e - p > 3 && !memcmp(p, "DA:", 3)) {
			const char *c = memchr(p, ',', (size_t)(e - p));

			da++;
			if (c && num(c + 1, e) > 0)
				da_hit++;
			any = true;
		}
	}
	if (!any)
		return nsh_err_set(err, NSH_EINVAL, "no LF or DA records in the lcov file");
	if (summary)
		set(ret, lh > lf ? lf : lh, lf);
	else
		set(ret, da_hit, da);
	return 0;
}

static int py_json(const char *text, size_t len, struct nsh_verify_coverage *ret,
		   struct nsh_err *err)
{
	json_t *doc = NULL, *t;
	int rc;

	if ((rc = nsh_json_parse_limits(text, len, NSH_VERIFY_REPORT_MAX, 64, &doc, err)))
		return rc;
	t = json_object_get(doc, "totals");
	if (!json_is_integer(json_object_get(t, "covered_lines")) ||
	    !json_is_integer(json_object_get(t, "num_statements"))) {
		json_decref(doc);
		return nsh_err_set(err, NSH_EINVAL, "no 'totals' in the coverage.py report");
	}
	set(ret, json_integer_value(json_object_get(t, "covered_lines")),
	    json_integer_value(json_object_get(t, "num_statements")));
	json_decref(doc);
	return 0;
}

struct block {
	const char *key; /* "file:a.b,c.d" in the text */
	size_t key_len;
	int64_t stmts;
	int64_t count;
};

static int cmp_block(const void *a, const void *b)
{
	const struct block *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);

	return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* "mode: set", then "file.go:12.34,15.2 3 1": a block, its statements, its count. */
static int go_profile(const char *text, size_t len, struct nsh_verify_coverage *ret,
		      struct nsh_err *err)
{
	struct block *v = NULL;
	size_t nr = 0, alloc = 0;
	int64_t covered = 0, total = 0;
	bool mode = false;

	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		const char *p = text + i, *e = nl ? nl : text + len, *s1, *s2;

		i = (size_t)(e - text) + 1;
		if (e - p > 5 && !memcmp(p, "mode:", 5)) {
			mode = true;
			continue;
		}
		s2 = e;
		while (s2 > p && s2[-1] != ' ')
			s2--;
		s1 = s2 > p ? s2 - 1 : p;
		while (s1 > p && s1[-1] != ' ')
			s1--;
		if (s1 <= p || s2 <= s1 || !memchr(p, ':', (size_t)(s1 - p)) || nr >= GO_BLOCKS_MAX)
			continue;
		NSH_ALLOC_GROW(v, nr + 1, alloc);
		v[nr].key = p;
		v[nr].key_len = (size_t)(s1 - 1 - p);
		v[nr].stmts = num(s1, s2 - 1);
		v[nr].count = num(s2, e);
		nr++;
	}
	if (!mode) {
		free(v);
		return nsh_err_set(err, NSH_EINVAL, "not a go cover profile (no 'mode:' line)");
	}
	if (nr > 1)
		qsort(v, nr, sizeof(*v), cmp_block);
	for (size_t k = 0; k < nr; k++) {
		int64_t c = v[k].count;

		/* the same block from several packages' runs: covered if any covered it */
		while (k + 1 < nr && !cmp_block(&v[k], &v[k + 1])) {
			k++;
			if (v[k].count > c)
				c = v[k].count;
		}
		total += v[k].stmts;
		if (c > 0)
			covered += v[k].stmts;
	}
	free(v);
	set(ret, covered, total);
	return 0;
}

int nsh_verify_coverage_parse(enum nsh_verify_cov_format fmt, const char *text, size_t len,
			      struct nsh_verify_coverage *ret, struct nsh_err *err)
{
	struct nsh_verify_coverage c = {0};
	int rc;

	switch (fmt) {
	case NSH_VERIFY_COV_ISTANBUL:
		rc = istanbul(text, len, &c, err);
		break;
	case NSH_VERIFY_COV_LCOV:
		rc = lcov(text, len, &c, err);
		break;
	case NSH_VERIFY_COV_PY_JSON:
		rc = py_json(text, len, &c, err);
		break;
	case NSH_VERIFY_COV_GO:
		rc = go_profile(text, len, &c, err);
		break;
	case NSH_VERIFY_COV_NONE:
	default:
		rc = nsh_err_set(err, NSH_EINVAL, "unknown coverage format");
		break;
	}
	if (rc)
		return rc;
	nsh_verify_coverage_release(ret);
	*ret = c;
	ret->format = fmt;
	return 0;
}

/* ---- coverage of a run the caller starts ---- */

void nsh_verify_cov_snap_release(struct nsh_verify_cov_snap *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nr; i++)
		free(s->v[i].path);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void seen_set(struct nsh_verify_cov_seen *s, const struct stat *st)
{
	s->present = true;
	s->dev = (uint64_t)st->st_dev;
	s->ino = (uint64_t)st->st_ino;
	s->size = (int64_t)st->st_size;
	s->mtime_ns = ns_of(&st->st_mtim);
	s->ctime_ns = ns_of(&st->st_ctim);
}

void nsh_verify_cov_snap_take(const char *dir, const char *first, struct nsh_verify_cov_snap *ret)
{
	for (int k = -1; k < 0 || nsh_vrf_cov_candidates[k]; k++) {
		const char *rel = k < 0 ? first : nsh_vrf_cov_candidates[k], *last;
		struct nsh_verify_cov_seen *s;
		struct stat st;
		int pfd;

		if (!rel || !*rel)
			continue;
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		s = &ret->v[ret->nr++];
		memset(s, 0, sizeof(*s));
		s->path = nsh_xstrdup(rel);
		pfd = nsh_below_parent(dir, rel, &last);
		if (pfd < 0)
			continue;
		if (!fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode))
			seen_set(s, &st);
		close(pfd);
	}
}

/* Whether the file of @st is the one @was saw, unchanged. */
static bool unchanged(const struct nsh_verify_cov_seen *was, const struct stat *st)
{
	struct nsh_verify_cov_seen now = {0};

	if (!was->present)
		return false;
	seen_set(&now, st);
	return now.dev == was->dev && now.ino == was->ino && now.size == was->size &&
	       now.mtime_ns == was->mtime_ns && now.ctime_ns == was->ctime_ns;
}

/* Read @was's file into @out when the run wrote it (see nsh_verify_cov_read_new()). */
static bool read_written(const char *dir, const struct nsh_verify_cov_seen *was,
			 struct nsh_buf *out)
{
	const char *last;
	struct stat st;
	int pfd = nsh_below_parent(dir, was->path, &last), fd = -1;
	bool ok = false;

	nsh_buf_reset(out);
	if (pfd < 0)
		goto out;
	fd = nsh_below_regular(pfd, last, &st);
	ok = fd >= 0 && !unchanged(was, &st) && (uint64_t)st.st_size <= NSH_VERIFY_REPORT_MAX &&
	     nsh_below_read_fd(fd, NSH_VERIFY_REPORT_MAX, out);
out:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	return ok;
}

bool nsh_verify_cov_read_new(const char *dir, const struct nsh_verify_cov_snap *snap,
			     const char *tap, size_t tap_len, struct nsh_verify_coverage *ret)
{
	struct nsh_buf b = NSH_BUF_INIT;
	double pct;
	bool found = false;

	nsh_verify_coverage_release(ret);
	for (size_t i = 0; i < snap->nr && !found; i++) {
		enum nsh_verify_cov_format fmt = nsh_verify_cov_format_of(snap->v[i].path);

		if (fmt == NSH_VERIFY_COV_NONE || !read_written(dir, &snap->v[i], &b) ||
		    nsh_verify_coverage_parse(fmt, b.buf, b.len, ret, NULL))
			continue;
		ret->source = nsh_xstrdup(snap->v[i].path);
		found = true;
	}
	nsh_buf_release(&b);
	if (!found && tap && nsh_vrf_tap_coverage(tap, tap_len, &pct)) {
		ret->present = true;
		ret->percent = pct;
		ret->format = NSH_VERIFY_COV_NONE;
		ret->source = nsh_xstrdup("node --test coverage report");
		found = true;
	}
	return found;
}
