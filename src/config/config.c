#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "core/time.h"
#include "core/vec.h"

#include "core/banned.h"

#define ENV_PREFIX "NIGHTSHIFT_"

/* Largest read(2) into the file buffer at once. */
#define READ_CHUNK 65536

/* One "key = value" line of the file. */
struct config_entry {
	char *section; /* lower-case section name */
	char *key;     /* lower-case key */
	char *value;   /* unquoted, unescaped value */
	int line;      /* 1-based line number in the file */
};

struct nsh_config {
	char *name;		      /* file name for messages */
	struct config_entry *entries; /* sorted by section, key (then line while parsing) */
	size_t nr;		      /* entries in use */
	size_t alloc;		      /* entries allocated */
	struct nsh_strvec env;	      /* copies of the NIGHTSHIFT_* "NAME=value" variables */
};

void nsh_config_free(struct nsh_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nr; i++) {
		free(cfg->entries[i].section);
		free(cfg->entries[i].key);
		free(cfg->entries[i].value);
	}
	free(cfg->entries);
	nsh_strvec_release(&cfg->env);
	free(cfg->name);
	free(cfg);
}

static bool is_name_char(char c, bool allow_dot)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || (allow_dot && c == '.');
}

static bool name_ok(struct nsh_str s, bool allow_dot)
{
	if (!s.len)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_name_char(s.p[i], allow_dot))
			return false;
	return true;
}

