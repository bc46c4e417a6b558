/*
 * The manifest readers of the analyze module: npm package.json and
 * package-lock.json in lockfile versions 1, 2 and 3 (transitive finds and
 * the packages they come through), requirements*.txt, pyproject.toml,
 * go.mod, Cargo.toml, pom.xml and .nightshift/repo.yml. Each reader finds
 * the declarations a user would point at, with kind, range, pinned
 * version and line, and fails with a reason on a broken file.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/err.h"
#include "test.h"

#include "core/banned.h"

#define LEN(s) (sizeof(s) - 1)
/* A string literal and its length, as the readers take them. */
#define S(lit) lit, LEN(lit)

/* Check one declaration: name, kind, declared, resolved (NULL: none), line. */
static void check_decl(const struct nsh_analyze_decls *d, size_t i, const char *name,
		       const char *kind, const char *declared, const char *resolved, int line,
		       int at)
{
	const struct nsh_analyze_decl *x;
	bool ok;

	if (i >= d->nr) {
		t_fail++;
		fprintf(stderr, "%s:%d: only %zu declarations\n", __FILE__, at, d->nr);
		return;
	}
	x = &d->v[i];
	ok = !strcmp(x->name, name) && !strcmp(x->kind, kind) &&
	     (declared ? x->declared && !strcmp(x->declared, declared) : !x->declared) &&
	     (resolved ? x->resolved && !strcmp(x->resolved, resolved) : !x->resolved) &&
	     x->line == line;
	if (ok) {
		t_pass++;
	} else {
		t_fail++;
		fprintf(stderr, "%s:%d: got %s %s '%s' '%s' line %d\n", __FILE__, at, x->name,
			x->kind, x->declared ? x->declared : "(null)",
			x->resolved ? x->resolved : "(null)", x->line);
	}
}

#define DECL(d, i, n, k, dec, res, line) check_decl(d, i, n, k, dec, res, line, __LINE__)

static void test_package_json(void)
{
	static const char pj[] = "{\n"
				 "  \"name\": \"svc\",\n"
				 "  \"dependencies\": {\"express\": \"^4\"},\n"
				 "  \"devDependencies\": {\n"
				 "    \"lodash\": \"^3.10.1\"\n"
				 "  },\n"
				 "  \"peerDependencies\": {\"lodash\": \">=3\"},\n"
				 "  \"optionalDependencies\": {\"lodash\": \"3.x\"}\n"
				 "}\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_decls d;

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_package_json(pj, LEN(pj), "lodash", &d, &err), 0);
	CHECK_INT(d.nr, 3);
	DECL(&d, 0, "lodash", "dev", "^3.10.1", NULL, 5);
	DECL(&d, 1, "lodash", "peer", ">=3", NULL, 5);
	DECL(&d, 2, "lodash", "optional", "3.x", NULL, 5);
	nsh_analyze_decls_release(&d);

	/* wrong types are warnings; the rest is still read */
	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_package_json(
			  S("{\"dependencies\": [], \"devDependencies\": {\"lodash\": 3}, "
			    "\"peerDependencies\": {\"lodash\": \"^3\"}}"),
			  "lodash", &d, &err),
		  0);
	CHECK_INT(d.nr, 1);
	CHECK_INT(d.warnings.nr, 2);
	CHECK_STR(d.warnings.v[0], "'dependencies' is not an object");
	CHECK_STR(d.warnings.v[1], "'devDependencies.lodash' is not a string");
	nsh_analyze_decls_release(&d);

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_package_json(
			  S("{\n  \"dependencies\": {\n    \"lodash\": \"^3\",\n"), "lodash", &d,
			  &err),
		  NSH_EINVAL);
	CHECK(strstr(err.msg, "invalid json at line") != NULL);
	CHECK_INT(nsh_analyze_read_package_json(S("[1]"), "lodash", &d, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "expected a json object at the top");
	CHECK_INT(d.nr, 0);
	nsh_analyze_decls_release(&d);
}

