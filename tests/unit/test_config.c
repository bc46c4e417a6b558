/* Tests for config: the INI parser, environment overrides, typed getters, home. */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "test.h"

#include "core/banned.h"

#define NAME "/x/config"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove a test directory tree (tests must not depend on core/fs). */
static void rm_tree(const char *dir)
{
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		perror(dir);
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

/* Parse a literal; NULL (and a failed CHECK) on error. */
static struct nsh_config *parse(const char *text)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_config *cfg = NULL;
	int rc = nsh_config_parse(text, strlen(text), NAME, &cfg, &err);

	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err.msg);
	return cfg;
}

static void test_basic(void)
{
	static const char text[] = "# a comment\n"
				   "; another comment\n"
				   "\n"
				   "   [LLM]   \n"
				   "API =   https://example.net/v1   \n"
				   "model=m-1\n"
				   "  quoted = \"  two  spaces \\\"q\\\" \\\\ \\n\\t \"  \n"
				   "empty =\n"
				   "empty-quoted = \"\"\n"
				   "url = http://h/?a=b&c=d\n"
				   "hash = a # not a comment\n"
				   "[server]\r\n"
				   "listen = 127.0.0.1:8080\r\n"
				   "max-body.bytes = 10\n"
				   "[ llm ]\n"
				   "timeout = 30s\n"
				   "\t# indented comment\n"
				   "last = no newline at the end";
	struct nsh_config *cfg = parse(text);

	if (!cfg)
		return;
	CHECK_STR(nsh_config_get(cfg, "llm", "api"), "https://example.net/v1");
	CHECK_STR(nsh_config_get(cfg, "llm", "model"), "m-1");
	CHECK_STR(nsh_config_get(cfg, "llm", "quoted"), "  two  spaces \"q\" \\ \n\t ");
	CHECK_STR(nsh_config_get(cfg, "llm", "empty"), "");
	CHECK_STR(nsh_config_get(cfg, "llm", "empty-quoted"), "");
	CHECK_STR(nsh_config_get(cfg, "llm", "url"), "http://h/?a=b&c=d");
	CHECK_STR(nsh_config_get(cfg, "llm", "hash"), "a # not a comment");
	CHECK_STR(nsh_config_get(cfg, "server", "listen"), "127.0.0.1:8080");
	CHECK_STR(nsh_config_get(cfg, "server", "max-body.bytes"), "10");
	/* a section may come back */
	CHECK_STR(nsh_config_get(cfg, "llm", "timeout"), "30s");
	CHECK_STR(nsh_config_get(cfg, "llm", "last"), "no newline at the end");
	/* names are case-insensitive */
	CHECK_STR(nsh_config_get(cfg, "LLM", "Api"), "https://example.net/v1");
	/* unset */
	CHECK(nsh_config_get(cfg, "llm", "nope") == NULL);
	CHECK(nsh_config_get(cfg, "nope", "api") == NULL);
	CHECK(nsh_config_get(cfg, "server", "api") == NULL);
	nsh_config_free(cfg);

	/* empty text and comments only */
	cfg = parse("");
	CHECK(cfg && nsh_config_get(cfg, "llm", "api") == NULL);
	nsh_config_free(cfg);
	cfg = parse("# only\n\n; comments\n");
	nsh_config_free(cfg);
	nsh_config_free(NULL);
}