static char *lower_dup(struct nsh_str s)
{
	char *p = nsh_str_dup(s);

	for (char *q = p; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return p;
}

/*
 * Unquote the value @v, which starts with '"', into a new string in
 * *@ret. NSH_EINVAL for a missing closing quote, an unknown escape or text
 * after the closing quote.
 */
static int unquote(struct nsh_str v, char **ret, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	size_t i;
	int rc;

	for (i = 1; i < v.len && v.p[i] != '"'; i++) {
		char c = v.p[i];

		if (c == '\\') {
			if (++i == v.len)
				break;
			switch (v.p[i]) {
			case '"':
			case '\\':
				c = v.p[i];
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			default:
				rc = nsh_err_set(err, NSH_EINVAL,
						 "unknown escape '\\%c' in quoted value", v.p[i]);
				goto out;
			}
		}
		nsh_buf_addch(&b, c);
	}
	if (i >= v.len) {
		rc = nsh_err_set(err, NSH_EINVAL, "unterminated quoted value");
		goto out;
	}
	if (i + 1 != v.len) {
		rc = nsh_err_set(err, NSH_EINVAL, "unexpected text after the closing quote");
		goto out;
	}
	*ret = nsh_buf_detach(&b, NULL);
	rc = 0;
out:
	nsh_buf_release(&b);
	return rc;
}

/*
 * Parse one line (without its '\n'). *@section is the current section
 * (owned, NULL before the first header) and is replaced by a header line.
 * Errors carry the message without the file and line.
 */
static int parse_line(struct nsh_config *cfg, struct nsh_str line, int lineno, char **section,
		      struct nsh_err *err)
{
	struct nsh_str key, value;
	struct config_entry *e;
	char *v = NULL;
	int rc;

	if (line.len && memchr(line.p, '\0', line.len))
		return nsh_err_set(err, NSH_EINVAL, "unexpected NUL byte");
	line = nsh_str_trim(line);
	if (!line.len || line.p[0] == '#' || line.p[0] == ';')
		return 0;
	if (line.p[0] == '[') {
		struct nsh_str name;

		if (line.p[line.len - 1] != ']')
			return nsh_err_set(err, NSH_EINVAL, "expected '[section]'");
		name = nsh_str_trim(nsh_str_make(line.p + 1, line.len - 2));
		if (!name_ok(name, false))
			return nsh_err_set(err, NSH_EINVAL, "invalid section name '%.*s'",
					   (int)name.len, name.p);
		free(*section);
		*section = lower_dup(name);
		return 0;
	}
	if (!nsh_str_split(line, '=', &key, &value))
		return nsh_err_set(err, NSH_EINVAL, "expected 'key = value'");
	key = nsh_str_trim(key);
	value = nsh_str_trim(value);
	if (!key.len)
		return nsh_err_set(err, NSH_EINVAL, "expected 'key = value'");
	if (!name_ok(key, true))
		return nsh_err_set(err, NSH_EINVAL, "invalid key '%.*s'", (int)key.len, key.p);
	if (!*section)
		return nsh_err_set(err, NSH_EINVAL, "key '%.*s' is outside any [section]",
				   (int)key.len, key.p);
	if (value.len && value.p[0] == '"') {
		rc = unquote(value, &v, err);
		if (rc)
			return rc;
	} else {
		v = nsh_str_dup(value);
	}
	NSH_ALLOC_GROW(cfg->entries, cfg->nr + 1, cfg->alloc);
	e = &cfg->entries[cfg->nr++];
	e->section = nsh_xstrdup(*section);
	e->key = lower_dup(key);
	e->value = v;
	e->line = lineno;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct config_entry *x = a, *y = b;
	int c = strcmp(x->section, y->section);

	if (!c)
		c = strcmp(x->key, y->key);
	if (!c)
		c = (x->line > y->line) - (x->line < y->line);
	return c;
}

/* Copy the NIGHTSHIFT_* variables of the environment into @cfg. */
static void snapshot_env(struct nsh_config *cfg)
{
	for (char **e = environ; e && *e; e++)
		if (nsh_starts_with(*e, ENV_PREFIX) && strchr(*e, '='))
			nsh_strvec_push(&cfg->env, *e);
}

int nsh_config_parse(const char *text, size_t len, const char *name, struct nsh_config **ret,
		     struct nsh_err *err)
{
	struct nsh_err syn = NSH_ERR_INIT;
	struct nsh_config *cfg = NULL;
	const struct config_entry *dup = NULL, *first = NULL;
	char *section = NULL;
	size_t pos = 0;
	int lineno = 0, syn_line = 0;
	int rc;

	if (!name)
		name = "config";
	if (len > NSH_CONFIG_MAX_BYTES) {
		rc = nsh_err_set(err, NSH_ETOOBIG, "'%s' is too big (%zu bytes, limit %u)", name,
				 len, NSH_CONFIG_MAX_BYTES);
		goto out;
	}
	cfg = nsh_xcalloc(1, sizeof(*cfg));
	cfg->name = nsh_xstrdup(name);
	nsh_strvec_init(&cfg->env);
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (parse_line(cfg, nsh_str_make(start, n), lineno, &section, &syn)) {
			syn_line = lineno;
			break;
		}
	}
	/*
	 * Duplicates are found after sorting; every entry lies before a syntax
	 * error, so reporting the earliest problem means comparing lines.
	 */
	if (cfg->nr)
		qsort(cfg->entries, cfg->nr, sizeof(*cfg->entries), entry_cmp);
	for (size_t i = 1; i < cfg->nr; i++) {
		const struct config_entry *a = &cfg->entries[i - 1], *b = &cfg->entries[i];

		if (strcmp(a->section, b->section) || strcmp(a->key, b->key))
			continue;
		if (!dup || b->line < dup->line) {
			size_t j = i - 1;

			while (j > 0 && !strcmp(cfg->entries[j - 1].section, b->section) &&
			       !strcmp(cfg->entries[j - 1].key, b->key))
				j--;
			dup = b;
			first = &cfg->entries[j];
		}
	}
	if (dup) {
		rc = nsh_err_set(err, NSH_EINVAL,
				 "'%s' line %d: duplicate key '%s' in [%s] (first set on line %d)",
				 name, dup->line, dup->key, dup->section, first->line);
		goto out;
	}
	if (syn_line) {
		rc = nsh_err_set(err, syn.code, "'%s' line %d: %s", name, syn_line, syn.msg);
		goto out;
	}
	snapshot_env(cfg);
	*ret = cfg;
	cfg = NULL;
	rc = 0;
out:
	free(section);
	nsh_config_free(cfg);
	return rc;
}

