/*
 * Unified diffs as `git diff` writes them, read into files and lines with
 * their line numbers on both sides. Hunk bodies are read by the counts of
 * their "@@" header, so a removed line that starts with "-- " is never
 * taken for a file header.
 */
#include "verify/verify_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

#define PATH_MAX_BYTES 4096

void nsh_verify_diff_release(struct nsh_verify_diff *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nr; i++) {
		free(d->file[i].old_path);
		free(d->file[i].new_path);
		free(d->file[i].line);
	}
	free(d->file);
	nsh_buf_release(&d->text);
	memset(d, 0, sizeof(*d));
}

const char *nsh_verify_dfile_path(const struct nsh_verify_dfile *f)
{
	if (f->new_path)
		return f->new_path;
	return f->old_path ? f->old_path : "";
}

/*
 * A path field of a header: C-quoted ("a/x\tb") or plain up to the end
 * (or a tab, which git adds before a timestamp in plain diffs); without
 * the "a/" or "b/" prefix. NULL for /dev/null.
 */
static char *header_path(const char *p, size_t n)
{
	struct nsh_buf b = NSH_BUF_INIT;

	nsh_buf_init(&b, PATH_MAX_BYTES);
	if (n && p[0] == '"') {
		for (size_t i = 1; i < n && p[i] != '"'; i++) {
			char c = p[i];

			if (c == '\\' && i + 1 < n) {
				c = p[++i];
				if (c >= '0' && c <= '7') {
					int v = 0, k = 0;

					while (k < 3 && i < n && p[i] >= '0' && p[i] <= '7') {
						v = v * 8 + (p[i] - '0');
						i++;
						k++;
					}
					i--;
					c = (char)v;
				} else if (c == 'n') {
					c = '\n';
				} else if (c == 't') {
					c = '\t';
				}
			}
			if (nsh_buf_addch(&b, c) < 0)
				break;
		}
	} else {
		const char *tab = memchr(p, '\t', n);

		if (tab)
			n = (size_t)(tab - p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\r'))
			n--;
		nsh_buf_add(&b, p, n > PATH_MAX_BYTES ? PATH_MAX_BYTES : n);
	}
	if (!strcmp(b.buf, "/dev/null")) {
		nsh_buf_release(&b);
		return NULL;
	}
	if (b.len > 2 && (b.buf[0] == 'a' || b.buf[0] == 'b') && b.buf[1] == '/') {
		char *s = nsh_xstrdup(b.buf + 2);

		nsh_buf_release(&b);
		return s;
	}
	return nsh_buf_detach(&b, NULL);
}

/* "diff --git a/X b/X": the path when both halves agree (the common case). */
static void git_header(struct nsh_verify_dfile *f, const char *p, size_t n)
{
	size_t half;

	if (n && p[0] == '"') {
		const char *q = p + 1;

		while (q < p + n && *q != '"')
			q += *q == '\\' ? 2 : 1;
		if (q >= p + n)
			return;
		f->old_path = header_path(p, (size_t)(q + 1 - p));
		q += 2;
		if (q < p + n)
			f->new_path = header_path(q, (size_t)(p + n - q));
		return;
	}
	if (n < 7 || (n - 1) % 2)
		goto split;
	half = (n - 1) / 2;
	if (p[half] == ' ' && !memcmp(p + 2, p + half + 3, half - 2)) {
		f->old_path = header_path(p, half);
		f->new_path = header_path(p + half + 1, half);
		return;
	}
split:
	for (size_t i = n; i-- > 3;) {
		if (p[i - 3] == ' ' && p[i - 2] == 'b' && p[i - 1] == '/') {
			f->old_path = header_path(p, i - 3);
			f->new_path = header_path(p + i - 2, n - (i - 2));
			return;
		}
	}
}

static struct nsh_verify_dfile *new_file(struct nsh_verify_diff *d)
{
	struct nsh_verify_dfile *f;

	NSH_ALLOC_GROW(d->file, d->nr + 1, d->alloc);
	f = &d->file[d->nr++];
	memset(f, 0, sizeof(*f));
	return f;
}

static bool starts(const char *p, size_t n, const char *s)
{
	size_t m = strlen(s);

	return n >= m && !memcmp(p, s, m);
}

/* "@@ -a,b +c,d @@": false when malformed. */
static bool hunk_header(const char *p, size_t n, long v[4])
{
	size_t i = 3;

	v[1] = v[3] = 1;
	for (int k = 0; k < 4; k += 2) {
		if (i >= n || p[i] != (k ? '+' : '-'))
			return false;
		i++;
		if (i >= n || p[i] < '0' || p[i] > '9')
			return false;
		v[k] = 0;
		while (i < n && p[i] >= '0' && p[i] <= '9' && v[k] < 100000000)
			v[k] = v[k] * 10 + (p[i++] - '0');
		if (i < n && p[i] == ',') {
			i++;
			v[k + 1] = 0;
			while (i < n && p[i] >= '0' && p[i] <= '9' && v[k + 1] < 100000000)
				v[k + 1] = v[k + 1] * 10 + (p[i++] - '0');
		}
		while (i < n && p[i] == ' ')
			i++;
	}
	return true;
}

void nsh_verify_diff_parse(struct nsh_buf *text, struct nsh_verify_diff *ret)
{
	struct nsh_verify_dfile *f = NULL;
	long old_left = 0, new_left = 0, old_no = 0, new_no = 0;
	uint32_t hunks = 0;
	bool header_done = false; /* "---"/"+++" read for the current file */
	const char *s;
	size_t len, i = 0;

	ret->text = *text;
	nsh_buf_init(text, ret->text.max);
	s = ret->text.buf;
	len = ret->text.len;
	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (s + i)) : len - i;
		const char *p = s + i;

		i += n + (nl ? 1 : 0);
		if (n && p[n - 1] == '\r')
			n--;
		if (f && (old_left > 0 || new_left > 0)) {
			struct nsh_verify_dline *l;
			char side = n ? p[0] : ' ';

			if (side == '\\')
				continue; /* "\ No newline at end of file" */
			if (side != ' ' && side != '+' && side != '-') {
				old_left = new_left = 0; /* a hunk cut short */
				goto header;
			}
			if ((side == '-' && old_left <= 0) || (side == '+' && new_left <= 0) ||
			    (side == ' ' && (old_left <= 0 || new_left <= 0))) {
				old_left = new_left = 0;
				goto header;
			}
			NSH_ALLOC_GROW(f->line, f->nr + 1, f->alloc);
			l = &f->line[f->nr++];
			l->side = side;
			l->hunk = hunks - 1;
			l->text = n ? p + 1 : p;
			l->len = n ? n - 1 : 0;
			l->old_line = side != '+' ? (int)old_no++ : 0;
			l->new_line = side != '-' ? (int)new_no++ : 0;
			if (side != '+')
				old_left--;
			if (side != '-')
				new_left--;
			if (side == '+')
				ret->added++;
			else if (side == '-')
				ret->removed++;
			continue;
		}
	header:
		if (starts(p, n, "diff --git ")) {
			f = new_file(ret);
			hunks = 0;
			header_done = false;
			git_header(f, p + 11, n - 11);
		} else if (starts(p, n, "--- ")) {
			if (!f || header_done || f->nr) {
				f = new_file(ret);
				hunks = 0;
			}
			free(f->old_path);
			f->old_path = header_path(p + 4, n - 4);
			if (!f->old_path)
				f->status = NSH_VERIFY_FILE_ADDED;
		} else if (starts(p, n, "+++ ") && f && !header_done) {
			free(f->new_path);
			f->new_path = header_path(p + 4, n - 4);
			if (!f->new_path)
				f->status = NSH_VERIFY_FILE_DELETED;
			header_done = true;
		} else if (f && starts(p, n, "new file mode")) {
			f->status = NSH_VERIFY_FILE_ADDED;
		} else if (f && starts(p, n, "deleted file mode")) {
			f->status = NSH_VERIFY_FILE_DELETED;
		} else if (f && starts(p, n, "rename from ")) {
			free(f->old_path);
			f->old_path = header_path(p + 12, n - 12);
			f->status = NSH_VERIFY_FILE_RENAMED;
		} else if (f && starts(p, n, "rename to ")) {
			free(f->new_path);
			f->new_path = header_path(p + 10, n - 10);
			f->status = NSH_VERIFY_FILE_RENAMED;
		} else if (f && starts(p, n, "Binary files ")) {
			f->binary = true;
		} else if (f && starts(p, n, "@@ -")) {
			long v[4];

			if (!hunk_header(p, n, v))
				continue;
			old_no = v[0] ? v[0] : 1;
			old_left = v[1];
			new_no = v[2] ? v[2] : 1;
			new_left = v[3];
			if (!v[1])
				old_no = v[0] + 1;
			if (!v[3])
				new_no = v[2] + 1;
			hunks++;
			header_done = true;
		}
	}
	for (size_t k = 0; k < ret->nr; k++) {
		struct nsh_verify_dfile *x = &ret->file[k];

		if (x->status == NSH_VERIFY_FILE_ADDED) {
			free(x->old_path);
			x->old_path = NULL;
		} else if (x->status == NSH_VERIFY_FILE_DELETED) {
			free(x->new_path);
			x->new_path = NULL;
		}
		if (!x->old_path && !x->new_path)
			x->new_path = nsh_xstrdup("");
	}
}