static void test_lock_v1(void)
{
	static const char lock[] =
		"{\"name\": \"svc\", \"lockfileVersion\": 1, \"dependencies\": {\n"
		"  \"request\": {\"version\": \"2.88.0\", \"requires\": {\"lodash\": \"^4.17.0\"},\n"
		"    \"dependencies\": {\"lodash\": {\"version\": \"4.17.21\"}}},\n"
		"  \"async\": {\"version\": \"1.5.2\", \"requires\": {\"lodash\": \"^3.0.0\"}},\n"
		"  \"lodash\": {\"version\": \"3.10.1\", \"dev\": true}\n"
		"}}\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_lock l;

	CHECK_INT(nsh_analyze_read_package_lock(lock, LEN(lock), "lodash", "", &l, &err), 0);
	CHECK_INT(l.version, 1);
	CHECK_STR(l.top, "3.10.1");
	CHECK_INT(l.versions.nr, 2);
	CHECK_STR(l.versions.v[0], "3.10.1");
	CHECK_STR(l.versions.v[1], "4.17.21");
	CHECK_INT(l.via.nr, 2);
	CHECK_STR(l.via.v[0], "async");
	CHECK_STR(l.via.v[1], "request");
	CHECK(l.root_declared == NULL);
	nsh_analyze_lock_release(&l);

	/* absent: no versions, nothing through anything */
	CHECK_INT(nsh_analyze_read_package_lock(lock, LEN(lock), "underscore", "", &l, &err), 0);
	CHECK_INT(l.versions.nr, 0);
	CHECK_INT(l.via.nr, 0);
	CHECK(l.top == NULL);
	nsh_analyze_lock_release(&l);
}

static void test_lock_v2_v3(void)
{
	static const char lock[] =
		"{\"name\": \"svc\", \"lockfileVersion\": 3, \"packages\": {\n"
		"  \"\": {\"name\": \"svc\", \"dependencies\": {\"lodash\": \"^3.9.0\"},"
		"        \"workspaces\": [\"packages/*\"]},\n"
		"  \"packages/web\": {\"name\": \"web\", \"dependencies\": {\"lodash\": \"^4\"}},\n"
		"  \"node_modules/lodash\": {\"version\": \"3.10.1\"},\n"
		"  \"node_modules/@scope/tool\": {\"version\": \"1.0.0\", "
		"\"dependencies\": {\"lodash\": \"^3\"}},\n"
		"  \"node_modules/archiver\": {\"version\": \"5.0.0\", "
		"\"optionalDependencies\": {\"lodash\": \"^4\"}},\n"
		"  \"node_modules/archiver/node_modules/lodash\": {\"version\": \"4.17.21\"},\n"
		"  \"packages/web/node_modules/lodash\": {\"version\": \"4.17.20\"}\n"
		"}}\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_lock l;

	CHECK_INT(nsh_analyze_read_package_lock(lock, LEN(lock), "lodash", "", &l, &err), 0);
	CHECK_INT(l.version, 3);
	CHECK_STR(l.top, "3.10.1");
	CHECK_STR(l.root_declared, "^3.9.0");
	CHECK_STR(l.root_kind, "dependencies");
	CHECK_INT(l.versions.nr, 3);
	CHECK_STR(l.versions.v[0], "3.10.1");
	CHECK_STR(l.versions.v[1], "4.17.20");
	CHECK_STR(l.versions.v[2], "4.17.21");
	/* the root and workspace members are not "through" anything */
	CHECK_INT(l.via.nr, 2);
	CHECK_STR(l.via.v[0], "@scope/tool");
	CHECK_STR(l.via.v[1], "archiver");
	nsh_analyze_lock_release(&l);

	/* the workspace member gets its own nested copy */
	CHECK_INT(
		nsh_analyze_read_package_lock(lock, LEN(lock), "lodash", "packages/web", &l, &err),
		0);
	CHECK_STR(l.top, "4.17.20");
	CHECK_STR(l.root_declared, "^4");
	nsh_analyze_lock_release(&l);

	/* version 2: "packages" wins over the version 1 tree it also carries */
	{
		static const char v2[] =
			"{\"lockfileVersion\": 2, \"packages\": {\"\": {}, "
			"\"node_modules/a\": {\"version\": \"1.0.0\", \"dependencies\": {\"lodash\": \"*\"}}, "
			"\"node_modules/lodash\": {\"version\": \"4.17.21\"}}, "
			"\"dependencies\": {\"lodash\": {\"version\": \"0.0.1\"}}}";

		CHECK_INT(nsh_analyze_read_package_lock(v2, LEN(v2), "lodash", "", &l, &err), 0);
		CHECK_INT(l.version, 2);
		CHECK_STR(l.top, "4.17.21");
		CHECK_INT(l.versions.nr, 1);
		CHECK_INT(l.via.nr, 1);
		CHECK_STR(l.via.v[0], "a");
		nsh_analyze_lock_release(&l);
	}
}