int nsh_config_load(const char *path, struct nsh_config **ret, struct nsh_err *err)
{
	struct nsh_buf b;
	int fd, rc;

	/* one byte over the cap, so that nsh_config_parse() sees a file that is too big */
	nsh_buf_init(&b, (size_t)NSH_CONFIG_MAX_BYTES + 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			rc = nsh_config_parse("", 0, path, ret, err);
		else
			rc = nsh_err_sys(err, errno, "cannot open config '%s'", path);
		goto out;
	}
	for (;;) {
		size_t room = b.max - b.len;
		ssize_t n;

		if (room > READ_CHUNK)
			room = READ_CHUNK;
		if (!room)
			break;
		rc = nsh_buf_grow(&b, room);
		if (rc)
			goto out;
		n = read(fd, b.buf + b.len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = nsh_err_sys(err, errno, "cannot read config '%s'", path);
			goto out;
		}
		if (!n)
			break;
		b.len += (size_t)n;
		b.buf[b.len] = '\0';
	}
	rc = nsh_config_parse(b.buf, b.len, path, ret, err);
out:
	if (fd >= 0)
		close(fd);
	nsh_buf_release(&b);
	return rc;
}

/* Order a (section, key) pair against an entry, ignoring case. */
struct lookup_key {
	const char *section; /* as the caller spelled it */
	const char *key;     /* as the caller spelled it */
};

static int lookup_cmp(const void *k, const void *ent)
{
	const struct lookup_key *lk = k;
	const struct config_entry *e = ent;
	int c = strcasecmp(lk->section, e->section);

	return c ? c : strcasecmp(lk->key, e->key);
}

/* NIGHTSHIFT_<SECTION>_<KEY> for @section and @key, into @b (reset first). */
static void env_name(struct nsh_buf *b, const char *section, const char *key)
{
	nsh_buf_reset(b);
	nsh_buf_addf(b, ENV_PREFIX "%s_%s", section, key);
	for (char *p = b->buf + strlen(ENV_PREFIX); *p; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
		else if (*p == '-' || *p == '.')
			*p = '_';
	}
}

/*
 * Find a setting. @envbuf receives the variable name that overrides it;
 * *@ret_entry (may be NULL) the file entry the value came from, or NULL
 * when it came from the environment or is unset.
 */
static const char *config_lookup(const struct nsh_config *cfg, const char *section, const char *key,
				 struct nsh_buf *envbuf, const struct config_entry **ret_entry)
{
	struct lookup_key lk = {section, key};
	const struct config_entry *e;

	if (ret_entry)
		*ret_entry = NULL;
	env_name(envbuf, section, key);
	for (size_t i = 0; i < cfg->env.nr; i++) {
		const char *var = cfg->env.v[i];

		if (!strncmp(var, envbuf->buf, envbuf->len) && var[envbuf->len] == '=')
			return var + envbuf->len + 1;
	}
	if (!cfg->nr)
		return NULL;
	e = bsearch(&lk, cfg->entries, cfg->nr, sizeof(*cfg->entries), lookup_cmp);
	if (!e)
		return NULL;
	if (ret_entry)
		*ret_entry = e;
	return e->value;
}

const char *nsh_config_get(const struct nsh_config *cfg, const char *section, const char *key)
{
	struct nsh_buf envbuf = NSH_BUF_INIT;
	const char *v = config_lookup(cfg, section, key, &envbuf, NULL);

	nsh_buf_release(&envbuf);
	return v;
}

