/*
 * Tests for verify's detection, criteria and whole pipeline: what each
 * kind of checkout plans, verify.yml and devfile.yaml, the criteria
 * format, and nsh_verify_run() on a Node project with a baseline, a
 * flaky test, a broken one, a planted secret, a skipped test, coverage
 * and every kind of criterion; then a missing tool and a timeout.
 */
#include "verify/verify.h"
#include "verify/verify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "forge/git.h"
#include "sandbox/sandbox.h"
#include "secrets/secrets.h"
#include "test.h"

#include "core/banned.h"

static char *top;

static char *project(const char *name)
{
	char *dir = nsh_xasprintf("%s/%s", top, name);
	struct nsh_err err = NSH_ERR_INIT;

	nsh_fs_remove_tree(dir, &err);
	nsh_fs_mkdir_p(dir, 0755, &err);
	return dir;
}

static void put(const char *dir, const char *rel, const char *text)
{
	char *p = nsh_xasprintf("%s/%s", dir, rel);
	char *d = nsh_xstrdup(p);
	struct nsh_err err = NSH_ERR_INIT;

	*strrchr(d, '/') = '\0';
	nsh_fs_mkdir_p(d, 0755, &err);
	CHECK_INT(nsh_fs_write_atomic(p, text, strlen(text), 0644, &err), 0);
	free(d);
	free(p);
}

static const struct nsh_verify_command *cmd(const struct nsh_verify_plan *p,
					    enum nsh_verify_step step)
{
	for (size_t i = 0; i < p->nr; i++)
		if (p->v[i].step == step)
			return &p->v[i];
	return NULL;
}

/* The command's argv joined by spaces, for comparisons. */
static char *line(const struct nsh_verify_command *c)
{
	struct nsh_buf b = NSH_BUF_INIT;

	for (size_t i = 0; c && i < c->argv.nr; i++) {
		if (i)
			nsh_buf_addch(&b, ' ');
		nsh_buf_adds(&b, c->argv.v[i]);
	}
	return nsh_buf_detach(&b, NULL);
}

static void expect_cmd(const struct nsh_verify_plan *p, enum nsh_verify_step step, const char *argv,
		       enum nsh_verify_format fmt)
{
	const struct nsh_verify_command *c = cmd(p, step);
	char *l = line(c);

	CHECK_STR(l, argv);
	CHECK(c && c->format == fmt);
	free(l);
}

/* ---- detection ---- */

static void unlink_in(const char *dir, const char *rel)
{
	char *p = nsh_xasprintf("%s/%s", dir, rel);

	CHECK_INT(unlink(p), 0);
	free(p);
}

