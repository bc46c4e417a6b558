/*
 * The agents' tools. Each has a JSON schema the model sees and a function
 * that turns arguments into text for the model. Every path goes through
 * wspath.c (confined to the workspace); commands go through the host (the
 * job's sandbox); outputs are capped and redacted. A failing call is a
 * message to the model ("error: ..."), never a failure of the run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_tools.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/regex.h"
#include "core/time.h"
#include "core/vec.h"
#include "forge/git.h"
#include "secrets/secrets.h"

#include "core/banned.h"

#define ARGS_MAX	 (TOOL_FILE_MAX + (64u << 10)) /* bytes of one call's arguments */
#define LIST_MAX	 400			       /* entries list_files shows */
#define LINE_SHOW_MAX	 2000			       /* bytes of one line read_file shows */
#define SEARCH_FILE_MAX	 (1u << 20)		       /* larger files are not searched */
#define SEARCH_FILES_MAX 20000			       /* files one search looks at */
#define SEARCH_LINE_SHOW 200			       /* bytes of a matching line shown */
#define RUN_OUT_MAX	 (256u << 10)		       /* bytes captured per stream */
#define DIFF_MAX	 (48u << 10)		       /* bytes of git_diff shown */
#define CHECK_TIMEOUT_MS 30000			       /* a syntax check */
#define CONSULT_STEPS	 12			       /* turns of a research consultation */

#define R(x) (1u << NSH_AGENT_##x)

/* ---- output helpers ---- */

static void out_err(struct tool_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_err(struct tool_out *o, const char *fmt, ...)
{
	va_list ap;

	nsh_buf_reset(&o->text);
	nsh_buf_adds(&o->text, "error: ");
	va_start(ap, fmt);
	nsh_buf_vaddf(&o->text, fmt, ap);
	va_end(ap);
	o->is_error = true;
}

static void out_nsh_err(struct tool_out *o, const struct nsh_err *e)
{
	out_err(o, "%s", e->msg);
}

/*
 * Append @len bytes of program or file text to @b, keeping the head and the
 * tail when it is longer than @max, with a note of what was left out.
 */
static void add_capped(struct nsh_buf *b, const char *s, size_t len, size_t max)
{
	size_t head, tail;

	if (len <= max) {
		nsh_buf_add(b, s, len);
		return;
	}
	head = max / 3;
	tail = max - head;
	nsh_buf_add(b, s, head);
	nsh_buf_addf(b, "\n[... %zu bytes left out ...]\n", len - head - tail);
	nsh_buf_add(b, s + len - tail, tail);
}

/* ---- arguments ---- */

static int arg_str(const json_t *a, const char *key, bool required, const char **ret,
		   struct tool_out *o)
{
	json_t *v = json_object_get(a, key);

	if (!v || json_is_null(v)) {
		if (required) {
			out_err(o, "missing argument '%s'", key);
			return -1;
		}
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v)) {
		out_err(o, "argument '%s' must be a string", key);
		return -1;
	}
	*ret = json_string_value(v);
	return 0;
}

static int arg_int(const json_t *a, const char *key, long def, long min, long max, long *ret,
		   struct tool_out *o)
{
	json_t *v = json_object_get(a, key);

	if (!v || json_is_null(v)) {
		*ret = def;
		return 0;
	}
	if (json_is_real(v) && json_real_value(v) == (double)(long)json_real_value(v)) {
		*ret = (long)json_real_value(v);
	} else if (json_is_string(v) && *json_string_value(v)) {
		char *end;

		*ret = strtol(json_string_value(v), &end, 10);
		if (*end) {
			out_err(o, "argument '%s' must be an integer", key);
			return -1;
		}
	} else if (!json_is_integer(v)) {
		out_err(o, "argument '%s' must be an integer", key);
		return -1;
	} else {
		*ret = (long)json_integer_value(v);
	}
	if (*ret < min)
		*ret = min;
	if (*ret > max)
		*ret = max;
	return 0;
}

/* The workspace-relative form of argument @key (default @def) into @rel. */
static int arg_path(const json_t *a, const char *key, const char *def, struct nsh_buf *rel,
		    struct tool_out *o)
{
	struct nsh_err err = NSH_ERR_INIT;
	const char *p;

	if (arg_str(a, key, def == NULL, &p, o))
		return -1;
	if (ws_rel(p ? p : def, rel, &err)) {
		out_nsh_err(o, &err);
		return -1;
	}
	return 0;
}

/* ---- list_files ---- */

static const char *const skip_dirs[] = {".git", "node_modules", ".venv",  "__pycache__",
					"dist", "build",	"target", "vendor"};

static bool skipped_dir(const char *name)
{
	for (size_t i = 0; i < sizeof(skip_dirs) / sizeof(skip_dirs[0]); i++)
		if (!strcmp(name, skip_dirs[i]))
			return true;
	return false;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entry names of the directory @fd (consumed), "." and ".." left out. */
static int read_names(int fd, struct nsh_strvec *ret)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;

	if (!d) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			nsh_strvec_push(ret, e->d_name);
	closedir(d);
	if (ret->nr)
		qsort(ret->v, ret->nr, sizeof(*ret->v), name_cmp);
	return 0;
}

struct walk {
	struct nsh_buf *out; /* list_files: the listing */
	int shown;	     /* entries listed */
	int more;	     /* entries past LIST_MAX */
};