static void test_lock_errors(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_lock l;

	CHECK_INT(nsh_analyze_read_package_lock(S("{\"packages\": {}}"), "lodash", "", &l, &err),
		  NSH_EINVAL);
	CHECK_STR(err.msg, "'lockfileVersion' is missing or not 1, 2 or 3");
	nsh_analyze_lock_release(&l);
	CHECK_INT(nsh_analyze_read_package_lock(S("{\"lockfileVersion\": 4}"), "lodash", "", &l,
						&err),
		  NSH_EINVAL);
	nsh_analyze_lock_release(&l);
	CHECK_INT(nsh_analyze_read_package_lock(S("{\"lockfileVersion\": 3, \"packages\": 1}"),
						"lodash", "", &l, &err),
		  NSH_EINVAL);
	CHECK_STR(err.msg, "'packages' is not an object");
	nsh_analyze_lock_release(&l);
	CHECK_INT(nsh_analyze_read_package_lock(S("{\"lockfileVersion\": 1,"), "lodash", "", &l,
						&err),
		  NSH_EINVAL);
	CHECK(strstr(err.msg, "invalid json") != NULL);
	nsh_analyze_lock_release(&l);
}

static void test_requirements(void)
{
	static const char req[] = "# pinned for prod\n"
				  "-r base.txt\n"
				  "--index-url https://pypi.example/simple\n"
				  "Flask_Login==0.6.3  # auth\n"
				  "requests[security] >= 2.0, < 3 ; python_version >= '3.8'\n"
				  "flask-login \\\n"
				  "  ===0.6.3 --hash=sha256:abc\n"
				  "git+https://github.com/x/y.git#egg=y\n"
				  "./local/pkg\n"
				  "flask.login (==1.*)\n"
				  "!!! not a requirement\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_decls d;

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_requirements(req, LEN(req), "flask-login", false, &d, &err), 0);
	CHECK_INT(d.nr, 3);
	DECL(&d, 0, "Flask_Login", "dependencies", "==0.6.3", "0.6.3", 4);
	DECL(&d, 1, "flask-login", "dependencies", "===0.6.3", "0.6.3", 6);
	DECL(&d, 2, "flask.login", "dependencies", "==1.*", NULL, 10);
	CHECK_INT(d.notes.nr, 1);
	CHECK_STR(d.notes.v[0], "line 2: includes 'base.txt' (not followed)");
	CHECK_INT(d.warnings.nr, 1);
	CHECK_STR(d.warnings.v[0], "line 11: cannot read requirement '!!! not a requirement'");
	nsh_analyze_decls_release(&d);

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_requirements(req, LEN(req), "requests", true, &d, &err), 0);
	CHECK_INT(d.nr, 1);
	DECL(&d, 0, "requests", "dev", ">= 2.0, < 3", NULL, 5);
	nsh_analyze_decls_release(&d);

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_requirements(S("a\0b"), "a", false, &d, &err), NSH_EINVAL);
	nsh_analyze_decls_release(&d);
}