static void test_errors(void)
{
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		int line;
		const char *msg;
	} cases[] = {
		{"k = v\n", 0, 1, "key 'k' is outside any [section]"},
		{"# c\n\n  api = x\n[llm]\n", 0, 3, "key 'api' is outside any [section]"},
		{"[a]\nx = 1\n\njunk\n", 0, 4, "expected 'key = value'"},
		{"[a]\n = 1\n", 0, 2, "expected 'key = value'"},
		{"[a]\nx = \"abc\n", 0, 2, "unterminated quoted value"},
		{"[a]\nx = \"abc\\\"\n", 0, 2, "unterminated quoted value"},
		{"[a]\nx = \"abc\\", 0, 2, "unterminated quoted value"},
		{"[a]\nx = \"a\" b\n", 0, 2, "unexpected text after the closing quote"},
		{"[a]\nx = \"a\\qb\"\n", 0, 2, "unknown escape '\\q' in quoted value"},
		{"[a b]\n", 0, 1, "invalid section name 'a b'"},
		{"[a]\n\n[b.c]\n", 0, 3, "invalid section name 'b.c'"},
		{"[]\n", 0, 1, "invalid section name ''"},
		{"[a\n", 0, 1, "expected '[section]'"},
		{"[a]\nk y = 1\n", 0, 2, "invalid key 'k y'"},
		{"[a]\nk/y = 1\n", 0, 2, "invalid key 'k/y'"},
		{"[a]\nx=1\ny=\0\n", 12, 3, "unexpected NUL byte"},
		{"[a]\nx = 1\ny = 2\nx = 3\n", 0, 4,
		 "duplicate key 'x' in [a] (first set on line 2)"},
		/* across a repeated section, in another case */
		{"[a]\nX = 1\n[b]\nx = 1\n[A]\nx = 2\n", 0, 6,
		 "duplicate key 'x' in [a] (first set on line 2)"},
		{"[s]\nk=1\nk=2\nk=3\n", 0, 3, "duplicate key 'k' in [s] (first set on line 2)"},
		/* the earliest problem is reported */
		{"[a]\nx=1\nx=2\ngarbage\n", 0, 3,
		 "duplicate key 'x' in [a] (first set on line 2)"},
		{"[a]\ngarbage\nx=1\nx=2\n", 0, 2, "expected 'key = value'"},
		{"[b]\nz=1\ny=1\n[a]\nz=1\ny=2\ny=3\nz=2\n", 0, 7,
		 "duplicate key 'y' in [a] (first set on line 6)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		struct nsh_err err = NSH_ERR_INIT;
		struct nsh_config *cfg = NULL;
		char want[256];
		int rc;

		snprintf(want, sizeof(want), "'" NAME "' line %d: %s", cases[i].line, cases[i].msg);
		rc = nsh_config_parse(cases[i].text, len, NAME, &cfg, &err);
		CHECK_INT(rc, NSH_EINVAL);
		CHECK_STR(err.msg, want);
		CHECK(cfg == NULL);
		nsh_config_free(cfg);
	}
}

static void test_size_cap(void)
{
	size_t n = NSH_CONFIG_MAX_BYTES;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_config *cfg = NULL;
	char *text = nsh_xmalloc(n + 1);

	/* exactly 1 MiB of comment lines parses */
	memset(text, '#', n + 1);
	for (size_t i = 63; i < n + 1; i += 64)
		text[i] = '\n';
	CHECK_INT(nsh_config_parse(text, n, NAME, &cfg, &err), 0);
	nsh_config_free(cfg);
	cfg = NULL;
	CHECK_INT(nsh_config_parse(text, n + 1, NAME, &cfg, &err), NSH_ETOOBIG);
	CHECK_STR(err.msg, "'" NAME "' is too big (1048577 bytes, limit 1048576)");
	CHECK(cfg == NULL);
	free(text);
}