static void list_dir(int dirfd, const char *prefix, int depth, int max_depth, struct walk *w)
{
	struct nsh_strvec names = NSH_STRVEC_INIT;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || read_names(fd, &names))
		return;
	for (size_t i = 0; i < names.nr; i++) {
		const char *n = names.v[i];
		struct stat st;

		if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (w->shown >= LIST_MAX) {
			w->more++;
			continue;
		}
		w->shown++;
		nsh_buf_addf(w->out, "%*s", depth * 2, "");
		if (S_ISDIR(st.st_mode)) {
			int sub;

			if (skipped_dir(n)) {
				nsh_buf_addf(w->out, "%s/ (not listed)\n", n);
				continue;
			}
			nsh_buf_addf(w->out, "%s/\n", n);
			if (depth + 1 >= max_depth)
				continue;
			sub = openat(dirfd, n, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				char *p = nsh_xasprintf("%s%s/", prefix, n);

				list_dir(sub, p, depth + 1, max_depth, w);
				free(p);
				close(sub);
			}
		} else if (S_ISLNK(st.st_mode)) {
			nsh_buf_addf(w->out, "%s@ (symbolic link)\n", n);
		} else {
			nsh_buf_addf(w->out, "%s (%lld bytes)\n", n, (long long)st.st_size);
		}
	}
	nsh_strvec_release(&names);
}

static void tool_list_files(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	struct nsh_buf rel = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	struct walk w = {&o->text, 0, 0};
	long depth;
	int fd;

	if (arg_path(a, "path", ".", &rel, o) || arg_int(a, "depth", 2, 1, 5, &depth, o))
		goto out;
	if (ws_open(t->root, rel.buf, O_PATH | O_DIRECTORY, 0, &fd, &err)) {
		out_nsh_err(o, &err);
		goto out;
	}
	nsh_buf_addf(&o->text, "%s/\n", rel.buf);
	list_dir(fd, "", 1, (int)depth + 1, &w);
	close(fd);
	if (!w.shown)
		nsh_buf_adds(&o->text, "  (empty directory)\n");
	if (w.more)
		nsh_buf_addf(&o->text, "(%d more entries not shown; list a subdirectory)\n",
			     w.more);
out:
	nsh_buf_release(&rel);
}

/* ---- read_file ---- */

static bool is_binary(const char *s, size_t len)
{
	return memchr(s, '\0', len < 8192 ? len : 8192) != NULL;
}

static void tool_read_file(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	struct nsh_buf rel = NSH_BUF_INIT, data = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	long start, max, line = 1, total = 0, shown = 0;
	const char *p, *end;

	if (arg_path(a, "path", NULL, &rel, o) ||
	    arg_int(a, "start_line", 1, 1, 100000000, &start, o) ||
	    arg_int(a, "max_lines", 200, 1, 2000, &max, o))
		goto out;
	if (ws_read(t->root, rel.buf, TOOL_FILE_MAX, &data, &err)) {
		out_nsh_err(o, &err);
		goto out;
	}
	if (is_binary(data.buf, data.len)) {
		out_err(o, "'%s' is a binary file (%zu bytes)", rel.buf, data.len);
		goto out;
	}
	for (p = data.buf; p < data.buf + data.len; p++)
		if (*p == '\n')
			total++;
	if (data.len && data.buf[data.len - 1] != '\n')
		total++;
	if (!data.len) {
		nsh_buf_addf(&o->text, "%s is empty\n", rel.buf);
		goto out;
	}
	if (start > total) {
		out_err(o, "start_line %ld is past the end of '%s' (%ld lines)", start, rel.buf,
			total);
		goto out;
	}
	nsh_buf_addf(&o->text, "%s (lines %ld-%ld of %ld)\n", rel.buf, start,
		     start + max - 1 < total ? start + max - 1 : total, total);
	for (p = data.buf; p < data.buf + data.len && shown < max; line++) {
		size_t n;

		end = memchr(p, '\n', (size_t)(data.buf + data.len - p));
		n = end ? (size_t)(end - p) : (size_t)(data.buf + data.len - p);
		if (line >= start) {
			nsh_buf_addf(&o->text, "%6ld  ", line);
			if (n > LINE_SHOW_MAX) {
				nsh_buf_add(&o->text, p, LINE_SHOW_MAX);
				nsh_buf_addf(&o->text, " [... line cut at %d bytes]",
					     LINE_SHOW_MAX);
			} else {
				nsh_buf_add(&o->text, p, n);
			}
			nsh_buf_addch(&o->text, '\n');
			shown++;
		}
		p += n + 1;
	}
	if (start + shown <= total)
		nsh_buf_addf(&o->text, "(%ld more lines; continue with start_line=%ld)\n",
			     total - (start + shown) + 1, start + shown);
out:
	nsh_buf_release(&rel);
	nsh_buf_release(&data);
}

/* ---- search ---- */

struct search {
	struct tool_ctx *t;
	regex_t re;
	const char *include; /* glob on the file name, or NULL */
	struct nsh_buf *out;
	long max;	/* matches to show */
	long matches;	/* matches found */
	long files;	/* files looked at */
	bool truncated; /* stopped early */
};

static void search_file(struct search *s, int dirfd, const char *name, const char *path)
{
	struct nsh_buf data = NSH_BUF_INIT;
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char *p, *end;
	long line = 1;

	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SEARCH_FILE_MAX)
		goto out;
	for (;;) {
		ssize_t n;

		if (nsh_buf_grow(&data, 65536))
			goto out;
		n = read(fd, data.buf + data.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		data.len += (size_t)n;
		data.buf[data.len] = '\0';
		if (data.len > SEARCH_FILE_MAX)
			goto out;
	}
	if (is_binary(data.buf, data.len))
		goto out;
	s->files++;
	for (p = data.buf; p < data.buf + data.len; line++) {
		end = memchr(p, '\n', (size_t)(data.buf + data.len - p));
		if (end)
			*end = '\0';
		if (!regexec(&s->re, p, 0, NULL, 0)) {
			s->matches++;
			if (s->matches <= s->max) {
				size_t n = strlen(p);

				nsh_buf_addf(s->out, "%s:%ld: %.*s%s\n", path, line,
					     (int)(n > SEARCH_LINE_SHOW ? SEARCH_LINE_SHOW : n), p,
					     n > SEARCH_LINE_SHOW ? " [...]" : "");
			}
		}
		if (!end)
			break;
		p = end + 1;
	}
out:
	close(fd);
	nsh_buf_release(&data);
}