static void test_detect_node(void)
{
	struct nsh_verify_plan p;
	struct nsh_err err = NSH_ERR_INIT;
	char *dir = project("node-yarn");

	/* yarn by its lockfile; mocha gets the JSON reporter into the scratch directory */
	put(dir, "package.json",
	    "{\"scripts\": {\"test\": \"mocha test/\", \"lint\": \"eslint . && prettier -c .\","
	    " \"build\": \"tsc -b\", \"typecheck\": \"tsc --noEmit\"}}");
	put(dir, "yarn.lock", "");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	CHECK_STR(p.scratch, ".nightshift-verify");
	CHECK(nsh_strvec_find(&p.ecosystems, "node") >= 0);
	expect_cmd(&p, NSH_VERIFY_STEP_BUILD, "yarn run build", NSH_VERIFY_FMT_EXIT);
	expect_cmd(&p, NSH_VERIFY_STEP_TEST,
		   "yarn run test --reporter json --reporter-option "
		   "output=.nightshift-verify/mocha.json",
		   NSH_VERIFY_FMT_MOCHA_JSON);
	CHECK_STR(cmd(&p, NSH_VERIFY_STEP_TEST)->report, ".nightshift-verify/mocha.json");
	/* a lint script of two commands runs as it is, its output recognised */
	expect_cmd(&p, NSH_VERIFY_STEP_LINT, "yarn run lint", NSH_VERIFY_FMT_AUTO);
	expect_cmd(&p, NSH_VERIFY_STEP_TYPES, "yarn run typecheck", NSH_VERIFY_FMT_TSC);
	CHECK(p.nr == 4 && p.v[0].step == NSH_VERIFY_STEP_BUILD &&
	      p.v[3].step == NSH_VERIFY_STEP_TYPES);
	CHECK(p.notes.nr == 0);
	nsh_verify_plan_release(&p);
	free(dir);

	/* npm, jest, eslint and tsc configured without scripts, dependencies not installed */
	dir = project("node-npm");
	put(dir, "package.json",
	    "{\"scripts\": {\"test\": \"jest\"}, \"devDependencies\": {\"jest\": \"^29\"}}");
	put(dir, ".eslintrc.json", "{}");
	put(dir, "tsconfig.json", "{}");
	put(dir, ".git/HEAD", "ref: refs/heads/main\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	CHECK_STR(p.scratch, ".git/nightshift-verify");
	expect_cmd(&p, NSH_VERIFY_STEP_TEST,
		   "npm run test -- --json --testLocationInResults "
		   "--outputFile=.git/nightshift-verify/jest.json",
		   NSH_VERIFY_FMT_JEST_JSON);
	expect_cmd(&p, NSH_VERIFY_STEP_LINT,
		   "eslint -f json -o .git/nightshift-verify/eslint.json .",
		   NSH_VERIFY_FMT_ESLINT_JSON);
	expect_cmd(&p, NSH_VERIFY_STEP_TYPES, "tsc --noEmit --pretty false -p .",
		   NSH_VERIFY_FMT_TSC);
	CHECK(p.notes.nr == 1 && strstr(p.notes.v[0], "not installed"));
	nsh_verify_plan_release(&p);
	free(dir);

	/* pnpm; node's own runner; the npm default script is no test */
	dir = project("node-pnpm");
	put(dir, "package.json", "{\"scripts\": {\"test\": \"node --test\"}}");
	put(dir, "pnpm-lock.yaml", "");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	expect_cmd(&p, NSH_VERIFY_STEP_TEST, "pnpm run test", NSH_VERIFY_FMT_TAP);
	/* a re-run appends --test-name-pattern: no "--" with pnpm */
	CHECK(cmd(&p, NSH_VERIFY_STEP_TEST)->select == NSH_VERIFY_SELECT_NODE_TEST &&
	      !cmd(&p, NSH_VERIFY_STEP_TEST)->select_sep);
	nsh_verify_plan_release(&p);
	/* file names after node --test: appended options would go to the files */
	put(dir, "package.json", "{\"scripts\": {\"test\": \"node --test test/\"}}");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	CHECK(cmd(&p, NSH_VERIFY_STEP_TEST)->select == NSH_VERIFY_SELECT_NONE);
	nsh_verify_plan_release(&p);
	/* no lock file: the packageManager field decides, a package-lock.json wins */
	unlink_in(dir, "pnpm-lock.yaml");
	put(dir, "package.json",
	    "{\"packageManager\": \"yarn@1.22.22\", \"scripts\": {\"test\": \"node --test "
	    "--test-concurrency=1\"}}");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	expect_cmd(&p, NSH_VERIFY_STEP_TEST, "yarn run test", NSH_VERIFY_FMT_TAP);
	CHECK(cmd(&p, NSH_VERIFY_STEP_TEST)->select == NSH_VERIFY_SELECT_NODE_TEST);
	nsh_verify_plan_release(&p);
	put(dir, "package-lock.json", "{}");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	expect_cmd(&p, NSH_VERIFY_STEP_TEST, "npm run test", NSH_VERIFY_FMT_TAP);
	CHECK(cmd(&p, NSH_VERIFY_STEP_TEST)->select_sep);
	nsh_verify_plan_release(&p);
	unlink_in(dir, "package-lock.json");
	put(dir, "package.json",
	    "{\"scripts\": {\"test\": \"echo \\\"Error: no test specified\\\" && exit 1\"}}");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	CHECK(cmd(&p, NSH_VERIFY_STEP_TEST) == NULL);
	nsh_verify_plan_release(&p);
	/* a broken package.json is a note, not an error */
	put(dir, "package.json", "{\"scripts\": ");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	CHECK(p.notes.nr == 1 && strstr(p.notes.v[0], "package.json"));
	nsh_verify_plan_release(&p);
	free(dir);
}

static void test_detect_others(void)
{
	struct nsh_verify_plan p;
	struct nsh_err err = NSH_ERR_INIT;
	const struct nsh_verify_command *c;
	char *dir = project("python");
	char *l;

	put(dir, "requirements-dev.txt", "pytest==7.2\nflake8\nmypy>=1.0\n");
	put(dir, ".coveragerc", "[run]\nsource = app\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	CHECK(nsh_strvec_find(&p.ecosystems, "python") >= 0);
	c = cmd(&p, NSH_VERIFY_STEP_TEST);
	l = line(c);
	CHECK_STR(l, "python3 -m coverage run -m pytest -q -p no:cacheprovider -o "
		     "junit_family=xunit1 --junitxml=.nightshift-verify/pytest.xml");
	free(l);
	CHECK(c && c->format == NSH_VERIFY_FMT_JUNIT_XML &&
	      c->cov_format == NSH_VERIFY_COV_PY_JSON);
	CHECK(c && c->then.nr && !strcmp(c->then.v[3], "json"));
	CHECK(c && c->alt.nr && !strcmp(c->alt.v[0], "python3-coverage"));
	expect_cmd(&p, NSH_VERIFY_STEP_LINT, "flake8 .", NSH_VERIFY_FMT_LINES);
	CHECK(cmd(&p, NSH_VERIFY_STEP_TYPES) &&
	      !strcmp(cmd(&p, NSH_VERIFY_STEP_TYPES)->argv.v[0], "mypy"));
	nsh_verify_plan_release(&p);
	/* ruff wins over flake8 when configured; no coverage, no mypy */
	free(dir);
	dir = project("python-ruff");
	put(dir, "pyproject.toml", "[project]\nname = \"x\"\n\n[tool.ruff]\nline-length = 100\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	expect_cmd(&p, NSH_VERIFY_STEP_LINT, "ruff check --output-format=concise --no-cache .",
		   NSH_VERIFY_FMT_LINES);
	CHECK(cmd(&p, NSH_VERIFY_STEP_TYPES) == NULL);
	l = line(cmd(&p, NSH_VERIFY_STEP_TEST));
	CHECK(!strncmp(l, "python3 -m pytest ", 18));
	free(l);
	nsh_verify_plan_release(&p);
	free(dir);

	dir = project("go");
	put(dir, "go.mod", "// a comment\nmodule \"example.com/shop\"\n\ngo 1.19\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	CHECK_STR(p.go_module, "example.com/shop");
	expect_cmd(&p, NSH_VERIFY_STEP_TEST,
		   "go test -json -coverprofile=.nightshift-verify/cover.out ./...",
		   NSH_VERIFY_FMT_GO_JSON);
	expect_cmd(&p, NSH_VERIFY_STEP_LINT, "go vet ./...", NSH_VERIFY_FMT_LINES);
	nsh_verify_plan_release(&p);
	free(dir);

	dir = project("rust-java-make");
	put(dir, "Cargo.toml", "[package]\nname = \"x\"\n");
	put(dir, "pom.xml", "<project/>\n");
	put(dir, "Makefile", "all:\n\ttrue\ntest: all\n\t./run-tests\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	CHECK_INT(p.nr, 3); /* cargo test, mvn test, cargo clippy; make test is not needed */
	CHECK(cmd(&p, NSH_VERIFY_STEP_TEST) &&
	      !strcmp(cmd(&p, NSH_VERIFY_STEP_TEST)->name, "cargo test"));
	CHECK(p.nr == 3 && !strcmp(p.v[1].name, "mvn test") &&
	      !strcmp(p.v[1].report, "target/surefire-reports/") &&
	      p.v[1].format == NSH_VERIFY_FMT_JUNIT_XML);
	expect_cmd(&p, NSH_VERIFY_STEP_LINT, "cargo clippy --quiet --message-format=short",
		   NSH_VERIFY_FMT_LINES);
	CHECK(nsh_strvec_find(&p.ecosystems, "make") >= 0);
	nsh_verify_plan_release(&p);
	free(dir);

	dir = project("make-only");
	put(dir, "Makefile", "test:\n\t./t.sh\nCC := gcc\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	expect_cmd(&p, NSH_VERIFY_STEP_TEST, "make test", NSH_VERIFY_FMT_AUTO);
	nsh_verify_plan_release(&p);
	free(dir);

	/* Maven and Gradle offline, Maven's local repository from verify.yml */
	dir = project("java-offline");
	put(dir, "pom.xml", "<project/>\n");
	put(dir, ".nightshift/verify.yml",
	    "offline: true\nmaven:\n  repository: /usr/share/maven-repo\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	expect_cmd(&p, NSH_VERIFY_STEP_TEST,
		   "mvn -B -q -o -Dmaven.repo.local=/usr/share/maven-repo test",
		   NSH_VERIFY_FMT_JUNIT_XML);
	CHECK(cmd(&p, NSH_VERIFY_STEP_TEST)->select == NSH_VERIFY_SELECT_MAVEN);
	nsh_verify_plan_release(&p);
	put(dir, ".nightshift/verify.yml", "offline: false\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	expect_cmd(&p, NSH_VERIFY_STEP_TEST, "mvn -B -q test", NSH_VERIFY_FMT_JUNIT_XML);
	nsh_verify_plan_release(&p);
	put(dir, ".nightshift/verify.yml", "offline: sometimes\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "'offline' must be true or false") != NULL);
	nsh_err_clear(&err);
	put(dir, ".nightshift/verify.yml", "maven: /usr/share/maven-repo\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), NSH_EINVAL);
	nsh_err_clear(&err);
	unlink_in(dir, "pom.xml");
	put(dir, "build.gradle", "\n");
	put(dir, ".nightshift/verify.yml", "offline: true\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	expect_cmd(&p, NSH_VERIFY_STEP_TEST, "gradle test --console=plain --offline",
		   NSH_VERIFY_FMT_JUNIT_XML);
	nsh_verify_plan_release(&p);
	free(dir);

	/* nothing at all */
	dir = project("empty");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	CHECK_INT(p.nr, 0);
	nsh_verify_plan_release(&p);
	free(dir);
	CHECK_INT(nsh_verify_detect("/nonexistent/dir", &p, &err), NSH_ENOTFOUND);
}

/* mvn re-runs name tests by -Dtest=Class#method, the class a file of src/test/java */
static void test_select_maven(void)
{
	struct nsh_verify_command c;
	struct nsh_strvec names = NSH_STRVEC_INIT, argv, alt;
	char *dir = project("maven-select");

	memset(&c, 0, sizeof(c));
	nsh_strvec_init(&c.argv);
	nsh_strvec_init(&c.alt);
	c.step = NSH_VERIFY_STEP_TEST;
	c.select = NSH_VERIFY_SELECT_MAVEN;
	nsh_strvec_pushl(&c.argv, "mvn", "-B", "-q", "test", NULL);
	put(dir, "src/test/java/com/acme/CalcTest.java", "class CalcTest {}\n");
	put(dir, "src/test/java/Outer.java", "class Outer {}\n");
	nsh_strvec_pushl(&names, "com.acme.CalcTest.subtracts", "com.acme.CalcTest.adds[1]",
			 "com.acme.CalcTest.adds[2]", "Outer$Inner.works()",
			 "com.acme.CalcTest.com.acme.CalcTest", NULL);
	CHECK(nsh_vrf_narrow(dir, &c, &names, &argv, &alt));
	CHECK_INT(argv.nr, 6);
	CHECK(argv.nr == 6 && !strcmp(argv.v[3], "test") &&
	      !strcmp(argv.v[4], "-Dtest=com.acme.CalcTest#subtracts,com.acme.CalcTest#adds*,"
				 "Outer$Inner#works*,com.acme.CalcTest") &&
	      !strcmp(argv.v[5], "-Dsurefire.failIfNoSpecifiedTests=false"));
	nsh_strvec_release(&argv);
	nsh_strvec_release(&alt);
	/* a class with no test source (another module) runs everything again */
	nsh_strvec_push(&names, "com.acme.OtherTest.x");
	CHECK(!nsh_vrf_narrow(dir, &c, &names, &argv, &alt));
	nsh_strvec_release(&names);
	nsh_strvec_pushl(&names, "com.acme.CalcTest.x,y", NULL);
	CHECK(nsh_vrf_narrow(dir, &c, &names, &argv, &alt));
	CHECK(argv.nr == 6 && !strcmp(argv.v[4], "-Dtest=com.acme.CalcTest"));
	nsh_strvec_release(&argv);
	nsh_strvec_release(&alt);
	nsh_strvec_release(&names);
	nsh_strvec_release(&c.argv);
	nsh_strvec_release(&c.alt);
	free(dir);
}

static void test_detect_devfile_docker(void)
{
	struct nsh_verify_plan p;
	struct nsh_err err = NSH_ERR_INIT;
	const struct nsh_verify_command *c;
	char *dir = project("devfile");
	char *saved = nsh_xstrdup(getenv("PATH") ? getenv("PATH") : "");
	char *l;

	put(dir, "devfile.yaml",
	    "schemaVersion: 2.2.0\n"
	    "commands:\n"
	    "  - id: build-api\n"
	    "    exec:\n"
	    "      component: runtime\n"
	    "      commandLine: npm ci && npm run build\n"
	    "      workingDir: ${PROJECT_SOURCE}/api\n"
	    "      group: {kind: build, isDefault: true}\n"
	    "  - id: test-api\n"
	    "    exec:\n"
	    "      commandLine: npm test\n"
	    "      workingDir: /projects/shop\n"
	    "      group:\n"
	    "        kind: test\n"
	    "  - id: run\n"
	    "    exec:\n"
	    "      commandLine: node server.js\n"
	    "      group: {kind: run}\n"
	    "  - id: all\n"
	    "    composite:\n"
	    "      commands: [build-api, test-api]\n");
	put(dir, "package.json", "{\"scripts\": {\"test\": \"node --test\", \"build\": \"tsc\"}}");
	put(dir, "Dockerfile",
	    "FROM node:20\n"
	    "# the app\n"
	    "ENV NODE_ENV=production \\\n"
	    "    PORT=8080\n"
	    "WORKDIR /app\n"
	    "COPY . .\n"
	    "RUN npm ci\n");
	/* no container engine on this PATH */
	setenv("PATH", top, 1);
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	setenv("PATH", saved, 1);
	CHECK(nsh_strvec_find(&p.ecosystems, "devfile") >= 0);
	CHECK(nsh_strvec_find(&p.ecosystems, "docker") >= 0);
	c = cmd(&p, NSH_VERIFY_STEP_BUILD);
	l = line(c);
	CHECK_STR(l, "sh -c npm ci && npm run build");
	CHECK(c && c->cwd && !strcmp(c->cwd, "api"));
	free(l);
	c = cmd(&p, NSH_VERIFY_STEP_TEST);
	l = line(c);
	CHECK_STR(l, "sh -c npm test"); /* the devfile's, not package.json's */
	CHECK(c && !c->cwd && !strcmp(c->source, "devfile.yaml"));
	free(l);
	CHECK_INT(p.nr, 2);
	CHECK_INT(p.hints.nr, 4);
	if (p.hints.nr == 4) {
		CHECK_STR(p.hints.v[0], "devfile.yaml: run command: node server.js");
		CHECK_STR(p.hints.v[1], "Dockerfile:3: ENV NODE_ENV=production PORT=8080");
		CHECK_STR(p.hints.v[2], "Dockerfile:5: WORKDIR /app");
		CHECK_STR(p.hints.v[3], "Dockerfile:7: RUN npm ci");
	}
	{
		bool composite = false, engine = false;

		for (size_t i = 0; i < p.notes.nr; i++) {
			composite |= strstr(p.notes.v[i], "composite command 'all'") != NULL;
			engine |= strstr(p.notes.v[i], "no container engine") != NULL;
		}
		CHECK(composite);
		CHECK(engine);
	}
	nsh_verify_plan_release(&p);
	free(saved);
	free(dir);
}

static void test_verify_yml(void)
{
	struct nsh_verify_plan p;
	struct nsh_err err = NSH_ERR_INIT;
	const struct nsh_verify_command *c;
	char *dir = project("yml");
	char *l;

	put(dir, "package.json",
	    "{\"scripts\": {\"test\": \"node --test\", \"lint\": \"eslint .\"}}");
	put(dir, "go.mod", "module x\n");
	put(dir, ".nightshift/verify.yml",
	    "commands:\n"
	    "  test: npm run test:ci\n"
	    "  lint: [npx, eslint, -f, json, .]\n"
	    "  types: none\n"
	    "format:\n"
	    "  test: junit-xml\n"
	    "  lint: eslint-json\n"
	    "report:\n"
	    "  test: reports/\n"
	    "coverage: coverage/lcov.info\n"
	    "timeout: 90s\n"
	    "skip: [build, sql]\n"
	    "allow:\n"
	    "  secrets:\n"
	    "    - test/fixtures/\n"
	    "    - {path: 'docs/*', rule: generic-secret}\n"
	    "    - fingerprint: 0123456789ab\n"
	    "  sql: [migrations/]\n"
	    "criteria:\n"
	    "  - id: AC1\n"
	    "    text: no new failures\n"
	    "    check: {kind: no_new_failures}\n");
	CHECK_INT(nsh_verify_detect(dir, &p, &err), 0);
	c = cmd(&p, NSH_VERIFY_STEP_TEST);
	l = line(c);
	CHECK_STR(l, "sh -c npm run test:ci");
	free(l);
	CHECK(c && c->format == NSH_VERIFY_FMT_JUNIT_XML && c->report &&
	      !strcmp(c->report, "reports/"));
	CHECK(c && c->coverage && !strcmp(c->coverage, "coverage/lcov.info") &&
	      c->cov_format == NSH_VERIFY_COV_LCOV);
	expect_cmd(&p, NSH_VERIFY_STEP_LINT, "npx eslint -f json .", NSH_VERIFY_FMT_ESLINT_JSON);
	/* go's commands are replaced as well: the override is per step */
	CHECK_INT(p.nr, 2);
	CHECK_INT(p.config.timeout_ms, 90000);
	CHECK(nsh_strvec_find(&p.config.skip, "sql") >= 0);
	CHECK_INT(p.config.allow_secrets.nr, 3);
	CHECK(nsh_verify_allowed(&p.config.allow_secrets, "test/fixtures/a/b.js", "aws-access-key",
				 "ffffffffffff"));
	CHECK(nsh_verify_allowed(&p.config.allow_secrets, "docs/x/y.md", "generic-secret", NULL));
	CHECK(!nsh_verify_allowed(&p.config.allow_secrets, "docs/x/y.md", "github-token", NULL));
	CHECK(nsh_verify_allowed(&p.config.allow_secrets, "src/a.js", "github-token",
				 "0123456789ab"));
	CHECK(!nsh_verify_allowed(&p.config.allow_secrets, "src/a.js", "github-token",
				  "0123456789ac"));
	CHECK(nsh_verify_allowed(&p.config.allow_sql, "migrations/001.js", "sqli-concat", NULL));
	CHECK(json_is_array(p.config.criteria) && json_array_size(p.config.criteria) == 1);
	nsh_verify_plan_release(&p);

	/* mistakes are errors that name the file and the field */
	{
		static const char *const bad[][2] = {
			{"commands:\n  deploy: x\n", "unknown step 'deploy'"},
			{"commands:\n  test: x\nformat:\n  test: xml\n", "unknown format 'xml'"},
			{"skip: [lint, everything]\n", "unknown name 'everything'"},
			{"timeout: soon\n", "timeout"},
			{"allow:\n  secrets: {path: x}\n", "'allow.secrets' must be a list"},
			{"allow:\n  sql: [{}]\n", "give a path, a rule or a fingerprint"},
			{"docker: maybe\n", "'docker' is 'build' or 'hints'"},
			{"commands: [1, 2\n", "invalid yaml at line"},
			{"- just\n- a list\n", "expected a mapping"},
			{"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
			 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c]\n"
			 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e]\n",
			 "more than"},
		};

		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			int rc;

			put(dir, ".nightshift/verify.yml", bad[k][0]);
			nsh_err_clear(&err);
			rc = nsh_verify_detect(dir, &p, &err);
			CHECK(rc == NSH_EINVAL || rc == NSH_ETOOBIG);
			if (!strstr(err.msg, bad[k][1]))
				fprintf(stderr, "  '%s' does not say '%s'\n", err.msg, bad[k][1]);
			CHECK(strstr(err.msg, bad[k][1]) != NULL);
			if (!rc)
				nsh_verify_plan_release(&p);
		}
	}
	free(dir);
}

/* ---- criteria ---- */

static void test_criteria_format(void)
{
	static const char *const bad[][2] = {
		{"{}", "must be a list"},
		{"[{\"text\": \"x\", \"check\": {\"kind\": \"vibes\"}}]",
		 "unknown check kind 'vibes'"},
		{"[{\"check\": {\"kind\": \"judge\"}}]", "has no 'text'"},
		{"[{\"id\": \"A\", \"text\": \"x\", \"check\": {\"kind\": \"tests\"}}]",
		 "criterion 'A': the check needs 'pattern'"},
		{"[{\"text\": \"x\", \"check\": {\"kind\": \"no_usages\", \"pattern\": \"(\", "
		 "\"regex\": true}}]",
		 "invalid regular expression"},
		{"[{\"text\": \"x\", \"check\": {\"kind\": \"dependency\", \"name\": \"a\", "
		 "\"version\": \"^x.y\"}}]",
		 "invalid version constraint '^x.y'"},
		{"[{\"text\": \"x\", \"check\": {\"kind\": \"dependency\", \"name\": \"a\", "
		 "\"version\": \"1\", \"ecosystem\": \"cpan\"}}]",
		 "unknown ecosystem 'cpan'"},
		{"[{\"text\": \"x\", \"check\": {\"kind\": \"command\"}}]",
		 "needs 'argv' or 'run'"},
		{"[{\"text\": \"x\", \"check\": {\"kind\": \"command\", \"argv\": [1]}}]",
		 "'argv' must be a list of strings"},
	};
	struct nsh_verify_criteria c;
	struct nsh_err err = NSH_ERR_INIT;
	json_t *j;

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		j = json_loads(bad[k][0], 0, NULL);
		nsh_err_clear(&err);
		CHECK_INT(nsh_verify_criteria_parse(j, &c, &err), NSH_EINVAL);
		if (!strstr(err.msg, bad[k][1]))
			fprintf(stderr, "  '%s' does not say '%s'\n", err.msg, bad[k][1]);
		CHECK(strstr(err.msg, bad[k][1]) != NULL);
		json_decref(j);
	}
	/* a bare string and a criterion without a check go to the judge */
	j = json_loads(
		"[\"Readable migration notes\", {\"text\": \"fast\"}, {\"id\": \"H\", "
		"\"text\": \"a person likes it\", \"check\": \"human\"}, {\"text\": \"smoke\", "
		"\"check\": {\"kind\": \"command\", \"run\": \"./smoke.sh\", \"timeout\": \"2m\"}}]",
		0, NULL);
	CHECK_INT(nsh_verify_criteria_parse(j, &c, &err), 0);
	CHECK_INT(c.nr, 4);
	if (c.nr == 4) {
		CHECK_STR(c.v[0].id, "AC1");
		CHECK(c.v[0].kind == NSH_VERIFY_CRIT_REVIEW && !strcmp(c.v[0].reviewer, "judge"));
		CHECK(c.v[1].kind == NSH_VERIFY_CRIT_REVIEW && !strcmp(c.v[1].id, "AC2"));
		CHECK(c.v[2].kind == NSH_VERIFY_CRIT_REVIEW && !strcmp(c.v[2].reviewer, "human"));
		CHECK(c.v[3].kind == NSH_VERIFY_CRIT_COMMAND && c.v[3].argv.nr == 3 &&
		      c.v[3].timeout_ms == 120000);
	}
	nsh_verify_criteria_release(&c);
	json_decref(j);

	/* versions */
	{
		static const struct {
			const char *v, *c;
			bool ok;
		} t[] = {
			{"4.17.21", "4.17.21", true},
			{"4.17.21", "4", true},
			{"4.17.21", "4.17", true},
			{"4.18.0", "4.17", false},
			{"4.17.21", "^4.17.0", true},
			{"5.0.0", "^4.17.0", false},
			{"4.16.9", "^4.17.0", false},
			{"0.2.5", "^0.2.1", true},
			{"0.3.0", "^0.2.1", false},
			{"4.17.30", "~4.17.21", true},
			{"4.18.0", "~4.17.21", false},
			{"4.2.0", ">=4.0.0 <5.0.0", true},
			{"5.0.0", ">=4.0.0 <5.0.0", false},
			{"3.10.1", "^4 || ^3.10", true},
			{"v1.21.0", ">1.20", true},
			{"1.20.0", ">1.20", false},
			{"2.0.0-beta.1", "2", true},
			{"4.x", "4", false},
			{"1.2.3", "*", true},
			{"1.2.3", "4.x", false},
		};

		for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
			if (nsh_verify_version_satisfies(t[k].v, t[k].c) != t[k].ok)
				fprintf(stderr, "  '%s' against '%s'\n", t[k].v, t[k].c);
			CHECK(nsh_verify_version_satisfies(t[k].v, t[k].c) == t[k].ok);
		}
	}
}

/* ---- the pipeline ---- */

static char *git_head(const char *dir)
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_git(dir, &b, &err, "rev-parse", "HEAD", NULL), 0);
	nsh_buf_trim(&b);
	return nsh_buf_detach(&b, NULL);
}

static void git_commit(const char *dir, const char *msg)
{
	struct nsh_err err = NSH_ERR_INIT;

	CHECK_INT(nsh_git(dir, NULL, &err, "add", "-A", NULL), 0);
	CHECK_INT(nsh_git(dir, NULL, &err, "commit", "-q", "-m", msg, NULL), 0);
}

static const struct nsh_verify_check *check(const struct nsh_verify_result *r, const char *id)
{
	for (size_t i = 0; i < r->nr; i++)
		if (!strcmp(r->v[i].id, id))
			return &r->v[i];
	return NULL;
}

static bool has_finding(const struct nsh_verify_check *c, const char *rule, const char *file,
			int line)
{
	for (size_t i = 0; c && i < c->findings.nr; i++) {
		const struct nsh_verify_finding *f = &c->findings.v[i];

		if (f->rule && !strcmp(f->rule, rule) &&
		    (!file || (f->file && !strcmp(f->file, file))) && (line < 0 || f->line == line))
			return true;
	}
	return false;
}

static const char test_js[] = "const test = require('node:test');\n"
			      "const assert = require('node:assert');\n"
			      "const { total, avg } = require('../src/total');\n"
			      "\n"
			      "test.describe('total', () => {\n"
			      "  test.it('adds', () => {\n"
			      "    assert.strictEqual(total([1, 2]), 3);\n"
			      "  });\n"
			      "  test.it('averages', () => {\n"
			      "    assert.strictEqual(avg([2, 4]), 3);\n"
			      "  });\n"
			      "});\n";

static const char flaky_js[] =
	"const test = require('node:test');\n"
	"const fs = require('node:fs');\n"
	"test('sometimes', () => {\n"
	"  let n = 0;\n"
	"  try { n = Number(fs.readFileSync('.flaky-count', 'utf8')); } catch (e) {}\n"
	"  fs.writeFileSync('.flaky-count', String(n + 1));\n"
	"  if (n % 2 === 1) throw new Error('odd run');\n"
	"});\n";

static void test_pipeline(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_verify_runner runner;
	struct nsh_verify_plan plan;
	struct nsh_verify_measure before = {0}, again = {0};
	struct nsh_verify_result res;
	struct nsh_verify_opts o = {0};
	const struct nsh_verify_check *c;
	struct nsh_buf md = NSH_BUF_INIT, fb = NSH_BUF_INIT;
	char *dir = project("shop"), *base, *s1, *s2, *key;
	json_t *j, *criteria;

	CHECK_INT(nsh_git(dir, NULL, &err, "init", "-q", NULL), 0);
	put(dir, ".gitignore", ".flaky-count\nlcov.info\nnode_modules/\n");
	put(dir, "package.json",
	    "{\"name\": \"shop\", \"version\": \"1.0.0\", \"scripts\": {\"test\": \"node --test "
	    "--experimental-test-coverage --test-reporter=tap --test-reporter-destination=stdout "
	    "--test-reporter=lcov --test-reporter-destination=lcov.info\"}}");
	put(dir, "package-lock.json",
	    "{\"lockfileVersion\": 3, \"packages\": {\"\": {}, \"node_modules/lodash\": "
	    "{\"version\": \"4.17.21\"}}}");
	put(dir, "src/total.js",
	    "exports.total = (xs) => xs.reduce((a, b) => a + b, 0);\n"
	    "exports.avg = (xs) => {\n"
	    "  if (xs.length === 0) {\n"
	    "    return 0;\n"
	    "  }\n"
	    "  return exports.total(xs) / xs.length;\n"
	    "};\n"
	    "exports.legacy = (xs) => _.pluck(xs, 'n');\n");
	put(dir, "test/total.test.js", test_js);
	put(dir, "test/flaky.test.js", flaky_js);
	git_commit(dir, "base");
	base = git_head(dir);

	/* the baseline: everything passes; kept as JSON, as the orchestrator does */
	nsh_verify_runner_proc(&runner, dir);
	CHECK_INT(nsh_verify_detect(dir, &plan, &err), 0);
	CHECK_INT(nsh_verify_measure(dir, &plan, &runner, NULL, &before, &err), 0);
	CHECK_INT(before.tests.passed, 3);
	CHECK_INT(before.tests.failed, 0);
	CHECK(before.coverage.present && before.coverage.percent > 0);
	j = nsh_verify_measure_to_json(&before);
	s1 = nsh_json_dump(j);
	json_decref(j);
	nsh_verify_measure_release(&before);
	j = json_loads(s1, 0, NULL);
	CHECK_INT(nsh_verify_measure_from_json(j, &before, &err), 0);
	json_decref(j);
	j = nsh_verify_measure_to_json(&before);
	s2 = nsh_json_dump(j);
	json_decref(j);
	CHECK_STR(s1, s2);
	free(s1);
	free(s2);
	nsh_verify_plan_release(&plan);

	/* the change: breaks avg, covers less, plants a key, skips a test, says so in a commit */
	put(dir, "src/total.js",
	    "exports.total = (xs) => xs.reduce((a, b) => a + b, 0);\n"
	    "exports.avg = (xs) => exports.total(xs) / (xs.length + 1);\n"
	    "exports.extra = (x) => {\n"
	    "  if (x > 1) {\n"
	    "    return x * 2;\n"
	    "  }\n"
	    "  return x;\n"
	    "};\n"
	    "exports.legacy = (xs) => _.pluck(xs, 'n');\n");
	key = nsh_xasprintf("const STRIPE_KEY = '%s_live_%s';\n", "sk", "4eC39HqLyjWDarjtT1zdp7dc");
	put(dir, "src/pay.js", key);
	free(key);
	put(dir, "test/other.test.js",
	    "const test = require('node:test');\ntest.skip('later', () => {});\n");
	git_commit(dir, "avg divides by one more");

	criteria = json_loads(
		"["
		"{\"id\": \"AC1\", \"text\": \"no new failures\", \"check\": {\"kind\": "
		"\"no_new_failures\"}},"
		"{\"id\": \"AC2\", \"text\": \"total tests pass\", \"check\": {\"kind\": \"tests\", "
		"\"pattern\": \"total > adds\"}},"
		"{\"id\": \"AC3\", \"text\": \"no _.pluck\", \"check\": {\"kind\": \"no_usages\", "
		"\"pattern\": \"_.pluck(\", \"paths\": [\"src/\"]}},"
		"{\"id\": \"AC4\", \"text\": \"lodash 4\", \"check\": {\"kind\": \"dependency\", "
		"\"name\": \"lodash\", \"version\": \"^4.17.0\"}},"
		"{\"id\": \"AC5\", \"text\": \"smoke passes\", \"check\": {\"kind\": \"command\", "
		"\"argv\": [\"node\", \"-e\", \"process.exit(0)\"]}},"
		"{\"id\": \"AC6\", \"text\": \"smoke 2 passes\", \"check\": {\"kind\": \"command\", "
		"\"run\": \"echo nope >&2; exit 3\"}},"
		"{\"id\": \"AC7\", \"text\": \"no Array usage in tests\", \"check\": {\"kind\": "
		"\"no_usages\", \"pattern\": \"^const (fs|assert) =\", \"regex\": true}},"
		"{\"id\": \"AC8\", \"text\": \"the tool exists\", \"check\": {\"kind\": \"command\", "
		"\"argv\": [\"nsh-no-such-tool-xyz\"]}},"
		"{\"id\": \"AC9\", \"text\": \"reads well\"}"
		"]",
		0, NULL);
	o.dir = dir;
	o.runner = &runner;
	o.base = base;
	o.head = "HEAD";
	o.baseline = &before;
	o.criteria = criteria;
	o.pr_body = "Changes avg.\n";
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK_INT(res.verdict, NSH_VERIFY_VERDICT_FAIL);
	/* tests: averages is broken, sometimes is flaky (failed, then passed) */
	c = check(&res, "tests");
	CHECK(c && c->status == NSH_VERIFY_CHECK_FAIL);
	CHECK(res.broken.nr == 1 && !strcmp(res.broken.v[0], "total > averages"));
	CHECK(res.flaky.nr == 1 && !strcmp(res.flaky.v[0], "sometimes"));
	CHECK(has_finding(c, "newly-failing", "test/total.test.js", 9));
	CHECK(has_finding(c, "flaky", "test/flaky.test.js", 3));
	/* the re-run named the two newly failing tests only, through npm's "--" */
	CHECK_INT(res.reruns.nr, 1);
	CHECK(res.reruns.nr == 1 && strstr(res.reruns.v[0], "npm run test -- "));
	CHECK(res.reruns.nr == 1 && strstr(res.reruns.v[0], " '--test-name-pattern=^averages$'"));
	CHECK(res.reruns.nr == 1 &&
	      strstr(res.reruns.v[0], " '--test-name-pattern=^total averages$'"));
	CHECK(res.reruns.nr == 1 && strstr(res.reruns.v[0], " '--test-name-pattern=^sometimes$'"));
	CHECK(res.reruns.nr == 1 && !strstr(res.reruns.v[0], "adds"));
	CHECK(c && strstr(c->evidence, "; run again: npm run test -- "));
	/* the secret, by file and line, never its value */
	c = check(&res, "secrets");
	CHECK(c && c->status == NSH_VERIFY_CHECK_FAIL && c->findings.nr == 1);
	CHECK(has_finding(c, "stripe-key", "src/pay.js", 1));
	c = check(&res, "sql");
	CHECK(c && c->status == NSH_VERIFY_CHECK_PASS);
	c = check(&res, "integrity");
	CHECK(c && c->status == NSH_VERIFY_CHECK_FAIL);
	CHECK(has_finding(c, "test-skipped", "test/other.test.js", 2));
	/* coverage before and after, the delta in the evidence */
	c = check(&res, "coverage");
	CHECK(c && res.cov_before.present && res.after.coverage.present);
	CHECK(c && strstr(c->evidence, " pp) from lcov.info"));
	fprintf(stderr, "  coverage: %s\n", c ? c->evidence : "-");
	CHECK(check(&res, "lint") && check(&res, "lint")->status == NSH_VERIFY_CHECK_SKIPPED);
	/* criteria */
	CHECK(check(&res, "criterion:AC1")->status == NSH_VERIFY_CHECK_FAIL);
	CHECK(check(&res, "criterion:AC2")->status == NSH_VERIFY_CHECK_PASS);
	c = check(&res, "criterion:AC3");
	CHECK(c->status == NSH_VERIFY_CHECK_FAIL &&
	      has_finding(c, "usage-remains", "src/total.js", 9));
	CHECK_STR(c->evidence, "1 usage of '_.pluck(' in 1 file (of 2 searched)");
	c = check(&res, "criterion:AC4");
	CHECK(c->status == NSH_VERIFY_CHECK_PASS &&
	      strstr(c->evidence, "4.17.21 (package-lock.json)"));
	CHECK(check(&res, "criterion:AC5")->status == NSH_VERIFY_CHECK_PASS);
	c = check(&res, "criterion:AC6");
	CHECK(c->status == NSH_VERIFY_CHECK_FAIL && c->findings.nr == 1 &&
	      !strcmp(c->findings.v[0].excerpt, "nope"));
	c = check(&res, "criterion:AC7");
	CHECK(c->status == NSH_VERIFY_CHECK_FAIL &&
	      has_finding(c, "usage-remains", "test/flaky.test.js", 2) &&
	      has_finding(c, "usage-remains", "test/total.test.js", 2));
	CHECK(check(&res, "criterion:AC8")->status == NSH_VERIFY_CHECK_MISSING);
	CHECK(check(&res, "criterion:AC9")->status == NSH_VERIFY_CHECK_REVIEW);
	/* the PR body's checklist and the code step's feedback */
	CHECK_INT(nsh_verify_result_markdown(&res, 0, &md), 0);
	CHECK(strstr(md.buf, "### Verification: failed\n"));
	CHECK(strstr(md.buf, "- [ ] **Tests**: failed"));
	if (!strstr(md.buf, "`test/total.test.js:9` (newly-failing) total \\> averages"))
		fprintf(stderr, "%s", md.buf);
	CHECK(strstr(md.buf, "`test/total.test.js:9` (newly-failing) total \\> averages"));
	CHECK(strstr(md.buf, "- [x] **SQL injection**: passed"));
	CHECK(strstr(md.buf, "- [ ] **AC9: reads well**: needs review"));
	CHECK(strstr(md.buf, "Coverage delta: "));
	CHECK(!strstr(md.buf, "4eC39HqLyjWDarjtT1zdp7dc"));
	CHECK_INT(nsh_verify_result_feedback(&res, &fb), 0);
	CHECK(strstr(fb.buf, "[tests] fail: "));
	CHECK(strstr(fb.buf, "test/total.test.js:9: newly-failing: total > averages\n"));
	CHECK(strstr(fb.buf, "Expected values to be strictly equal:"));
	CHECK(strstr(fb.buf, "src/pay.js:1: stripe-key: "));
	CHECK(!strstr(fb.buf, "4eC39HqLyjWDarjtT1zdp7dc"));
	j = nsh_verify_result_to_json(&res);
	CHECK_STR(json_string_value(json_object_get(j, "verdict")), "fail");
	CHECK(json_is_real(json_object_get(json_object_get(j, "coverage"), "delta_pp")));
	s1 = nsh_json_dump(j);
	CHECK(s1 && !strstr(s1, "4eC39HqLyjWDarjtT1zdp7dc"));
	free(s1);
	json_decref(j);
	nsh_verify_result_release(&res);
	nsh_buf_release(&md);
	nsh_buf_release(&fb);

	/* the fix: everything back but a real improvement; only the review criterion is left */
	put(dir, "src/total.js",
	    "exports.total = (xs) => xs.reduce((a, b) => a + b, 0);\n"
	    "exports.avg = (xs) => {\n"
	    "  if (xs.length === 0) {\n"
	    "    return 0;\n"
	    "  }\n"
	    "  return exports.total(xs) / xs.length;\n"
	    "};\n");
	put(dir, "src/pay.js", "const STRIPE_KEY = process.env.STRIPE_KEY;\n");
	put(dir, "test/other.test.js",
	    "const test = require('node:test');\nconst assert = require('node:assert');\n"
	    "const { avg } = require('../src/total');\n"
	    "test('empty average', () => { assert.strictEqual(avg([]), 0); });\n");
	git_commit(dir, "fix");
	json_array_remove(criteria, 8); /* AC9 */
	json_array_remove(criteria, 7); /* AC8 */
	json_array_remove(criteria, 6); /* AC7 */
	json_array_remove(criteria, 5); /* AC6 */
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	for (size_t i = 0; i < res.nr; i++)
		if (res.v[i].status != NSH_VERIFY_CHECK_PASS &&
		    res.v[i].status != NSH_VERIFY_CHECK_SKIPPED &&
		    res.v[i].status != NSH_VERIFY_CHECK_WARN)
			fprintf(stderr, "  %s: %s: %s\n", res.v[i].id,
				nsh_verify_status_name(res.v[i].status), res.v[i].evidence);
	CHECK_INT(res.verdict, NSH_VERIFY_VERDICT_PASS);
	CHECK(res.diff.newly_failing.nr == 0 || res.flaky.nr == res.diff.newly_failing.nr);
	nsh_verify_result_release(&res);

	/* the caller's own test run: the plan's tests are not run again, nor re-run */
	{
		struct nsh_test_report mine = {0};
		struct nsh_verify_coverage mine_cov = {
			.present = true,
			.percent = 10.0,
			.covered = 1,
			.total = 10,
			.source = (char *)"coverage/coverage-summary.json",
			.format = NSH_VERIFY_COV_ISTANBUL};
		char *want;

		NSH_ALLOC_GROW(mine.v, 1, mine.alloc);
		memset(&mine.v[0], 0, sizeof(mine.v[0]));
		mine.v[0].name = nsh_xstrdup("total > adds");
		mine.v[0].status = NSH_TEST_FAIL;
		mine.nr = 1;
		mine.failed = 1;
		mine.complete = true;
		o.tests = &mine;
		o.tests_by = "npm test";
		CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
		CHECK(res.tests_given && res.after.tests.nr == 1);
		CHECK(!nsh_verify_measure_step(&res.after, NSH_VERIFY_STEP_TEST));
		c = check(&res, "tests");
		CHECK(c && c->status == NSH_VERIFY_CHECK_FAIL &&
		      strstr(c->evidence, "by 'npm test'"));
		CHECK(res.broken.nr == 1 && res.flaky.nr == 0);
		CHECK(check(&res, "criterion:AC1")->status == NSH_VERIFY_CHECK_FAIL);
		CHECK_INT(res.verdict, NSH_VERIFY_VERDICT_FAIL);
		/* that run wrote no coverage: none after, whatever lcov.info says */
		c = check(&res, "coverage");
		CHECK(c && c->status == NSH_VERIFY_CHECK_SKIPPED && !res.after.coverage.present);
		CHECK_STR(c ? c->evidence : NULL, "no coverage produced by npm test");
		nsh_verify_result_release(&res);
		o.coverage = &mine_cov;
		CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
		c = check(&res, "coverage");
		want = nsh_xasprintf(
			"%.2f%% -> 10.00%% (%+.2f pp) from coverage/coverage-summary.json",
			before.coverage.percent, 10.0 - before.coverage.percent);
		CHECK(c && c->status == NSH_VERIFY_CHECK_WARN);
		CHECK_STR(c ? c->evidence : NULL, want);
		CHECK(c && has_finding(c, "coverage-down", "coverage/coverage-summary.json", 0));
		CHECK(res.after.coverage.covered == 1 && res.after.coverage.total == 10);
		free(want);
		nsh_verify_result_release(&res);
		nsh_test_report_release(&mine);
		o.tests = NULL;
		o.tests_by = NULL;
		o.coverage = NULL;
	}

	/* a tool that is not installed, and one that never ends */
	put(dir, ".nightshift/verify.yml",
	    "commands:\n  lint: [nsh-no-such-linter, .]\n  types: sleep 5\n"
	    "  build: [./build.sh]\nskip: [test]\n");
	put(dir, "build.sh", "#!/bin/sh\necho not executable\n");
	git_commit(dir, "config");
	o.criteria = NULL;
	o.limits.timeout_ms = 300;
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	CHECK(check(&res, "lint")->status == NSH_VERIFY_CHECK_MISSING);
	CHECK(has_finding(check(&res, "lint"), "tool-missing", NULL, -1));
	CHECK(check(&res, "types")->status == NSH_VERIFY_CHECK_ERROR);
	CHECK(has_finding(check(&res, "types"), "timeout", NULL, -1));
	CHECK(check(&res, "tests")->status == NSH_VERIFY_CHECK_SKIPPED);
	CHECK(check(&res, "build")->status == NSH_VERIFY_CHECK_ERROR);
	CHECK(has_finding(check(&res, "build"), "not-started", NULL, -1));
	CHECK_INT(res.verdict, NSH_VERIFY_VERDICT_FAIL);
	nsh_verify_result_release(&res);
	put(dir, ".nightshift/verify.yml",
	    "commands:\n  lint: [nsh-no-such-linter, .]\nskip: [test]\n");
	git_commit(dir, "config");
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	CHECK_INT(res.verdict, NSH_VERIFY_VERDICT_REVIEW);
	nsh_verify_result_release(&res);

	/* a bad revision is an error */
	o.base = "no-such-ref";
	CHECK_INT(nsh_verify_run(&o, &res, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "no revision 'no-such-ref'") != NULL);

	json_decref(criteria);
	nsh_verify_measure_release(&before);
	nsh_verify_measure_release(&again);
	free(base);
	free(dir);
}

/* Values the vault knows are found too, by the secrets module's scanner, never printed. */
static void test_known_values(void)
{
	static const char value[] = "vault-value-7f3a9c-not-random-looking";
	struct nsh_redact_secret sec = {"DEPLOY_PASSWORD", value, sizeof(value) - 1};
	struct nsh_redactor *red = NULL;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_verify_runner runner;
	struct nsh_verify_result res;
	struct nsh_verify_opts o = {0};
	const struct nsh_verify_check *c;
	char *dir = project("vault"), *base, *text;

	CHECK_INT(nsh_git(dir, NULL, &err, "init", "-q", NULL), 0);
	put(dir, "README.md", "# app\n");
	git_commit(dir, "base");
	base = git_head(dir);
	text = nsh_xasprintf("deploy:\n  user: bot\n  pass: %s\n", value);
	put(dir, "deploy.yml", text);
	free(text);
	git_commit(dir, "deploy settings");
	CHECK_INT(nsh_redactor_new(&sec, 1, &red, NULL, &err), 0);
	nsh_verify_runner_proc(&runner, dir);
	o.dir = dir;
	o.runner = &runner;
	o.base = base;
	o.head = "HEAD";
	o.known = red;
	o.pr_body = "Uses the deploy password vault-value-7f3a9c-not-random-looking for now.\n";
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	c = check(&res, "secrets");
	CHECK(c && c->status == NSH_VERIFY_CHECK_FAIL);
	CHECK(has_finding(c, "vault-secret", "deploy.yml", 3));
	CHECK(has_finding(c, "vault-secret", "pr-body", 1));
	for (size_t i = 0; c && i < c->findings.nr; i++) {
		CHECK(!strstr(c->findings.v[i].message, value));
		CHECK(!c->findings.v[i].excerpt || !strstr(c->findings.v[i].excerpt, value));
	}
	CHECK_INT(res.verdict, NSH_VERIFY_VERDICT_FAIL);
	nsh_verify_result_release(&res);
	nsh_redactor_free(red);
	free(base);
	free(dir);
}

/*
 * Commit messages between the base and the tip are scanned for secrets
 * (the working tree's HEAD, or the head named); with the base at the tip
 * there are none. A head that is no commit is an error naming it.
 */
static void test_commit_messages(void)
{
	static const char value[] = "vault-value-91c2e7-in-a-commit-message";
	struct nsh_redact_secret sec = {"API_TOKEN", value, sizeof(value) - 1};
	struct nsh_redactor *red = NULL;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_verify_runner runner;
	struct nsh_verify_opts o = {0};
	struct nsh_verify_result res = {0};
	const struct nsh_verify_check *c;
	char *dir = project("messages"), *base, *tip, *msg;

	CHECK_INT(nsh_git(dir, NULL, &err, "init", "-q", NULL), 0);
	put(dir, "README.md", "# app\n");
	put(dir, ".nightshift/verify.yml", "skip: [test]\n");
	git_commit(dir, "base");
	base = git_head(dir);
	put(dir, "notes.txt", "nothing secret here\n");
	msg = nsh_xasprintf("add notes\n\ntoken used: %s\n", value);
	git_commit(dir, msg);
	tip = git_head(dir);
	CHECK_INT(nsh_redactor_new(&sec, 1, &red, NULL, &err), 0);
	nsh_verify_runner_proc(&runner, dir);
	o.dir = dir;
	o.runner = &runner;
	o.known = red;

	/* base..HEAD (the working tree): one commit, its message holds the value */
	o.base = base;
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	c = check(&res, "secrets");
	CHECK(c && c->status == NSH_VERIFY_CHECK_FAIL);
	CHECK(c && c->evidence && strstr(c->evidence, "1 commit message") != NULL);
	nsh_verify_result_release(&res);

	/* base..head named */
	o.head = tip;
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	c = check(&res, "secrets");
	CHECK(c && c->status == NSH_VERIFY_CHECK_FAIL);
	nsh_verify_result_release(&res);

	/* the base at the tip: no commits, nothing found */
	o.base = tip;
	o.head = NULL;
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	c = check(&res, "secrets");
	CHECK(c && c->status == NSH_VERIFY_CHECK_PASS);
	CHECK(c && c->evidence && strstr(c->evidence, "0 commit messages") != NULL);
	nsh_verify_result_release(&res);

	/* a head that is no commit */
	o.base = base;
	o.head = "no-such-head";
	CHECK_INT(nsh_verify_run(&o, &res, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "no revision 'no-such-head'") != NULL);
	nsh_verify_result_release(&res);

	nsh_redactor_free(red);
	free(msg);
	free(tip);
	free(base);
	free(dir);
}

/*
 * The caller's word (the orchestrator's own checkout): with base_is_head no
 * git run checks the revisions, and with untracked_staged the untracked
 * files come from the diff of the index (what the caller staged), none
 * from a listing of them. Each saves one git run.
 */
static void test_caller_word(void)
{
	static const char value[] = "vault-value-4d2b81-in-a-new-file";
	struct nsh_redact_secret sec = {"API_TOKEN", value, sizeof(value) - 1};
	struct nsh_redactor *red = NULL;
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_verify_runner runner;
	struct nsh_verify_opts o = {0};
	struct nsh_verify_result res = {0};
	const struct nsh_verify_check *c;
	char *dir = project("word"), *base, *text;
	uint64_t r0, r1, r2, r3;

	CHECK_INT(nsh_git(dir, NULL, &err, "init", "-q", NULL), 0);
	put(dir, "README.md", "# app\n");
	put(dir, ".nightshift/verify.yml", "skip: [test]\n");
	git_commit(dir, "base");
	base = git_head(dir);
	text = nsh_xasprintf("token: %s\n", value);
	put(dir, "staged.txt", text);
	CHECK_INT(nsh_git(dir, NULL, &err, "add", "staged.txt", NULL), 0);
	put(dir, "unstaged.txt", text);
	free(text);
	CHECK_INT(nsh_redactor_new(&sec, 1, &red, NULL, &err), 0);
	nsh_verify_runner_proc(&runner, dir);
	o.dir = dir;
	o.runner = &runner;
	o.known = red;
	o.base = base;

	/* as before: both files are in the diff */
	nsh_git_counters(&r0, NULL);
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	nsh_git_counters(&r1, NULL);
	c = check(&res, "secrets");
	CHECK(c && has_finding(c, "vault-secret", "staged.txt", 1));
	CHECK(c && has_finding(c, "vault-secret", "unstaged.txt", 1));
	nsh_verify_result_release(&res);

	/* the caller's word: only what is staged, two git runs fewer */
	o.base_is_head = true;
	o.untracked_staged = true;
	CHECK_INT(nsh_verify_run(&o, &res, &err), 0);
	nsh_git_counters(&r2, NULL);
	c = check(&res, "secrets");
	CHECK(c && has_finding(c, "vault-secret", "staged.txt", 1));
	CHECK(c && !has_finding(c, "vault-secret", "unstaged.txt", 1));
	CHECK(c && c->evidence && strstr(c->evidence, "0 commit messages") != NULL);
	nsh_verify_result_release(&res);
	CHECK_INT((int)((r1 - r0) - (r2 - r1)), 2);

	/* base_is_head is only taken for the working tree: a head named is checked */
	o.head = "no-such-head";
	CHECK_INT(nsh_verify_run(&o, &res, &err), NSH_EINVAL);
	nsh_git_counters(&r3, NULL);
	CHECK(r3 > r2);
	nsh_verify_result_release(&res);

	nsh_redactor_free(red);
	free(base);
	free(dir);
}

/* The sandbox runner: commands in the job's sandbox, paths relative to /workspace. */
static void test_sandbox_runner(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_sandbox_policy pol = {.network = NSH_NET_NONE};
	struct nsh_sandbox *sb = NULL;
	struct nsh_verify_runner runner;
	struct nsh_verify_plan plan;
	struct nsh_verify_measure m = {0};
	const struct nsh_test_result *t = NULL;
	char *dir = project("sandboxed"), *state = nsh_xasprintf("%s/sandbox-state", top);

	put(dir, "test/a.test.js",
	    "const test = require('node:test');\nconst assert = require('node:assert');\n"
	    "test('inside', () => { assert.strictEqual(1, 2); });\n");
	put(dir, ".nightshift/verify.yml",
	    "commands:\n  test: [node, --test]\n  lint: [nsh-no-such-linter]\n"
	    "format:\n  test: tap\n");
	nsh_fs_mkdir_p(state, 0700, &err);
	pol.workspace = dir;
	pol.state_dir = state;
	pol.hide = state;
	CHECK_INT(nsh_sandbox_create(&pol, &sb, &err), 0);
	if (!sb) {
		fprintf(stderr, "  create: %s\n", err.msg);
		goto out;
	}
	nsh_verify_runner_sandbox(&runner, sb);
	CHECK_STR(runner.root, "/workspace");
	CHECK_INT(nsh_verify_detect(dir, &plan, &err), 0);
	CHECK_INT(nsh_verify_measure(dir, &plan, &runner, NULL, &m, &err), 0);
	CHECK_INT(m.tests.failed, 1);
	for (size_t i = 0; i < m.tests.nr; i++)
		if (!strcmp(m.tests.v[i].name, "inside"))
			t = &m.tests.v[i];
	CHECK(t && t->file && !strcmp(t->file, "test/a.test.js") && t->line == 3);
	CHECK(nsh_verify_measure_step(&m, NSH_VERIFY_STEP_LINT) &&
	      nsh_verify_measure_step(&m, NSH_VERIFY_STEP_LINT)->outcome == NSH_VERIFY_OUT_MISSING);
	nsh_verify_measure_release(&m);
	nsh_verify_plan_release(&plan);
	CHECK_INT(nsh_sandbox_destroy(sb, &err), 0);
out:
	free(state);
	free(dir);
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;

	top = t_tmpdir();
	RUN(test_detect_node);
	RUN(test_detect_others);
	RUN(test_select_maven);
	RUN(test_detect_devfile_docker);
	RUN(test_verify_yml);
	RUN(test_criteria_format);
	RUN(test_pipeline);
	RUN(test_known_values);
	RUN(test_commit_messages);
	RUN(test_caller_word);
	RUN(test_sandbox_runner);
	nsh_fs_remove_tree(top, &err);
	free(top);
	return TEST_DONE();
}