static void test_env_override(void)
{
	struct nsh_config *cfg;

	setenv("NIGHTSHIFT_LLM_API", "http://from-env", 1);
	setenv("NIGHTSHIFT_SERVER_LISTEN", "0.0.0.0:1", 1);
	setenv("NIGHTSHIFT_LIMITS_MAX_TASKS_PER_DAY", "9", 1);
	setenv("NIGHTSHIFT_LLM_EMPTY", "", 1);
	cfg = parse("[llm]\napi = http://from-file\nmodel = m\nempty = full\n"
		    "[limits]\nmax-tasks.per_day = 3\n");
	unsetenv("NIGHTSHIFT_LLM_API");
	unsetenv("NIGHTSHIFT_SERVER_LISTEN");
	unsetenv("NIGHTSHIFT_LIMITS_MAX_TASKS_PER_DAY");
	unsetenv("NIGHTSHIFT_LLM_EMPTY");
	if (!cfg)
		return;
	/* the environment wins over the file... */
	CHECK_STR(nsh_config_get(cfg, "llm", "api"), "http://from-env");
	/* ...also for keys the file does not have */
	CHECK_STR(nsh_config_get(cfg, "server", "listen"), "0.0.0.0:1");
	/* '-' and '.' become '_' */
	CHECK_STR(nsh_config_get(cfg, "limits", "max-tasks.per_day"), "9");
	/* set to empty still overrides */
	CHECK_STR(nsh_config_get(cfg, "llm", "empty"), "");
	CHECK_STR(nsh_config_get(cfg, "llm", "model"), "m");

	/* a copy was taken at parse time: later changes do not show */
	setenv("NIGHTSHIFT_LLM_MODEL", "late", 1);
	CHECK_STR(nsh_config_get(cfg, "llm", "model"), "m");
	unsetenv("NIGHTSHIFT_LLM_MODEL");
	nsh_config_free(cfg);
}