static void search_dir(struct search *s, int dirfd, const char *prefix, int depth)
{
	struct nsh_strvec names = NSH_STRVEC_INIT;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (depth > 32 || fd < 0 || read_names(fd, &names))
		return;
	for (size_t i = 0; i < names.nr; i++) {
		const char *n = names.v[i];
		char *path = nsh_xasprintf("%s%s", prefix, n);
		struct stat st;

		if (s->files >= SEARCH_FILES_MAX) {
			s->truncated = true;
			free(path);
			break;
		}
		if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			free(path);
			continue;
		}
		if (S_ISDIR(st.st_mode) && !skipped_dir(n)) {
			int sub = openat(dirfd, n, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				char *p = nsh_xasprintf("%s/", path);

				search_dir(s, sub, p, depth + 1);
				free(p);
				close(sub);
			}
		} else if (S_ISREG(st.st_mode) && (!s->include || !fnmatch(s->include, n, 0))) {
			search_file(s, dirfd, n, path);
		}
		free(path);
	}
	nsh_strvec_release(&names);
}

static void tool_search(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	struct nsh_buf rel = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	struct search s;
	const char *pattern;
	struct stat st;
	int fd = -1;

	memset(&s, 0, sizeof(s));
	s.t = t;
	s.out = &o->text;
	if (arg_str(a, "pattern", true, &pattern, o) || arg_path(a, "path", ".", &rel, o) ||
	    arg_str(a, "include", false, &s.include, o) ||
	    arg_int(a, "max_results", 50, 1, 200, &s.max, o))
		goto out;
	if (nsh_regex_compile(&s.re, pattern, REG_NEWLINE | REG_NOSUB, &err)) {
		out_err(o, "invalid regular expression '%s': %s (POSIX extended syntax)", pattern,
			err.msg);
		goto out;
	}
	if (ws_open(t->root, rel.buf, O_PATH, 0, &fd, &err)) {
		out_nsh_err(o, &err);
		goto free_re;
	}
	if (fstat(fd, &st) < 0) {
		out_err(o, "cannot search '%s'", rel.buf);
		goto free_re;
	}
	if (S_ISDIR(st.st_mode)) {
		char *prefix =
			strcmp(rel.buf, ".") ? nsh_xasprintf("%s/", rel.buf) : nsh_xstrdup("");

		search_dir(&s, fd, prefix, 0);
		free(prefix);
	} else {
		char *dir = nsh_xstrdup(rel.buf), *slash = strrchr(dir, '/');
		const char *base = slash ? slash + 1 : dir;
		int dfd;

		if (slash)
			*slash = '\0';
		if (!ws_open(t->root, slash ? dir : ".", O_PATH | O_DIRECTORY, 0, &dfd, &err)) {
			search_file(&s, dfd, base, rel.buf);
			close(dfd);
		}
		free(dir);
	}
	if (!s.matches)
		nsh_buf_addf(&o->text, "no matches for '%s' (%ld files searched)\n", pattern,
			     s.files);
	else if (s.matches > s.max)
		nsh_buf_addf(&o->text, "(%ld matches in all; %ld shown: narrow the search)\n",
			     s.matches, s.max);
	if (s.truncated)
		nsh_buf_addf(&o->text, "(stopped after %d files)\n", SEARCH_FILES_MAX);
free_re:
	regfree(&s.re);
out:
	if (fd >= 0)
		close(fd);
	nsh_buf_release(&rel);
}

/* ---- syntax checks ---- */

static const char py_check[] =
	"import ast,sys\nsrc=open(sys.argv[1],'rb').read()\nast.parse(src,sys.argv[1])\n";

/*
 * Check @rel, now holding @data. 0: fine; 1: broken, with the checker's
 * words in @msg; -1: no checker for this kind of file (or it is missing).
 */
static int check_syntax(struct tool_ctx *t, const char *rel, const char *data, size_t len,
			struct nsh_buf *msg)
{
	const char *dot = strrchr(rel, '/') ? strrchr(strrchr(rel, '/'), '.') : strrchr(rel, '.');
	const char *argv[6] = {NULL};
	struct nsh_agent_exec x;
	struct nsh_err err = NSH_ERR_INIT;
	int rc = -1;

	if (!dot)
		return -1;
	if (!strcmp(dot, ".json")) {
		json_t *v = NULL;

		if (nsh_json_parse(data, len, &v, &err)) {
			nsh_buf_adds(msg, err.msg);
			return 1;
		}
		json_decref(v);
		return 0;
	}
	if (!strcmp(dot, ".js") || !strcmp(dot, ".mjs") || !strcmp(dot, ".cjs")) {
		argv[0] = "node";
		argv[1] = "--check";
		argv[2] = rel;
	} else if (!strcmp(dot, ".py")) {
		argv[0] = "python3";
		argv[1] = "-c";
		argv[2] = py_check;
		argv[3] = rel;
	} else if (!strcmp(dot, ".sh")) {
		argv[0] = "sh";
		argv[1] = "-n";
		argv[2] = rel;
	} else {
		return -1;
	}
	nsh_agent_exec_init(&x);
	if (t->run->host->exec(t->run->host->ctx, argv, NULL, CHECK_TIMEOUT_MS, 16384, &x, &err))
		goto out; /* no checker here */
	if (x.exit_code == 0) {
		rc = 0;
	} else if (x.exit_code == 127 || x.timed_out) {
		rc = -1;
	} else {
		rc = 1;
		add_capped(msg, x.err.buf, x.err.len, 2000);
		if (!x.err.len)
			add_capped(msg, x.out.buf, x.out.len, 2000);
	}
out:
	nsh_agent_exec_release(&x);
	return rc;
}

/*
 * Write @data to @rel, check it, and undo the write when the check fails
 * and the old content (@old, NULL for a new file) passed it. On success a
 * note about the check may be added to @o.
 */