/* The error for a value that does not parse, naming where it came from. */
static int bad_value(const struct nsh_config *cfg, const char *section, const char *key,
		     const char *value, const struct nsh_buf *envbuf, const struct config_entry *e,
		     const char *expected, struct nsh_err *err)
{
	if (e)
		return nsh_err_set(
			err, NSH_EINVAL,
			"invalid value '%s' for '%s.%s' (from '%s' line %d): expected %s", value,
			e->section, e->key, cfg->name, e->line, expected);
	return nsh_err_set(err, NSH_EINVAL, "invalid value '%s' for '%s.%s' (from %s): expected %s",
			   value, section, key, envbuf->buf, expected);
}

int nsh_config_get_int(const struct nsh_config *cfg, const char *section, const char *key,
		       long long def, long long *ret, struct nsh_err *err)
{
	struct nsh_buf envbuf = NSH_BUF_INIT;
	const struct config_entry *e;
	const char *v = config_lookup(cfg, section, key, &envbuf, &e);
	long long n;
	char *end;
	int rc = 0;

	if (!v) {
		*ret = def;
		goto out;
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (!((*v >= '0' && *v <= '9') || *v == '-' || *v == '+') || *end || errno) {
		rc = bad_value(cfg, section, key, v, &envbuf, e, "an integer", err);
		goto out;
	}
	*ret = n;
out:
	nsh_buf_release(&envbuf);
	return rc;
}

int nsh_config_get_bool(const struct nsh_config *cfg, const char *section, const char *key,
			bool def, bool *ret, struct nsh_err *err)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	struct nsh_buf envbuf = NSH_BUF_INIT;
	const struct config_entry *e;
	const char *v = config_lookup(cfg, section, key, &envbuf, &e);
	int rc = 0;

	if (!v) {
		*ret = def;
		goto out;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i])) {
			*ret = true;
			goto out;
		}
		if (!strcasecmp(v, no[i])) {
			*ret = false;
			goto out;
		}
	}
	rc = bad_value(cfg, section, key, v, &envbuf, e, "true or false", err);
out:
	nsh_buf_release(&envbuf);
	return rc;
}

int nsh_config_get_size(const struct nsh_config *cfg, const char *section, const char *key,
			uint64_t def, uint64_t *ret, struct nsh_err *err)
{
	struct nsh_buf envbuf = NSH_BUF_INIT;
	const struct config_entry *e;
	const char *v = config_lookup(cfg, section, key, &envbuf, &e);
	uint64_t n;
	int rc = 0;

	if (!v) {
		*ret = def;
		goto out;
	}
	if (!nsh_parse_size(v, &n)) {
		rc = bad_value(cfg, section, key, v, &envbuf, e,
			       "a size such as '512', '10K', '25M' or '10G'", err);
		goto out;
	}
	*ret = n;
out:
	nsh_buf_release(&envbuf);
	return rc;
}

int nsh_config_get_duration(const struct nsh_config *cfg, const char *section, const char *key,
			    int64_t def_ms, int64_t *ret_ms, struct nsh_err *err)
{
	struct nsh_buf envbuf = NSH_BUF_INIT;
	const struct config_entry *e;
	const char *v = config_lookup(cfg, section, key, &envbuf, &e);
	int64_t ms;
	int rc = 0;

	if (!v) {
		*ret_ms = def_ms;
		goto out;
	}
	if (nsh_time_parse_duration(v, &ms, NULL)) {
		rc = bad_value(cfg, section, key, v, &envbuf, e,
			       "a duration such as '90s', '15m', '72h' or '1h30m'", err);
		goto out;
	}
	*ret_ms = ms;
out:
	nsh_buf_release(&envbuf);
	return rc;
}