static void test_typed(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_config *cfg;
	long long n = -1;
	uint64_t sz = 0;
	int64_t ms = 0;
	bool b = false;

	cfg = parse("[limits]\n"
		    "tasks = 12\n"
		    "neg = -3\n"
		    "bad = abc\n"
		    "huge = 99999999999999999999\n"
		    "trail = 5x\n"
		    "on = Yes\n"
		    "maybe = maybe\n"
		    "size = 25M\n"
		    "badsize = 10KB\n"
		    "dur = 1h30m\n"
		    "baddur = 5x\n");
	if (!cfg)
		return;

	CHECK_INT(nsh_config_get_int(cfg, "limits", "tasks", 7, &n, &err), 0);
	CHECK_INT(n, 12);
	CHECK_INT(nsh_config_get_int(cfg, "limits", "neg", 7, &n, &err), 0);
	CHECK_INT(n, -3);
	CHECK_INT(nsh_config_get_int(cfg, "limits", "unset", 7, &n, &err), 0);
	CHECK_INT(n, 7);
	n = 100;
	CHECK_INT(nsh_config_get_int(cfg, "limits", "bad", 7, &n, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "invalid value 'abc' for 'limits.bad' (from '" NAME
			   "' line 4): expected an integer");
	CHECK_INT(n, 100);
	CHECK_INT(nsh_config_get_int(cfg, "limits", "huge", 7, &n, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "'99999999999999999999'") != NULL);
	CHECK_INT(nsh_config_get_int(cfg, "limits", "trail", 7, &n, &err), NSH_EINVAL);
	CHECK_INT(n, 100);

	CHECK_INT(nsh_config_get_bool(cfg, "limits", "on", false, &b, &err), 0);
	CHECK(b);
	CHECK_INT(nsh_config_get_bool(cfg, "limits", "unset", true, &b, &err), 0);
	CHECK(b);
	CHECK_INT(nsh_config_get_bool(cfg, "limits", "maybe", false, &b, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "invalid value 'maybe' for 'limits.maybe' (from '" NAME
			   "' line 8): expected true or false");

	CHECK_INT(nsh_config_get_size(cfg, "limits", "size", 1, &sz, &err), 0);
	CHECK_INT(sz, 25 << 20);
	CHECK_INT(nsh_config_get_size(cfg, "limits", "unset", 4096, &sz, &err), 0);
	CHECK_INT(sz, 4096);
	CHECK_INT(nsh_config_get_size(cfg, "limits", "badsize", 1, &sz, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "invalid value '10KB' for 'limits.badsize' (from '" NAME
			   "' line 10): expected a size such as '512', '10K', '25M' or '10G'");

	CHECK_INT(nsh_config_get_duration(cfg, "limits", "dur", 1, &ms, &err), 0);
	CHECK_INT(ms, 5400000);
	CHECK_INT(nsh_config_get_duration(cfg, "limits", "unset", 1500, &ms, &err), 0);
	CHECK_INT(ms, 1500);
	ms = 3;
	CHECK_INT(nsh_config_get_duration(cfg, "limits", "baddur", 1, &ms, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "invalid value '5x' for 'limits.baddur' (from '" NAME
			      "' line 12): expected a duration") != NULL);
	CHECK_INT(ms, 3);
	nsh_config_free(cfg);

	/* a bad value from the environment names the variable */
	setenv("NIGHTSHIFT_LIMITS_TASKS", "abc", 1);
	cfg = parse("[limits]\ntasks = 12\n");
	unsetenv("NIGHTSHIFT_LIMITS_TASKS");
	if (!cfg)
		return;
	CHECK_INT(nsh_config_get_int(cfg, "limits", "tasks", 7, &n, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "invalid value 'abc' for 'limits.tasks' (from NIGHTSHIFT_LIMITS_TASKS): "
			   "expected an integer");
	nsh_config_free(cfg);
}

static void test_bool_forms(void)
{
	static const char *yes[] = {"true", "yes", "on", "1", "TRUE", "On", "yEs"};
	static const char *no[] = {"false", "no", "off", "0", "FALSE", "Off", "NO"};
	static const char *bad[] = {"", "2", "y", "n", "truee", "enabled", " true"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct nsh_config *cfg;
		bool b = false;

		setenv("NIGHTSHIFT_A_B", yes[i], 1);
		cfg = parse("");
		CHECK_INT(nsh_config_get_bool(cfg, "a", "b", false, &b, NULL), 0);
		CHECK(b);
		nsh_config_free(cfg);

		setenv("NIGHTSHIFT_A_B", no[i], 1);
		cfg = parse("");
		CHECK_INT(nsh_config_get_bool(cfg, "a", "b", true, &b, NULL), 0);
		CHECK(!b);
		nsh_config_free(cfg);

		setenv("NIGHTSHIFT_A_B", bad[i], 1);
		cfg = parse("");
		CHECK_INT(nsh_config_get_bool(cfg, "a", "b", true, &b, NULL), NSH_EINVAL);
		nsh_config_free(cfg);
	}
	unsetenv("NIGHTSHIFT_A_B");
}

static void test_sizes(void)
{
	static const struct {
		const char *s;
		uint64_t n;
	} ok[] = {
		{"0", 0},
		{"512", 512},
		{"10K", 10240},
		{"10k", 10240},
		{"25M", 25ULL << 20},
		{"10G", 10ULL << 30},
		{"2T", 2ULL << 40},
		{"18446744073709551615", UINT64_MAX},
		{"16777215T", 16777215ULL << 40},
	};
	static const char *bad[] = {"",
				    "K",
				    "-1",
				    "+1",
				    "1.5M",
				    "10KB",
				    "10 K",
				    "10KiB",
				    "10X",
				    "0x10",
				    "16777216T",
				    "18446744073709551616",
				    "99999999999999999999999"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct nsh_config *cfg;
		uint64_t n = 1;

		setenv("NIGHTSHIFT_A_B", ok[i].s, 1);
		cfg = parse("");
		CHECK_INT(nsh_config_get_size(cfg, "a", "b", 7, &n, NULL), 0);
		CHECK(n == ok[i].n);
		nsh_config_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nsh_err err = NSH_ERR_INIT;
		struct nsh_config *cfg;
		uint64_t n = 1;

		setenv("NIGHTSHIFT_A_B", bad[i], 1);
		cfg = parse("");
		CHECK_INT(nsh_config_get_size(cfg, "a", "b", 7, &n, &err), NSH_EINVAL);
		CHECK(strstr(err.msg, "(from NIGHTSHIFT_A_B)") != NULL);
		CHECK_INT(n, 1);
		nsh_config_free(cfg);
	}
	unsetenv("NIGHTSHIFT_A_B");
}

static void test_load(void)
{
	char *dir = t_tmpdir();
	char *path = nsh_xasprintf("%s/config", dir);
	char *missing = nsh_xasprintf("%s/nope/config", dir);
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_config *cfg = NULL;
	char *want;

	write_file(path, "[llm]\napi = http://file\n[limits]\ntasks = x\n", 43);
	CHECK_INT(nsh_config_load(path, &cfg, &err), 0);
	CHECK_STR(nsh_config_get(cfg, "llm", "api"), "http://file");
	{
		long long n;

		CHECK_INT(nsh_config_get_int(cfg, "limits", "tasks", 1, &n, &err), NSH_EINVAL);
		want = nsh_xasprintf("invalid value 'x' for 'limits.tasks' (from '%s' line 4): "
				     "expected an integer",
				     path);
		CHECK_STR(err.msg, want);
		free(want);
	}
	nsh_config_free(cfg);

	/* syntax errors name the path */
	write_file(path, "[llm]\napi\n", 10);
	cfg = NULL;
	CHECK_INT(nsh_config_load(path, &cfg, &err), NSH_EINVAL);
	want = nsh_xasprintf("'%s' line 2: expected 'key = value'", path);
	CHECK_STR(err.msg, want);
	free(want);
	CHECK(cfg == NULL);

	/* a missing file is an empty configuration; the environment still applies */
	setenv("NIGHTSHIFT_LLM_API", "http://env", 1);
	cfg = NULL;
	CHECK_INT(nsh_config_load(missing, &cfg, &err), 0);
	unsetenv("NIGHTSHIFT_LLM_API");
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK_STR(nsh_config_get(cfg, "llm", "api"), "http://env");
		CHECK(nsh_config_get(cfg, "llm", "model") == NULL);
	}
	nsh_config_free(cfg);

	/* a directory is not a file */
	cfg = NULL;
	CHECK(nsh_config_load(dir, &cfg, &err) < 0);
	CHECK(strstr(err.msg, "cannot read config '") != NULL);
	CHECK(cfg == NULL);

	/* over 1 MiB */
	{
		size_t n = NSH_CONFIG_MAX_BYTES + 100;
		char *big = nsh_xmalloc(n);

		memset(big, '#', n);
		write_file(path, big, n);
		free(big);
		CHECK_INT(nsh_config_load(path, &cfg, &err), NSH_ETOOBIG);
		CHECK(strstr(err.msg, "is too big") != NULL);
	}

	rm_tree(dir);
	free(path);
	free(missing);
	free(dir);
}

/* Run nsh_home_resolve() and compare with @want. */
static void check_home(const char *flag, const char *want)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *home = NULL;
	int rc = nsh_home_resolve(flag, &home, &err);

	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK_STR(home, want);
	free(home);
}

static void test_home_resolve(void)
{
	char *old_home = getenv("HOME") ? nsh_xstrdup(getenv("HOME")) : NULL;
	char *old_cwd = getcwd(NULL, 0);
	char *dir = t_tmpdir();
	char *cwd, *want;

	setenv("HOME", "/h/user", 1);
	setenv("NIGHTSHIFT_HOME", "/env/home", 1);
	check_home("/flag/home", "/flag/home");
	check_home(NULL, "/env/home");
	check_home("", "/env/home");
	unsetenv("NIGHTSHIFT_HOME");
	check_home(NULL, "/h/user/.nightshift");
	setenv("NIGHTSHIFT_HOME", "", 1);
	check_home(NULL, "/h/user/.nightshift");
	check_home("/flag//home/./x/", "/flag/home/x");
	check_home("/", "/");

	/* no HOME: the password database */
	unsetenv("HOME");
	{
		struct passwd *pw = getpwuid(getuid());

		if (pw && pw->pw_dir && *pw->pw_dir) {
			want = nsh_xasprintf("%s/.nightshift",
					     strcmp(pw->pw_dir, "/") ? pw->pw_dir : "");
			check_home(NULL, want);
			free(want);
		}
	}

	/* relative paths are made absolute against the working directory */
	CHECK_INT(chdir(dir), 0);
	cwd = getcwd(NULL, 0);
	want = nsh_xasprintf("%s/rel/home", cwd);
	check_home("rel/home", want);
	check_home("./rel//home/", want);
	free(want);
	setenv("NIGHTSHIFT_HOME", "envrel", 1);
	want = nsh_xasprintf("%s/envrel", cwd);
	check_home(NULL, want);
	free(want);
	check_home(".", cwd);
	unsetenv("NIGHTSHIFT_HOME");

	CHECK_INT(chdir(old_cwd), 0);
	if (old_home)
		setenv("HOME", old_home, 1);
	rm_tree(dir);
	free(cwd);
	free(old_cwd);
	free(old_home);
	free(dir);
}

static int mode_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

static void test_home_ensure(void)
{
	char *dir = t_tmpdir();
	char *home = nsh_xasprintf("%s/a/b/home", dir);
	char *parent = nsh_xasprintf("%s/a/b", dir);
	char *strict = nsh_xasprintf("%s/strict/", dir);
	char *file = nsh_xasprintf("%s/file", dir);
	char *under_file = nsh_xasprintf("%s/file/home", dir);
	struct nsh_err err = NSH_ERR_INIT;
	mode_t old = umask(022);
	struct stat st;

	CHECK_INT(nsh_home_ensure(home, &err), 0);
	CHECK(stat(home, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK_INT(mode_of(home), 0700);
	CHECK_INT(mode_of(parent), 0755);
	/* an existing directory is fine and left alone */
	CHECK_INT(chmod(home, 0750), 0);
	CHECK_INT(nsh_home_ensure(home, &err), 0);
	CHECK_INT(mode_of(home), 0750);

	/* 0700 whatever the umask; a trailing slash is fine */
	umask(0277);
	CHECK_INT(nsh_home_ensure(strict, &err), 0);
	CHECK_INT(mode_of(strict), 0700);
	umask(022);

	/* a file in the way */
	write_file(file, "x", 1);
	CHECK_INT(nsh_home_ensure(file, &err), NSH_EEXIST);
	CHECK(strstr(err.msg, "exists and is not a directory") != NULL);
	CHECK(nsh_home_ensure(under_file, &err) < 0);
	CHECK(strstr(err.msg, "Not a directory") != NULL);
	CHECK_INT(nsh_home_ensure("", &err), NSH_EINVAL);

	umask(old);
	rm_tree(dir);
	free(home);
	free(parent);
	free(strict);
	free(file);
	free(under_file);
	free(dir);
}

/* Start from an environment without NIGHTSHIFT_* variables. */
static void clear_env(void)
{
	for (;;) {
		char *name = NULL;

		for (char **e = environ; *e; e++) {
			if (!strncmp(*e, "NIGHTSHIFT_", 11)) {
				name = nsh_xstrndup(*e, strcspn(*e, "="));
				break;
			}
		}
		if (!name)
			break;
		unsetenv(name);
		free(name);
	}
}

int main(void)
{
	clear_env();
	RUN(test_basic);
	RUN(test_errors);
	RUN(test_size_cap);
	RUN(test_env_override);
	RUN(test_typed);
	RUN(test_bool_forms);
	RUN(test_sizes);
	RUN(test_load);
	RUN(test_home_resolve);
	RUN(test_home_ensure);
	return TEST_DONE();
}