static int write_checked(struct tool_ctx *t, const char *rel, const struct nsh_buf *old,
			 const char *data, size_t len, struct tool_out *o)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf msg = NSH_BUF_INIT, msg_old = NSH_BUF_INIT;
	int rc, before;

	if (ws_write(t->root, rel, data, len, &err)) {
		out_nsh_err(o, &err);
		return -1;
	}
	rc = check_syntax(t, rel, data, len, &msg);
	if (rc != 1)
		goto out;
	/* broken now: was it fine before? */
	if (!old) {
		ws_remove(t->root, rel, &err);
		out_err(o,
			"the new file '%s' does not pass its syntax check, so it was not "
			"written:\n%s",
			rel, msg.buf);
		rc = -1;
		goto out;
	}
	if (ws_write(t->root, rel, old->buf, old->len, &err)) {
		out_nsh_err(o, &err);
		rc = -1;
		goto out;
	}
	before = check_syntax(t, rel, old->buf, old->len, &msg_old);
	if (before == 1) {
		/* it was broken already: the edit may be a step towards a fix */
		if (ws_write(t->root, rel, data, len, &err)) {
			out_nsh_err(o, &err);
			rc = -1;
			goto out;
		}
		rc = 2;
		goto out;
	}
	out_err(o,
		"the edit would break '%s' (its syntax check fails), so it was not applied; "
		"the file is unchanged:\n%s",
		rel, msg.buf);
	rc = -1;
out:
	if (rc == 2) {
		nsh_buf_addf(&o->text,
			     "note: '%s' still fails its syntax check (it failed before this "
			     "change too):\n%s\n",
			     rel, msg.buf);
		rc = 0;
	} else if (rc >= 0) {
		rc = 0;
	}
	nsh_buf_release(&msg);
	nsh_buf_release(&msg_old);
	return rc;
}

static long count_lines(const char *s, size_t len)
{
	long n = 0;

	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n')
			n++;
	return n + (len && s[len - 1] != '\n');
}

/* ---- write_file, edit_file ---- */

static void tool_write_file(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	struct nsh_buf rel = NSH_BUF_INIT, old = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	const char *content;
	bool existed;
	size_t len;

	if (arg_path(a, "path", NULL, &rel, o) || arg_str(a, "content", true, &content, o))
		goto out;
	len = json_string_length(json_object_get(a, "content"));
	if (ws_in_git(rel.buf)) {
		out_err(o, "refusing to write inside .git ('%s')", rel.buf);
		goto out;
	}
	existed = !ws_read(t->root, rel.buf, TOOL_FILE_MAX, &old, &err);
	if (!existed && err.code != NSH_ENOTFOUND) {
		out_nsh_err(o, &err);
		goto out;
	}
	if (write_checked(t, rel.buf, existed ? &old : NULL, content, len, o))
		goto out;
	o->progress = !existed || old.len != len || memcmp(old.buf, content, len);
	nsh_buf_addf(&o->text, "%s '%s' (%ld lines, %zu bytes)%s\n",
		     existed ? "replaced" : "created", rel.buf, count_lines(content, len), len,
		     o->progress ? "" : "; the content was already the same");
out:
	nsh_buf_release(&rel);
	nsh_buf_release(&old);
}

/* The 1-based line at byte offset @off of @s. */
static long line_at(const char *s, size_t off)
{
	long n = 1;

	for (size_t i = 0; i < off; i++)
		if (s[i] == '\n')
			n++;
	return n;
}

/* A hint for text that was not found: where a line like its first one is. */
static void not_found_hint(const struct nsh_buf *data, const char *old, struct tool_out *o)
{
	const char *nl = strchr(old, '\n');
	char *first = nsh_xstrndup(old, nl ? (size_t)(nl - old) : strlen(old));
	char *p = first, *e;
	const char *hit;

	while (*p == ' ' || *p == '\t')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	if (strlen(p) >= 4 && (hit = strstr(data->buf, p)))
		nsh_buf_addf(&o->text,
			     "\nhint: a line containing its first line ('%s') is at line %ld; "
			     "the difference may be in white space or in the lines after it",
			     p, line_at(data->buf, (size_t)(hit - data->buf)));
	free(first);
}

static void tool_edit_file(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	struct nsh_buf rel = NSH_BUF_INIT, data = NSH_BUF_INIT, next = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	const char *old, *new, *hit = NULL, *p;
	size_t old_len, new_len;
	long count = 0, first, last;

	nsh_buf_init(&next, TOOL_FILE_MAX);
	if (arg_path(a, "path", NULL, &rel, o) || arg_str(a, "old_text", true, &old, o) ||
	    arg_str(a, "new_text", true, &new, o))
		goto out;
	old_len = json_string_length(json_object_get(a, "old_text"));
	new_len = json_string_length(json_object_get(a, "new_text"));
	if (!old_len) {
		out_err(o, "old_text is empty: give the exact text to replace (use write_file "
			   "for a new file)");
		goto out;
	}
	if (ws_in_git(rel.buf)) {
		out_err(o, "refusing to write inside .git ('%s')", rel.buf);
		goto out;
	}
	if (ws_read(t->root, rel.buf, TOOL_FILE_MAX, &data, &err)) {
		out_nsh_err(o, &err);
		goto out;
	}
	for (p = data.buf; (p = memmem(p, data.len - (size_t)(p - data.buf), old, old_len));
	     p += old_len) {
		if (!count++)
			hit = p;
	}
	if (!count) {
		out_err(o,
			"old_text was not found in '%s'; read the file again and copy the text "
			"exactly, white space included",
			rel.buf);
		not_found_hint(&data, old, o);
		goto out;
	}
	if (count > 1) {
		out_err(o,
			"old_text occurs %ld times in '%s' (first at line %ld); include more "
			"of the surrounding text so that it matches exactly once",
			count, rel.buf, line_at(data.buf, (size_t)(hit - data.buf)));
		goto out;
	}
	if (nsh_buf_add(&next, data.buf, (size_t)(hit - data.buf)) ||
	    nsh_buf_add(&next, new, new_len) ||
	    nsh_buf_add(&next, hit + old_len, data.len - (size_t)(hit - data.buf) - old_len)) {
		out_err(o, "the edited file would be larger than %u bytes", TOOL_FILE_MAX);
		goto out;
	}
	if (write_checked(t, rel.buf, &data, next.buf, next.len, o))
		goto out;
	o->progress = old_len != new_len || memcmp(old, new, old_len);
	first = line_at(data.buf, (size_t)(hit - data.buf));
	last = first + count_lines(new, new_len) - 1;
	if (last < first)
		last = first;
	nsh_buf_addf(&o->text, "edited '%s': lines %ld-%ld now read:\n", rel.buf, first, last);
	{
		long line = 1;

		for (p = next.buf; p < next.buf + next.len && line <= last + 2; line++) {
			const char *e = memchr(p, '\n', (size_t)(next.buf + next.len - p));
			size_t n = e ? (size_t)(e - p) : (size_t)(next.buf + next.len - p);

			if (line >= first - 2)
				nsh_buf_addf(&o->text, "%6ld  %.*s\n", line,
					     (int)(n > LINE_SHOW_MAX ? LINE_SHOW_MAX : n), p);
			p += n + 1;
		}
	}
out:
	nsh_buf_release(&rel);
	nsh_buf_release(&data);
	nsh_buf_release(&next);
}