int nsh_config_get_number(const struct nsh_config *cfg, const char *section, const char *key,
			  double def, double *ret, struct nsh_err *err)
{
	struct nsh_buf envbuf = NSH_BUF_INIT;
	const struct config_entry *e;
	const char *v = config_lookup(cfg, section, key, &envbuf, &e);
	char *end;
	double d;
	int rc = 0;

	if (!v) {
		*ret = def;
		goto out;
	}
	errno = 0;
	d = strtod(v, &end);
	if (end == v || *end || errno || !isfinite(d) || *v == ' ' || *v == '\t') {
		rc = bad_value(cfg, section, key, v, &envbuf, e, "a number", err);
		goto out;
	}
	*ret = d;
out:
	nsh_buf_release(&envbuf);
	return rc;
}

/* Append the components of @path to @b, dropping empty and "." ones. */
static void add_components(struct nsh_buf *b, const char *path)
{
	const char *p = path;

	while (*p) {
		size_t n;

		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (n && !(n == 1 && p[0] == '.')) {
			nsh_buf_addch(b, '/');
			nsh_buf_add(b, p, n);
		}
		p += n;
	}
}

/* The home directory of the current user from the password database, or NULL. */
static char *passwd_home(void)
{
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 16384;
	struct passwd pw, *found = NULL;
	char *home = NULL;
	char *buf = NULL;
	int e;

	for (;;) {
		buf = nsh_xrealloc(buf, size);
		e = getpwuid_r(getuid(), &pw, buf, size, &found);
		if (e != ERANGE || size >= (1u << 20))
			break;
		size *= 2;
	}
	if (!e && found && found->pw_dir && *found->pw_dir)
		home = nsh_xstrdup(found->pw_dir);
	free(buf);
	return home;
}

int nsh_home_resolve(const char *flag_home, char **ret, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	char *pw_home = NULL, *cwd = NULL;
	const char *base, *suffix = "";
	int rc;

	if (flag_home && *flag_home) {
		base = flag_home;
	} else if ((base = getenv("NIGHTSHIFT_HOME")) && *base) {
		/* as given */
	} else {
		base = getenv("HOME");
		if (!base || !*base)
			base = pw_home = passwd_home();
		if (!base) {
			rc = nsh_err_set(
				err, NSH_ENOTFOUND,
				"cannot find a home directory: set HOME or NIGHTSHIFT_HOME");
			goto out;
		}
		suffix = ".nightshift";
	}
	if (base[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (!cwd) {
			rc = nsh_err_sys(err, errno, "cannot make '%s' absolute", base);
			goto out;
		}
		add_components(&b, cwd);
	}
	add_components(&b, base);
	add_components(&b, suffix);
	if (!b.len)
		nsh_buf_addch(&b, '/');
	*ret = nsh_buf_detach(&b, NULL);
	rc = 0;
out:
	free(pw_home);
	free(cwd);
	nsh_buf_release(&b);
	return rc;
}

int nsh_home_ensure(const char *home, struct nsh_err *err)
{
	char *p = nsh_xstrdup(home);
	size_t len = strlen(p);
	struct stat st;
	int rc;

	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	if (!len) {
		rc = nsh_err_set(err, NSH_EINVAL, "empty home directory path");
		goto out;
	}
	if (!stat(p, &st)) {
		if (S_ISDIR(st.st_mode))
			rc = 0;
		else
			rc = nsh_err_set(err, NSH_EEXIST, "'%s' exists and is not a directory", p);
		goto out;
	}
	if (errno != ENOENT) {
		rc = nsh_err_sys(err, errno, "cannot use home directory '%s'", p);
		goto out;
	}
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			rc = nsh_err_sys(err, errno, "cannot create directory '%s'", p);
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, 0700) < 0) {
		if (errno == EEXIST && !stat(p, &st) && S_ISDIR(st.st_mode)) {
			rc = 0; /* made by someone else meanwhile */
			goto out;
		}
		rc = nsh_err_sys(err, errno, "cannot create home directory '%s'", p);
		goto out;
	}
	if (chmod(p, 0700) < 0) {
		rc = nsh_err_sys(err, errno, "cannot set the mode of '%s'", p);
		goto out;
	}
	rc = 0;
out:
	free(p);
	return rc;
}