static void test_pyproject(void)
{
	static const char py[] = "[build-system]\n"
				 "requires = [\"setuptools>=61\", \"attrs\"]\n"
				 "[project]\n"
				 "name = \"svc\"\n"
				 "dependencies = [\n"
				 "  \"Attrs >=22.1\",\n"
				 "]\n"
				 "[project.optional-dependencies]\n"
				 "speed = [\"attrs[c]==23.1.0\"]\n"
				 "[dependency-groups]\n"
				 "test = [\"attrs\", {include-group = \"x\"}]\n"
				 "[tool.poetry.dependencies]\n"
				 "python = \"^3.10\"\n"
				 "attrs = \"23.2.0\"\n"
				 "[tool.poetry.group.lint.dependencies]\n"
				 "attrs = {version = \"^23\", optional = true}\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_decls d;

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_pyproject(py, LEN(py), "attrs", &d, &err), 0);
	CHECK_INT(d.nr, 6);
	DECL(&d, 0, "Attrs", "dependencies", ">=22.1", NULL, 6);
	DECL(&d, 1, "attrs", "optional", "==23.1.0", "23.1.0", 9);
	DECL(&d, 2, "attrs", "dev", NULL, NULL, 11);
	DECL(&d, 3, "attrs", "build", NULL, NULL, 2);
	DECL(&d, 4, "attrs", "dependencies", "23.2.0", "23.2.0", 14);
	DECL(&d, 5, "attrs", "optional", "^23", NULL, 16);
	nsh_analyze_decls_release(&d);

	nsh_analyze_decls_init(&d);
	CHECK_INT(
		nsh_analyze_read_pyproject(S("[project]\ndependencies = [\"a\"\n"), "a", &d, &err),
		NSH_EINVAL);
	CHECK(strstr(err.msg, "line ") != NULL);
	nsh_analyze_decls_release(&d);
}

static void test_gomod(void)
{
	static const char gm[] = "module example.com/svc\n"
				 "\n"
				 "go 1.21\n"
				 "\n"
				 "require github.com/pkg/errors v0.9.1\n"
				 "require (\n"
				 "\tgithub.com/google/uuid v1.3.0 // indirect\n"
				 "\t\"github.com/pkg/errors/v2\" v2.0.0\n"
				 "\tgithub.com/pkg/errorsx v1.0.0\n"
				 ")\n"
				 "replace github.com/pkg/errors => ../errors\n"
				 "exclude (\n"
				 "\tgithub.com/pkg/errors v0.8.0\n"
				 ")\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_decls d;

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_gomod(gm, LEN(gm), "github.com/pkg/errors", &d, &err), 0);
	CHECK_INT(d.nr, 2);
	DECL(&d, 0, "github.com/pkg/errors", "dependencies", "v0.9.1", "v0.9.1", 5);
	DECL(&d, 1, "github.com/pkg/errors/v2", "dependencies", "v2.0.0", "v2.0.0", 8);
	CHECK(!d.v[0].indirect);
	nsh_analyze_decls_release(&d);

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_gomod(gm, LEN(gm), "github.com/google/uuid", &d, &err), 0);
	CHECK_INT(d.nr, 1);
	CHECK(d.nr == 1 && d.v[0].indirect);
	nsh_analyze_decls_release(&d);

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_gomod(S("module x\nrequrie a v1\n"), "a", &d, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "line 2: unknown directive 'requrie'");
	CHECK_INT(nsh_analyze_read_gomod(S("require (\n a v1.0.0\n"), "a", &d, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "line 1: block not closed with ')'");
	CHECK_INT(nsh_analyze_read_gomod(S("require a\n"), "a", &d, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "line 1: expected 'require PATH VERSION'");
	nsh_analyze_decls_release(&d);
}

static void test_cargo(void)
{
	static const char cargo[] = "[package]\n"
				    "name = \"svc\"\n"
				    "[dependencies]\n"
				    "serde = \"1.0\"\n"
				    "json = { package = \"serde_json\", version = \"=1.0.100\" }\n"
				    "[dev-dependencies.serde]\n"
				    "version = \"1\"\n"
				    "optional = true\n"
				    "[build-dependencies]\n"
				    "serde = { git = \"https://example.com/serde\" }\n"
				    "[target.'cfg(windows)'.dependencies]\n"
				    "serde = { workspace = true }\n"
				    "[workspace.dependencies]\n"
				    "serde = \"1.0.190\"\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_decls d;

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_cargo(cargo, LEN(cargo), "serde", &d, &err), 0);
	CHECK_INT(d.nr, 5);
	DECL(&d, 0, "serde", "dependencies", "1.0", NULL, 4);
	DECL(&d, 1, "serde", "optional", "1", NULL, 6);
	DECL(&d, 2, "serde", "build", "git https://example.com/serde", NULL, 10);
	DECL(&d, 3, "serde", "dependencies", "workspace", NULL, 12);
	DECL(&d, 4, "serde", "managed", "1.0.190", NULL, 14);
	nsh_analyze_decls_release(&d);

	/* a renamed dependency is found by its real name, '-' and '_' alike */
	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_cargo(cargo, LEN(cargo), "serde-json", &d, &err), 0);
	CHECK_INT(d.nr, 1);
	DECL(&d, 0, "serde_json", "dependencies", "=1.0.100", "1.0.100", 5);
	nsh_analyze_decls_release(&d);

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_cargo(S("[dependencies]\nserde = \"1\"\nserde = \"2\"\n"),
					 "serde", &d, &err),
		  NSH_EINVAL);
	CHECK_STR(err.msg, "line 3: duplicate key 'serde'");
	nsh_analyze_decls_release(&d);
}