/* ---- run ---- */

static void tool_run(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	const struct nsh_agent_host *h = t->run->host;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_agent_exec x;
	const char *cmd, *argv[4];
	long secs;

	nsh_agent_exec_init(&x);
	if (arg_str(a, "command", true, &cmd, o) ||
	    arg_int(a, "timeout_seconds", TOOL_RUN_TIMEOUT, 1, 1800, &secs, o))
		goto out;
	if (!*cmd) {
		out_err(o, "the command is empty");
		goto out;
	}
	/* the model's command line runs as it wrote it, inside the sandbox */
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = cmd;
	argv[3] = NULL;
	if (h->exec(h->ctx, argv, NULL, secs * 1000, RUN_OUT_MAX, &x, &err)) {
		out_nsh_err(o, &err);
		goto out;
	}
	if (x.timed_out)
		nsh_buf_addf(&o->text, "timed out after %ld s (killed)\n", secs);
	else if (x.exit_code < 0)
		nsh_buf_adds(&o->text, "killed by a signal\n");
	else
		nsh_buf_addf(&o->text, "exit code %d\n", x.exit_code);
	if (!x.out.len && !x.err.len) {
		nsh_buf_adds(&o->text, "(no output)\n");
	} else {
		size_t room = TOOL_OUTPUT_MAX - 512;
		size_t share_err = x.err.len < room / 3 ? x.err.len : room / 3;

		if (x.out.len) {
			nsh_buf_adds(&o->text, "--- stdout ---\n");
			add_capped(&o->text, x.out.buf, x.out.len, room - share_err);
			if (x.out.buf[x.out.len - 1] != '\n')
				nsh_buf_addch(&o->text, '\n');
		}
		if (x.err.len) {
			nsh_buf_adds(&o->text, "--- stderr ---\n");
			add_capped(&o->text, x.err.buf, x.err.len,
				   x.out.len ? (share_err ? share_err : 256) : room);
			if (x.err.buf[x.err.len - 1] != '\n')
				nsh_buf_addch(&o->text, '\n');
		}
		if (x.truncated)
			nsh_buf_addf(&o->text, "(output past %u bytes per stream was dropped)\n",
				     RUN_OUT_MAX);
	}
	o->is_error = x.exit_code != 0;
	o->progress = true; /* a command may change anything */
out:
	nsh_agent_exec_release(&x);
}

/* ---- apply_recipe, git_diff ---- */

static void tool_apply_recipe(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	const struct nsh_agent_host *h = t->run->host;
	struct nsh_err err = NSH_ERR_INIT;
	const char *name;
	char *text = NULL;
	json_t *dry = json_object_get(a, "dry_run");

	if (arg_str(a, "name", true, &name, o))
		return;
	if (!h->recipe) {
		out_err(o, "no recipe engine is available here");
		return;
	}
	if (h->recipe(h->ctx, name, json_is_true(dry), &text, &err)) {
		out_nsh_err(o, &err);
		return;
	}
	add_capped(&o->text, text ? text : "", text ? strlen(text) : 0, TOOL_OUTPUT_MAX);
	o->progress = !json_is_true(dry);
	free(text);
}

static void tool_git_diff(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	struct nsh_buf rel = NSH_BUF_INIT, diff = NSH_BUF_INIT, status = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;
	const char *ws = t->run->workspace;

	nsh_buf_init(&diff, 8u << 20);
	if (arg_path(a, "path", ".", &rel, o))
		goto out;
	if (nsh_git(ws, &status, &err, "status", "--porcelain", "--untracked-files=all", "--",
		    rel.buf, NULL)) {
		out_err(o, "cannot run git in the workspace: %s", err.msg);
		goto out;
	}
	if (nsh_git(ws, &diff, &err, "diff", "--no-color", "--no-ext-diff", "HEAD", "--", rel.buf,
		    NULL) &&
	    nsh_git(ws, &diff, &err, "diff", "--no-color", "--no-ext-diff", "--", rel.buf, NULL)) {
		out_err(o, "git diff failed: %s", err.msg);
		goto out;
	}
	if (!status.len) {
		nsh_buf_adds(&o->text, "no changes\n");
		goto out;
	}
	nsh_buf_adds(&o->text, "changed files (git status --porcelain):\n");
	nsh_buf_add(&o->text, status.buf, status.len);
	if (diff.len) {
		nsh_buf_adds(&o->text, "\n");
		add_capped(&o->text, diff.buf, diff.len, DIFF_MAX);
	}
	if (strstr(status.buf, "?"
			       "? "))
		nsh_buf_adds(&o->text, "\n(lines starting with two question marks are new, "
				       "untracked files: read them with read_file)\n");
out:
	nsh_buf_release(&rel);
	nsh_buf_release(&diff);
	nsh_buf_release(&status);
}

/* ---- consult_research, ask_user, update_spec ---- */

static void tool_consult(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	struct nsh_agent_run sub = *t->run;
	struct nsh_agent_result r;
	struct nsh_err err = NSH_ERR_INIT;
	const char *q;
	char *task;

	if (arg_str(a, "question", true, &q, o))
		return;
	task = nsh_xasprintf("The code agent working on this task asks you a question. Answer it "
			     "from what you find in the workspace (read only), then call finish "
			     "with the answer as the summary.\n\nQuestion: %s\n\nThe task: %s",
			     q, t->run->task);
	sub.role = NSH_AGENT_RESEARCH;
	sub.task = task;
	sub.findings = NULL;
	sub.session = NULL;
	sub.max_steps = CONSULT_STEPS;
	sub.depth = t->run->depth + 1;
	memset(&r, 0, sizeof(r));
	if (nsh_agent_run_role(&sub, &r, &err)) {
		out_err(o, "the research agent could not answer: %s", err.msg);
	} else {
		nsh_buf_addf(&o->text, "research agent (%s): %s\n",
			     nsh_agent_outcome_name(r.outcome),
			     r.summary ? r.summary : "(no answer)");
		nsh_llm_usage_add(&t->sub_usage, &r.usage);
		t->sub_cost += r.cost;
		t->sub_model_ns += r.model_ns;
	}
	nsh_agent_result_release(&r);
	free(task);
}

static void tool_ask_user(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	const struct nsh_agent_host *h = t->run->host;
	struct nsh_err err = NSH_ERR_INIT;
	const char *q;
	char *answer = NULL;

	if (arg_str(a, "question", true, &q, o))
		return;
	if (!h->ask) {
		out_err(o, "nobody can be asked here; decide yourself and say why in the summary");
		return;
	}
	if (h->ask(h->ctx, q, &answer, &err)) {
		out_err(o, "no answer: %s", err.msg);
		return;
	}
	nsh_buf_addf(&o->text, "the user answered: %s\n", answer ? answer : "");
	o->progress = true;
	free(answer);
}

/*
 * Replace the "## @section" part of the Markdown @spec (up to the next
 * "## " heading) with @content, or append it, into @out.
 */
static void spec_set_section(const char *spec, const char *section, const char *content,
			     struct nsh_buf *out)
{
	const char *p = spec, *start = NULL, *end = NULL;
	size_t sl = strlen(section);