static void test_pom(void)
{
	static const char pom[] =
		"<?xml version=\"1.0\"?>\n"
		"<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n"
		"  <version>2.1.0</version>\n"
		"  <properties><guava.version>31.1-jre</guava.version>"
		"<g>${guava.version}</g></properties>\n"
		"  <dependencies>\n"
		"    <dependency>\n"
		"      <groupId>com.google.guava</groupId>\n"
		"      <artifactId>guava</artifactId>\n"
		"      <version>${g}</version>\n"
		"    </dependency>\n"
		"    <dependency><groupId>com.google.guava</groupId><artifactId>guava</artifactId>"
		"<version>[30,32)</version><scope>test</scope></dependency>\n"
		"    <dependency><groupId>x</groupId><artifactId>guava</artifactId>"
		"<version>${project.version}</version><scope>provided</scope></dependency>\n"
		"  </dependencies>\n"
		"  <dependencyManagement><dependencies><dependency><groupId>com.google.guava</groupId>"
		"<artifactId>guava</artifactId><version>32.0.0</version>"
		"<optional>true</optional></dependency></dependencies></dependencyManagement>\n"
		"  <build><plugins><plugin><dependencies><dependency><groupId>com.google.guava"
		"</groupId><artifactId>guava</artifactId><version>1.0.0</version></dependency>"
		"</dependencies></plugin></plugins></build>\n"
		"</project>\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_decls d;

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_pom(pom, LEN(pom), "com.google.guava:guava", &d, &err), 0);
	CHECK_INT(d.nr, 4);
	DECL(&d, 0, "com.google.guava:guava", "dependencies", "31.1-jre", NULL, 6);
	DECL(&d, 1, "com.google.guava:guava", "dev", "[30,32)", NULL, 11);
	DECL(&d, 2, "com.google.guava:guava", "managed", "32.0.0", "32.0.0", 14);
	DECL(&d, 3, "com.google.guava:guava", "build", "1.0.0", "1.0.0", 15);
	nsh_analyze_decls_release(&d);

	/* the artifact alone matches every group */
	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_pom(pom, LEN(pom), "guava", &d, &err), 0);
	CHECK_INT(d.nr, 5);
	DECL(&d, 2, "x:guava", "peer", "2.1.0", "2.1.0", 12);
	nsh_analyze_decls_release(&d);

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_pom(S("<project><dependencies>"), "guava", &d, &err),
		  NSH_EINVAL);
	CHECK(strstr(err.msg, "invalid xml at line 1") != NULL);
	CHECK_INT(nsh_analyze_read_pom(S("<pom/>"), "guava", &d, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "the root element is not <project>");
	nsh_analyze_decls_release(&d);
}