	while (p && *p) {
		if (!strncmp(p, "## ", 3)) {
			const char *h = p + 3, *nl = strchr(h, '\n');
			size_t hl = nl ? (size_t)(nl - h) : strlen(h);

			while (hl && (h[hl - 1] == ' ' || h[hl - 1] == '\r'))
				hl--;
			if (start && !end)
				end = p;
			if (!start && hl == sl && !strncasecmp(h, section, sl))
				start = p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (start && !end)
		end = spec + strlen(spec);
	if (start) {
		nsh_buf_add(out, spec, (size_t)(start - spec));
	} else {
		nsh_buf_adds(out, spec);
		if (out->len && out->buf[out->len - 1] != '\n')
			nsh_buf_addch(out, '\n');
		if (out->len)
			nsh_buf_addch(out, '\n');
	}
	nsh_buf_addf(out, "## %s\n\n%s", section, content);
	if (out->len && out->buf[out->len - 1] != '\n')
		nsh_buf_addch(out, '\n');
	if (start) {
		if (*end)
			nsh_buf_addch(out, '\n');
		nsh_buf_adds(out, end);
	}
}

static void tool_update_spec(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	const struct nsh_agent_host *h = t->run->host;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf next = NSH_BUF_INIT;
	const char *section, *content;
	char *spec = NULL;
	json_t *obj = NULL;

	if (arg_str(a, "section", true, &section, o) || arg_str(a, "content", true, &content, o))
		goto out;
	if (!h->spec_get || !h->spec_put) {
		out_err(o, "there is no shared spec here");
		goto out;
	}
	if (!*section || strchr(section, '\n')) {
		out_err(o, "the section name must be one line, e.g. 'Plan'");
		goto out;
	}
	if (h->spec_get(h->ctx, &spec, &err) && err.code != NSH_ENOTFOUND) {
		out_nsh_err(o, &err);
		goto out;
	}
	if (spec && !nsh_json_parse(spec, strlen(spec), &obj, NULL) && json_is_object(obj)) {
		/* a JSON spec: the section is a key */
		char *s, *k = nsh_xstrdup(section);

		for (char *q = k; *q; q++)
			*q = *q == ' ' ? '_'
				       : (char)((*q >= 'A' && *q <= 'Z') ? *q - 'A' + 'a' : *q);
		json_object_set_new(obj, k, json_string(content));
		free(k);
		s = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		nsh_buf_adds(&next, s);
		free(s);
	} else {
		spec_set_section(spec ? spec : "", section, content, &next);
	}
	if (h->spec_put(h->ctx, next.buf, &err)) {
		out_nsh_err(o, &err);
		goto out;
	}
	nsh_buf_addf(&o->text, "spec updated: section '%s' (%ld lines)\n", section,
		     count_lines(content, strlen(content)));
	o->progress = true;
out:
	json_decref(obj);
	free(spec);
	nsh_buf_release(&next);
}

/* ---- finish ---- */

static void tool_finish(struct tool_ctx *t, const json_t *a, struct tool_out *o)
{
	const char *summary, *status;
	json_t *findings = json_object_get(a, "findings"), *passed = json_object_get(a, "passed");
	json_t *general = json_object_get(a, "general");
	size_t i;
	json_t *f;

	if (arg_str(a, "summary", true, &summary, o) || arg_str(a, "status", false, &status, o))
		return;
	if (!*summary) {
		out_err(o, "the summary is empty");
		return;
	}
	if (status && strcmp(status, "done") && strcmp(status, "blocked")) {
		out_err(o, "status must be 'done' or 'blocked'");
		return;
	}
	if (general && !json_is_boolean(general)) {
		out_err(o, "general must be true or false");
		return;
	}
	if (findings && !json_is_null(findings) && !json_is_array(findings)) {
		out_err(o, "findings must be an array of {file, line, message}");
		return;
	}
	json_array_foreach(findings, i, f)
	{
		if (!json_is_object(f) || !json_is_string(json_object_get(f, "message"))) {
			out_err(o, "findings[%zu] needs at least a 'message' string", i);
			return;
		}
	}
	if (t->run->role == NSH_AGENT_VERIFY) {
		if (!json_is_boolean(passed)) {
			out_err(o, "the verify agent must say passed: true or false");
			return;
		}
		if (json_is_true(passed) && t->report &&
		    json_is_false(json_object_get(t->report, "passed"))) {
			out_err(o, "the verification pipeline failed, so passed cannot be true; "
				   "report its failures as findings");
			return;
		}
		if (json_is_false(passed) && !json_array_size(findings)) {
			out_err(o, "a failed verification needs findings (file, line, message) "
				   "for the code agent");
			return;
		}
	}
	t->finished = true;
	t->outcome = status && !strcmp(status, "blocked") ? NSH_AGENT_BLOCKED : NSH_AGENT_DONE;
	free(t->summary);
	t->summary = nsh_xstrdup(summary);
	t->passed = json_is_true(passed);
	t->general = json_is_true(general);
	json_decref(t->findings);
	t->findings = NULL;
	if (json_array_size(findings)) {
		t->findings = json_array();
		json_array_foreach(findings, i, f)
		{
			if (i >= 100)
				break;
			json_array_append(t->findings, f);
		}
	}
	nsh_buf_adds(&o->text, "finished\n");
}

/* ---- the table ---- */

struct tool_def {
	const char *name;
	unsigned roles; /* R(RESEARCH) | ... */
	const char *description;
	const char *schema;
	void (*fn)(struct tool_ctx *t, const json_t *a, struct tool_out *o);
};

static const struct tool_def tools[] = {
	{"list_files", R(RESEARCH) | R(CODE) | R(VERIFY),
	 "List the files and directories under a directory of the workspace, with sizes. "
	 "Dependency and build directories are named but not listed.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"path\":{\"type\":\"string\",\"description\":\"directory relative to the workspace "
	 "root; default '.'\"},"
	 "\"depth\":{\"type\":\"integer\",\"description\":\"levels to descend, 1 to 5; default "
	 "2\"}},\"additionalProperties\":false}",
	 tool_list_files},
	{"read_file", R(RESEARCH) | R(CODE) | R(VERIFY),
	 "Read a window of a text file with line numbers.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"path\":{\"type\":\"string\",\"description\":\"file relative to the workspace root\"},"
	 "\"start_line\":{\"type\":\"integer\",\"description\":\"first line to show, 1-based; "
	 "default 1\"},"
	 "\"max_lines\":{\"type\":\"integer\",\"description\":\"lines to show, at most 2000; "
	 "default 200\"}},\"required\":[\"path\"],\"additionalProperties\":false}",
	 tool_read_file},
	{"search", R(RESEARCH) | R(CODE) | R(VERIFY),
	 "Search the workspace's text files for a POSIX extended regular expression; prints "
	 "file:line: text for each matching line.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"pattern\":{\"type\":\"string\",\"description\":\"POSIX extended regular "
	 "expression\"},"
	 "\"path\":{\"type\":\"string\",\"description\":\"directory or file to search; default "
	 "'.'\"},"
	 "\"include\":{\"type\":\"string\",\"description\":\"only files whose name matches this "
	 "glob, e.g. '*.js'\"},"
	 "\"max_results\":{\"type\":\"integer\",\"description\":\"matching lines to show, at "
	 "most 200; default 50\"}},\"required\":[\"pattern\"],\"additionalProperties\":false}",
	 tool_search},
	{"write_file", R(CODE),
	 "Create a file or replace its whole content. Files that fail their syntax check "
	 "(JavaScript, JSON, Python, shell) are not written.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"path\":{\"type\":\"string\",\"description\":\"file relative to the workspace root\"},"
	 "\"content\":{\"type\":\"string\",\"description\":\"the complete new content\"}},"
	 "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
	 tool_write_file},
	{"edit_file", R(CODE),
	 "Replace one exact piece of text in a file. old_text must occur exactly once (copy it "
	 "from read_file without the line numbers, white space included). An edit that breaks "
	 "the file's syntax check is rejected and the file left unchanged.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"path\":{\"type\":\"string\",\"description\":\"file relative to the workspace root\"},"
	 "\"old_text\":{\"type\":\"string\",\"description\":\"the exact text to replace\"},"
	 "\"new_text\":{\"type\":\"string\",\"description\":\"the text to put in its place\"}},"
	 "\"required\":[\"path\",\"old_text\",\"new_text\"],\"additionalProperties\":false}",
	 tool_edit_file},
	{"run", R(CODE) | R(VERIFY),
	 "Run a shell command in the workspace, inside the job's sandbox (no network unless the "
	 "task allows it). Returns the exit code and the output, cut in the middle when long.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"command\":{\"type\":\"string\",\"description\":\"a shell command line, run with sh "
	 "-c in the workspace root\"},"
	 "\"timeout_seconds\":{\"type\":\"integer\",\"description\":\"time limit, at most 1800; "
	 "default 120\"}},\"required\":[\"command\"],\"additionalProperties\":false}",
	 tool_run},
	{"apply_recipe", R(CODE),
	 "Apply a deterministic change recipe (dependency upgrades and structural rewrites) to "
	 "the workspace; dry_run shows what would change.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"name\":{\"type\":\"string\",\"description\":\"recipe name\"},"
	 "\"dry_run\":{\"type\":\"boolean\",\"description\":\"only report\"}},"
	 "\"required\":[\"name\"],\"additionalProperties\":false}",
	 tool_apply_recipe},
	{"git_diff", R(RESEARCH) | R(CODE) | R(VERIFY),
	 "Show what changed in the workspace since the job started: changed and new files, and "
	 "the diff.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"path\":{\"type\":\"string\",\"description\":\"limit to this file or directory\"}},"
	 "\"additionalProperties\":false}",
	 tool_git_diff},
	{"consult_research", R(CODE),
	 "Ask the research agent a question about the codebase when unsure (it reads, never "
	 "edits, and answers in a few sentences).",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"question\":{\"type\":\"string\"}},\"required\":[\"question\"],"
	 "\"additionalProperties\":false}",
	 tool_consult},
	{"ask_user", R(RESEARCH) | R(CODE) | R(VERIFY),
	 "Ask the person who gave the task a question and wait for the answer. Only for "
	 "decisions you cannot make from the code and the spec: the task waits meanwhile.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"question\":{\"type\":\"string\"}},\"required\":[\"question\"],"
	 "\"additionalProperties\":false}",
	 tool_ask_user},
	{"update_spec", R(RESEARCH) | R(CODE),
	 "Write one section of the shared task spec (e.g. 'Plan', 'Decisions', 'Acceptance "
	 "criteria'), replacing that section's previous content.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"section\":{\"type\":\"string\",\"description\":\"section title, one line\"},"
	 "\"content\":{\"type\":\"string\",\"description\":\"Markdown\"}},"
	 "\"required\":[\"section\",\"content\"],\"additionalProperties\":false}",
	 tool_update_spec},
	{"finish", R(RESEARCH) | R(CODE),
	 "End your part of the work with a summary. status 'blocked' when it cannot be done "
	 "without a person.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"summary\":{\"type\":\"string\",\"description\":\"what was done and why, for the "
	 "next agent and the pull request\"},"
	 "\"status\":{\"type\":\"string\",\"enum\":[\"done\",\"blocked\"]},"
	 "\"general\":{\"type\":\"boolean\",\"description\":\"code, revising for review "
	 "feedback: true when the feedback is a rule for the whole change, so that the task's "
	 "other pull requests get it too\"}},"
	 "\"required\":[\"summary\"],\"additionalProperties\":false}",
	 tool_finish},
	{"finish", R(VERIFY),
	 "End the verification with a verdict and findings for the code agent.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"summary\":{\"type\":\"string\"},"
	 "\"passed\":{\"type\":\"boolean\",\"description\":\"true only when the checks pass and "
	 "every acceptance criterion is met\"},"
	 "\"findings\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
	 "\"file\":{\"type\":\"string\"},\"line\":{\"type\":\"integer\"},"
	 "\"message\":{\"type\":\"string\"}},\"required\":[\"message\"]}},"
	 "\"status\":{\"type\":\"string\",\"enum\":[\"done\",\"blocked\"]}},"
	 "\"required\":[\"summary\",\"passed\"],\"additionalProperties\":false}",
	 tool_finish},
};

size_t agent_tools_for(enum nsh_agent_role role, const struct nsh_agent_host *host, int depth,
		       struct nsh_llm_tool *ret, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]) && n < cap; i++) {
		const struct tool_def *d = &tools[i];

		if (!(d->roles & (1u << role)))
			continue;
		if (!strcmp(d->name, "apply_recipe") && !host->recipe)
			continue;
		if (!strcmp(d->name, "ask_user") && (!host->ask || depth))
			continue;
		if (!strcmp(d->name, "update_spec") &&
		    (!host->spec_get || !host->spec_put || depth))
			continue;
		if (!strcmp(d->name, "consult_research") && depth)
			continue;
		ret[n].name = d->name;
		ret[n].description = d->description;
		ret[n].schema = d->schema;
		n++;
	}
	return n;
}

void agent_tool_call(struct tool_ctx *t, const char *name, const char *args, struct tool_out *o)
{
	struct nsh_err err = NSH_ERR_INIT;
	const struct tool_def *d = NULL;
	json_t *a = NULL;

	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (!strcmp(tools[i].name, name) && (tools[i].roles & (1u << t->run->role)))
			d = &tools[i];
	if (!d) {
		out_err(o, "there is no tool '%s' for the %s agent", name,
			nsh_agent_role_name(t->run->role));
		goto out;
	}
	if (nsh_json_parse_limits(args, strlen(args), ARGS_MAX, 16, &a, &err)) {
		out_err(o,
			"the arguments are not valid JSON (%s); call '%s' again with a JSON "
			"object",
			err.msg, name);
		goto out;
	}
	if (!json_is_object(a)) {
		out_err(o, "the arguments of '%s' must be a JSON object", name);
		goto out;
	}
	d->fn(t, a, o);
	if (!o->text.len)
		nsh_buf_adds(&o->text, "(no output)\n");
	/* never show a secret to the model */
	if (t->run->redactor) {
		struct nsh_buf red = NSH_BUF_INIT;

		if (!nsh_redact_buf(t->run->redactor, o->text.buf, o->text.len, &red, &err)) {
			nsh_buf_release(&o->text);
			o->text = red;
		} else {
			nsh_buf_release(&red);
			out_err(o, "the output could not be redacted and was withheld");
		}
	}
out:
	json_decref(a);
}

char *agent_call_brief(const char *name, const char *args)
{
	static const char *const keys[] = {"path",     "command", "pattern",
					   "question", "section", "name"};
	json_t *a = NULL;
	char *s = NULL;

	if (!nsh_json_parse_limits(args, strlen(args), ARGS_MAX, 16, &a, NULL) &&
	    json_is_object(a)) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !s; i++) {
			const char *v = json_string_value(json_object_get(a, keys[i]));

			if (v)
				s = nsh_xasprintf("%s %.*s%s", name, 80, v,
						  strlen(v) > 80 ? "..." : "");
		}
	}
	json_decref(a);
	return s ? s : nsh_xstrdup(name);
}