/* Entities are never expanded and a DTD is refused, whatever it declares. */
static void test_pom_entities(void)
{
	static const char xxe[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE project [<!ENTITY x SYSTEM \"file:///etc/passwd\">"
		"<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n"
		"<project><dependencies><dependency><artifactId>guava</artifactId>"
		"<version>&x;&b;</version></dependency></dependencies></project>\n";
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze_decls d;

	nsh_analyze_decls_init(&d);
	CHECK_INT(nsh_analyze_read_pom(xxe, LEN(xxe), "guava", &d, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "a pom with a DTD is not read");
	CHECK_INT(d.nr, 0);
	nsh_analyze_decls_release(&d);
}

static void check_yml(const char *text, int want_rc, bool want_critical, const char *want_source,
		      int at)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *source = NULL;
	bool critical = false;
	int rc = nsh_analyze_read_repo_yml(text, strlen(text), &critical, &source, &err);

	if (rc == want_rc &&
	    (rc || (critical == want_critical &&
		    (want_source ? source && !strcmp(source, want_source) : !source)))) {
		t_pass++;
	} else {
		t_fail++;
		fprintf(stderr, "%s:%d: rc %d critical %d source '%s' (%s)\n", __FILE__, at, rc,
			critical, source ? source : "(null)", err.msg);
	}
	free(source);
}

static void test_repo_yml(void)
{
	check_yml("critical: true\n", 0, true, ".nightshift/repo.yml critical: true", __LINE__);
	check_yml("critical: yes\nowners: [a, b]\n", 0, true, ".nightshift/repo.yml critical: true",
		  __LINE__);
	check_yml("critical: false\n", 0, false, NULL, __LINE__);
	check_yml("topics:\n  - payments\n  - Critical\n", 0, true,
		  ".nightshift/repo.yml topic 'critical'", __LINE__);
	check_yml("topics: [payments, web]\nnested: {a: [1, {b: 2}]}\n", 0, false, NULL, __LINE__);
	check_yml("topics: critical\n", 0, true, ".nightshift/repo.yml topic 'critical'", __LINE__);
	check_yml("", 0, false, NULL, __LINE__);
	check_yml("# nothing\n", 0, false, NULL, __LINE__);
	check_yml("critical: maybe\n", NSH_EINVAL, false, NULL, __LINE__);
	check_yml("- a\n- b\n", NSH_EINVAL, false, NULL, __LINE__);
	check_yml("critical: [true\n", NSH_EINVAL, false, NULL, __LINE__);
	{
		struct nsh_err err = NSH_ERR_INIT;
		char *source = NULL;
		bool critical;

		CHECK_INT(nsh_analyze_read_repo_yml(S("a: 1\n b: 2\n"), &critical, &source, &err),
			  NSH_EINVAL);
		CHECK(strstr(err.msg, "invalid yaml at line 2") != NULL);
	}
}

int main(void)
{
	RUN(test_package_json);
	RUN(test_lock_v1);
	RUN(test_lock_v2_v3);
	RUN(test_lock_errors);
	RUN(test_requirements);
	RUN(test_pyproject);
	RUN(test_gomod);
	RUN(test_cargo);
	RUN(test_pom);
	RUN(test_pom_entities);
	RUN(test_repo_yml);
	return TEST_DONE();
}
