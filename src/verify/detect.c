/*
 * Environment detection: the commands that build, test, lint and
 * type-check a checkout, from its own files. Nothing runs here; a tool a
 * file configures is planned whether or not it is installed, and the
 * measure step reports it missing when it is not.
 *
 * Authority, strongest first: .nightshift/verify.yml's commands (per
 * step), devfile.yaml's build and test groups, then the ecosystems found
 * at the root. A Makefile "test" target is used only when nothing else
 * tests.
 */
#include "verify/verify_int.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/below.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"

#include "core/banned.h"

#define FILE_MAX  ((size_t)1 << 20) /* bytes of a manifest read */
#define HINTS_MAX 64

struct det {
	const char *dir;
	struct nsh_verify_plan *plan;
	struct nsh_buf path; /* scratch for joined paths */
	bool override[4];    /* verify.yml set this step's command */
	bool devfile[4];     /* devfile.yaml set this step's command */
};

static const char *const step_names[] = {"build", "test", "lint", "types"};

const char *nsh_verify_step_name(enum nsh_verify_step s)
{
	return (unsigned)s < 4 ? step_names[s] : "?";
}

static const char *full(struct det *d, const char *rel)
{
	nsh_buf_reset(&d->path);
	nsh_fs_join(&d->path, d->dir, rel);
	return d->path.buf;
}

static bool exists(struct det *d, const char *rel)
{
	struct stat st;

	return !nsh_below_lstat(d->dir, rel, &st);
}

/* The file @rel of the checkout, or NULL when it is absent or too big. Caller frees. */
static char *slurp(struct det *d, const char *rel, size_t *ret_len)
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct stat st;

	/* not through a symbolic link: code run in the checkout may have made one */
	if (lstat(full(d, rel), &st) || !S_ISREG(st.st_mode))
		return NULL;
	if (!nsh_vrf_read_fresh(d->dir, rel, 0, FILE_MAX, &b)) {
		nsh_strvec_pushf(&d->plan->notes, "%s: not read: %s", rel,
				 (uint64_t)st.st_size > FILE_MAX ? "too big"
								 : "not a file below the checkout");
		nsh_buf_release(&b);
		return NULL;
	}
	return nsh_buf_detach(&b, ret_len);
}

static struct nsh_verify_command *add_cmd(struct det *d, enum nsh_verify_step step,
					  const char *name, const char *source)
{
	struct nsh_verify_plan *p = d->plan;
	struct nsh_verify_command *c;

	NSH_ALLOC_GROW(p->v, p->nr + 1, p->alloc);
	c = &p->v[p->nr++];
	memset(c, 0, sizeof(*c));
	c->step = step;
	c->name = nsh_xstrdup(name);
	c->source = nsh_xstrdup(source);
	nsh_strvec_init(&c->argv);
	nsh_strvec_init(&c->alt);
	nsh_strvec_init(&c->then);
	nsh_strvec_init(&c->env);
	c->format = NSH_VERIFY_FMT_AUTO;
	return c;
}

static void command_release(struct nsh_verify_command *c)
{
	free(c->name);
	free(c->source);
	free(c->cwd);
	free(c->report);
	free(c->coverage);
	nsh_strvec_release(&c->argv);
	nsh_strvec_release(&c->alt);
	nsh_strvec_release(&c->then);
	nsh_strvec_release(&c->env);
}

static bool has_step(const struct nsh_verify_plan *p, enum nsh_verify_step s)
{
	for (size_t i = 0; i < p->nr; i++)
		if (p->v[i].step == s)
			return true;
	return false;
}

/* Whether ecosystem detection may add a command for @s. */
static bool may_add(struct det *d, enum nsh_verify_step s)
{
	return !d->override[s] && !d->devfile[s];
}

static void eco(struct det *d, const char *name)
{
	if (nsh_strvec_find(&d->plan->ecosystems, name) < 0)
		nsh_strvec_push(&d->plan->ecosystems, name);
}

static void hint(struct det *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void hint(struct det *d, const char *fmt, ...)
{
	struct nsh_buf b = NSH_BUF_INIT;
	va_list ap;

	if (d->plan->hints.nr >= HINTS_MAX)
		return;
	nsh_buf_init(&b, 1024);
	va_start(ap, fmt);
	nsh_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	nsh_strvec_push(&d->plan->hints, b.buf);
	nsh_buf_release(&b);
}

static char *scratch_file(struct det *d, const char *name)
{
	return nsh_xasprintf("%s/%s", d->plan->scratch, name);
}

/* ---- verify.yml ---- */

static int override_command(struct det *d, const char *step_name, const json_t *v,
			    const json_t *root, struct nsh_err *err)
{
	enum nsh_verify_step s;
	struct nsh_verify_command *c;
	json_t *f, *r;

	for (s = 0; s < 4; s++)
		if (!strcmp(step_name, step_names[s]))
			break;
	if (s == 4)
		return nsh_err_set(
			err, NSH_EINVAL,
			"verify.yml: unknown step '%s' in 'commands' (build, test, lint, "
			"types)",
			step_name);
	d->override[s] = true;
	if (json_is_null(v) || (json_is_string(v) &&
				(!*json_string_value(v) || !strcmp(json_string_value(v), "none"))))
		return 0; /* the step is turned off */
	c = add_cmd(d, s, step_name, ".nightshift/verify.yml");
	if (json_is_string(v)) {
		nsh_strvec_pushl(&c->argv, "sh", "-c", json_string_value(v), NULL);
		free(c->name);
		c->name = nsh_xstrdup(json_string_value(v));
	} else if (json_is_array(v) && json_array_size(v) > 0) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return nsh_err_set(err, NSH_EINVAL,
						   "verify.yml: commands.%s must be a string or a "
						   "list of strings",
						   step_name);
			nsh_strvec_push(&c->argv, json_string_value(e));
		}
		free(c->name);
		c->name = nsh_xstrdup(c->argv.v[0]);
	} else {
		return nsh_err_set(err, NSH_EINVAL,
				   "verify.yml: commands.%s must be a string or a list of strings",
				   step_name);
	}
	c->format = s == NSH_VERIFY_STEP_BUILD ? NSH_VERIFY_FMT_EXIT : NSH_VERIFY_FMT_AUTO;
	f = json_object_get(json_object_get(root, "format"), step_name);
	if (f && json_is_string(f) && !nsh_verify_format_parse(json_string_value(f), &c->format))
		return nsh_err_set(err, NSH_EINVAL, "verify.yml: unknown format '%s' for '%s'",
				   json_string_value(f), step_name);
	r = json_object_get(json_object_get(root, "report"), step_name);
	if (r && json_is_string(r))
		c->report = nsh_xstrdup(json_string_value(r));
	return 0;
}

static int read_verify_yml(struct det *d, struct nsh_err *err)
{
	static const char *const names[] = {".nightshift/verify.yml", ".nightshift/verify.yaml"};
	char *text = NULL;
	size_t len = 0;
	json_t *root = NULL, *cmds, *cov;
	const char *key;
	json_t *v;
	int rc = 0;

	for (int k = 0; k < 2 && !text; k++)
		text = slurp(d, names[k], &len);
	if (!text)
		return 0;
	if ((rc = nsh_vrf_yaml_load(text, len, &root, err))) {
		rc = nsh_err_wrap(err, ".nightshift/verify.yml");
		goto out;
	}
	if (json_is_null(root))
		goto out;
	if (!json_is_object(root)) {
		rc = nsh_err_set(err, NSH_EINVAL, ".nightshift/verify.yml: expected a mapping");
		goto out;
	}
	if ((rc = nsh_vrf_config_read(root, &d->plan->config, err)))
		goto out;
	cmds = json_object_get(root, "commands");
	if (cmds && !json_is_object(cmds)) {
		rc = nsh_err_set(err, NSH_EINVAL, "verify.yml: 'commands' must be a mapping");
		goto out;
	}
	json_object_foreach(cmds, key, v)
	{
		if ((rc = override_command(d, key, v, root, err)))
			goto out;
	}
	cov = json_object_get(root, "coverage");
	if (cov && json_is_string(cov) && *json_string_value(cov))
		d->plan->config.coverage = nsh_xstrdup(json_string_value(cov));
out:
	json_decref(root);
	free(text);
	return rc;
}

/* ---- devfile.yaml ---- */

static char *devfile_cwd(const char *wd)
{
	static const char *const roots[] = {"${PROJECT_SOURCE}", "$PROJECT_SOURCE",
					    "${PROJECTS_ROOT}", "$PROJECTS_ROOT"};

	if (!wd || !*wd)
		return NULL;
	for (int k = 0; k < 4; k++) {
		size_t m = strlen(roots[k]);

		if (!strncmp(wd, roots[k], m)) {
			wd += m;
			while (*wd == '/')
				wd++;
			if (k >= 2) { /* $PROJECTS_ROOT/<project>/...: drop the project */
				const char *s = strchr(wd, '/');

				wd = s ? s + 1 : "";
			}
			return *wd && !strstr(wd, "..") ? nsh_xstrdup(wd) : NULL;
		}
	}
	return NULL; /* an absolute path of the dev container: the root here */
}

static int read_devfile(struct det *d, struct nsh_err *err)
{
	static const char *const names[] = {"devfile.yaml", ".devfile.yaml", "devfile.yml",
					    ".devfile.yml"};
	const char *name = NULL;
	char *text = NULL;
	size_t len = 0, i;
	json_t *root = NULL, *cmds, *c;
	int rc = 0;

	for (int k = 0; k < 4 && !text; k++)
		if ((text = slurp(d, names[k], &len)))
			name = names[k];
	if (!text)
		return 0;
	eco(d, "devfile");
	if ((rc = nsh_vrf_yaml_load(text, len, &root, err))) {
		rc = nsh_err_wrap(err, "%s", name);
		goto out;
	}
	cmds = json_object_get(root, "commands");
	if (!json_is_array(cmds))
		goto out;
	json_array_foreach(cmds, i, c)
	{
		json_t *ex = json_object_get(c, "exec");
		const char *line = json_string_value(json_object_get(ex, "commandLine"));
		const char *id = json_string_value(json_object_get(c, "id"));
		const char *kind =
			json_string_value(json_object_get(json_object_get(ex, "group"), "kind"));
		enum nsh_verify_step s;
		struct nsh_verify_command *cmd;

		if (!ex) {
			if (json_object_get(c, "composite"))
				nsh_strvec_pushf(&d->plan->notes,
						 "%s: composite command '%s' not run (only exec "
						 "commands are)",
						 name, id ? id : "?");
			continue;
		}
		if (!line || !*line)
			continue;
		if (kind && !strcmp(kind, "build"))
			s = NSH_VERIFY_STEP_BUILD;
		else if (kind && !strcmp(kind, "test"))
			s = NSH_VERIFY_STEP_TEST;
		else {
			hint(d, "%s: %s command: %s", name, kind ? kind : "other", line);
			continue;
		}
		if (d->override[s])
			continue;
		d->devfile[s] = true;
		cmd = add_cmd(d, s, id ? id : line, name);
		nsh_strvec_pushl(&cmd->argv, "sh", "-c", line, NULL);
		cmd->cwd = devfile_cwd(json_string_value(json_object_get(ex, "workingDir")));
		cmd->format =
			s == NSH_VERIFY_STEP_BUILD ? NSH_VERIFY_FMT_EXIT : NSH_VERIFY_FMT_AUTO;
	}
out:
	json_decref(root);
	free(text);
	return rc;
}

/* ---- Dockerfile ---- */

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;

	if (!path)
		return false;
	copy = nsh_xstrdup(path);
	for (char *dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char *p = nsh_xasprintf("%s/%s", dir, prog);

		found = access(p, X_OK) == 0;
		free(p);
	}
	free(copy);
	return found;
}

static void read_dockerfile(struct det *d)
{
	size_t len = 0, i = 0;
	char *text = slurp(d, "Dockerfile", &len);
	struct nsh_buf logical = NSH_BUF_INIT;
	int line = 0, start = 0;
	const char *engine;

	if (!text)
		return;
	eco(d, "docker");
	nsh_buf_init(&logical, 4096);
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		const char *p = text + i;
		bool cont;

		line++;
		i += n + (nl ? 1 : 0);
		p = nsh_vrf_trim(p, &n);
		if (!logical.len)
			start = line;
		if (!logical.len && (!n || p[0] == '#'))
			continue;
		cont = n && p[n - 1] == '\\';
		nsh_buf_add(&logical, p, cont ? n - 1 : n);
		if (cont)
			continue;
		if (!strncasecmp(logical.buf, "ENV ", 4) ||
		    !strncasecmp(logical.buf, "WORKDIR ", 8) ||
		    !strncasecmp(logical.buf, "RUN ", 4))
			hint(d, "%s:%d: %s", "Dockerfile", start, logical.buf);
		nsh_buf_reset(&logical);
	}
	engine = on_path("docker") ? "docker" : on_path("podman") ? "podman" : NULL;
	if (d->plan->config.docker_build) {
		struct nsh_verify_command *c;

		c = add_cmd(d, NSH_VERIFY_STEP_BUILD, "container image", "Dockerfile");
		nsh_strvec_pushl(&c->argv, engine ? engine : "docker", "build", "-q", ".", NULL);
		c->format = NSH_VERIFY_FMT_EXIT;
	} else if (!engine) {
		nsh_strvec_push(&d->plan->notes,
				"Dockerfile: no container engine (docker, podman) here: the image "
				"cannot be built; its ENV, WORKDIR and RUN lines are hints only");
	} else {
		nsh_strvec_pushf(&d->plan->notes,
				 "Dockerfile: container engine '%s' found; the image is built only "
				 "with 'docker: build' in .nightshift/verify.yml",
				 engine);
	}
	nsh_buf_release(&logical);
	free(text);
}

/* ---- Node ---- */

/* One command in a script, so that arguments appended reach the tool. */
static bool single_command(const char *s)
{
	return !strstr(s, "&&") && !strstr(s, "||") && !strchr(s, ';') && !strchr(s, '|') &&
	       !strchr(s, '>') && !strchr(s, '`') && !strstr(s, "$(");
}

static bool has_word(const char *s, const char *w)
{
	size_t m = strlen(w);

	for (const char *p = strstr(s, w); p; p = strstr(p + 1, w))
		if ((p == s || !nsh_vrf_ident((unsigned char)p[-1]) || p[-1] == '/') &&
		    !nsh_vrf_ident((unsigned char)p[m]) && p[m] != '-')
			return true;
	return false;
}

static void pm_script(struct nsh_verify_command *c, const char *pm, const char *script)
{
	nsh_strvec_pushl(&c->argv, pm, "run", script, NULL);
}

static void pm_args(struct nsh_verify_command *c, const char *pm)
{
	if (!strcmp(pm, "npm"))
		nsh_strvec_push(&c->argv, "--");
}

/*
 * Whether arguments appended to script @s reach "node --test" as options:
 * one command that ends in "node --test" and options (no file names,
 * after which node would take options for files), no name pattern of
 * its own, nothing quoted.
 */
static bool node_test_options_only(const char *s)
{
	const char *p = strstr(s, "node --test");

	if (!p || !single_command(s) || strpbrk(s, "'\"\\") || strstr(s, "--test-name-pattern"))
		return false;
	p += 11;
	if (*p && *p != ' ')
		return false;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != '-')
			return false;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	return true;
}

/* The checkout's own copy of a tool, else the one on the PATH. */
static void push_node_bin(struct det *d, struct nsh_strvec *argv, const char *tool)
{
	char *local = nsh_xasprintf("node_modules/.bin/%s", tool);

	nsh_strvec_push(argv, exists(d, local) ? local : tool);
	free(local);
}

static void detect_node(struct det *d)
{
	static const char *const type_scripts[] = {"typecheck",	  "type-check", "types",
						   "check-types", "tsc",	NULL};
	static const char *const eslint_configs[] = {".eslintrc",	  ".eslintrc.js",
						     ".eslintrc.cjs",	  ".eslintrc.json",
						     ".eslintrc.yml",	  ".eslintrc.yaml",
						     "eslint.config.js",  "eslint.config.mjs",
						     "eslint.config.cjs", NULL};
	struct nsh_err err = NSH_ERR_INIT;
	size_t len = 0;
	char *text = slurp(d, "package.json", &len);
	json_t *pkg = NULL, *scripts;
	const char *pm = "npm", *s;
	struct nsh_verify_command *c;
	bool eslint_cfg = false;

	if (!text)
		return;
	eco(d, "node");
	if (nsh_json_parse(text, len, &pkg, &err) || !json_is_object(pkg)) {
		nsh_strvec_pushf(&d->plan->notes, "package.json: not read: %s",
				 err.code ? err.msg : "not an object");
		goto out;
	}
	s = json_string_value(json_object_get(pkg, "packageManager"));
	if (exists(d, "pnpm-lock.yaml"))
		pm = "pnpm";
	else if (exists(d, "yarn.lock"))
		pm = "yarn";
	else if (!exists(d, "package-lock.json") && s && !strncmp(s, "pnpm@", 5))
		pm = "pnpm"; /* no lock file yet: the package manager package.json names */
	else if (!exists(d, "package-lock.json") && s && !strncmp(s, "yarn@", 5))
		pm = "yarn";
	if (!exists(d, "node_modules") &&
	    (json_object_get(pkg, "dependencies") || json_object_get(pkg, "devDependencies")))
		nsh_strvec_pushf(&d->plan->notes,
				 "package.json: dependencies are not installed (no node_modules); "
				 "run '%s install' first",
				 pm);
	scripts = json_object_get(pkg, "scripts");
	if (!json_is_object(scripts))
		scripts = NULL;
	if (may_add(d, NSH_VERIFY_STEP_BUILD) &&
	    (s = json_string_value(json_object_get(scripts, "build")))) {
		char *name = nsh_xasprintf("%s run build", pm);

		c = add_cmd(d, NSH_VERIFY_STEP_BUILD, name, "package.json");
		pm_script(c, pm, "build");
		c->format = NSH_VERIFY_FMT_EXIT;
		free(name);
	}
	s = json_string_value(json_object_get(scripts, "test"));
	if (may_add(d, NSH_VERIFY_STEP_TEST) && s && !strstr(s, "no test specified")) {
		char *name = nsh_xasprintf("%s test", pm);

		c = add_cmd(d, NSH_VERIFY_STEP_TEST, name, "package.json");
		free(name);
		pm_script(c, pm, "test");
		if (has_word(s, "mocha") && single_command(s)) {
			c->report = scratch_file(d, "mocha.json");
			if (!strstr(s, "--grep") && !strstr(s, "-g ") && !strstr(s, "--fgrep"))
				c->select = NSH_VERIFY_SELECT_MOCHA;
			pm_args(c, pm);
			nsh_strvec_pushl(&c->argv, "--reporter", "json", "--reporter-option", NULL);
			nsh_strvec_pushf(&c->argv, "output=%s", c->report);
			c->format = NSH_VERIFY_FMT_MOCHA_JSON;
		} else if (has_word(s, "jest") && single_command(s)) {
			c->report = scratch_file(d, "jest.json");
			if (!strstr(s, "-t ") && !strstr(s, "--testNamePattern"))
				c->select = NSH_VERIFY_SELECT_JEST;
			pm_args(c, pm);
			nsh_strvec_pushl(&c->argv, "--json", "--testLocationInResults", NULL);
			nsh_strvec_pushf(&c->argv, "--outputFile=%s", c->report);
			c->format = NSH_VERIFY_FMT_JEST_JSON;
		} else if (strstr(s, "node --test")) {
			if (!strstr(s, "--test-reporter"))
				c->format = NSH_VERIFY_FMT_TAP; /* node's reporter off a terminal */
			if (node_test_options_only(s)) {
				c->select = NSH_VERIFY_SELECT_NODE_TEST;
				c->select_sep = !strcmp(pm, "npm");
			}
		}
	}
	if (may_add(d, NSH_VERIFY_STEP_LINT)) {
		s = json_string_value(json_object_get(scripts, "lint"));
		for (int k = 0; eslint_configs[k]; k++)
			eslint_cfg |= exists(d, eslint_configs[k]);
		eslint_cfg |= json_object_get(pkg, "eslintConfig") != NULL;
		if (s) {
			char *name = nsh_xasprintf("%s run lint", pm);

			c = add_cmd(d, NSH_VERIFY_STEP_LINT, name, "package.json");
			free(name);
			pm_script(c, pm, "lint");
			if (has_word(s, "eslint") && single_command(s)) {
				c->report = scratch_file(d, "eslint.json");
				pm_args(c, pm);
				nsh_strvec_pushl(&c->argv, "-f", "json", "-o", c->report, NULL);
				c->format = NSH_VERIFY_FMT_ESLINT_JSON;
			}
		} else if (eslint_cfg) {
			c = add_cmd(d, NSH_VERIFY_STEP_LINT, "eslint", "eslint configuration");
			c->report = scratch_file(d, "eslint.json");
			push_node_bin(d, &c->argv, "eslint");
			nsh_strvec_pushl(&c->argv, "-f", "json", "-o", c->report, ".", NULL);
			c->format = NSH_VERIFY_FMT_ESLINT_JSON;
		}
	}
	if (may_add(d, NSH_VERIFY_STEP_TYPES)) {
		const char *script = NULL;

		for (int k = 0; type_scripts[k] && !script; k++)
			if (json_object_get(scripts, type_scripts[k]))
				script = type_scripts[k];
		if (script) {
			char *name = nsh_xasprintf("%s run %s", pm, script);

			c = add_cmd(d, NSH_VERIFY_STEP_TYPES, name, "package.json");
			free(name);
			pm_script(c, pm, script);
			c->format = NSH_VERIFY_FMT_TSC;
		} else if (exists(d, "tsconfig.json")) {
			c = add_cmd(d, NSH_VERIFY_STEP_TYPES, "tsc", "tsconfig.json");
			push_node_bin(d, &c->argv, "tsc");
			nsh_strvec_pushl(&c->argv, "--noEmit", "--pretty", "false", "-p", ".",
					 NULL);
			c->format = NSH_VERIFY_FMT_TSC;
		}
	}
out:
	json_decref(pkg);
	free(text);
}

/* ---- Python ---- */

static void append_file(struct det *d, struct nsh_buf *all, const char *rel)
{
	size_t len;
	char *t = slurp(d, rel, &len);

	if (!t)
		return;
	nsh_buf_add(all, t, len);
	nsh_buf_addch(all, '\n');
	free(t);
}

static void detect_python(struct det *d)
{
	static const char *const markers[] = {"pyproject.toml", "setup.py", "setup.cfg", "tox.ini",
					      "pytest.ini",	"Pipfile",  NULL};
	struct nsh_buf all = NSH_BUF_INIT; /* the manifests, to look for tool names */
	bool py = false, reqs = false, cov, ruff, flake8, mypy;
	struct nsh_verify_command *c;
	DIR *dh;

	for (int k = 0; markers[k]; k++)
		py |= exists(d, markers[k]);
	nsh_buf_init(&all, 8 * FILE_MAX);
	if ((dh = opendir(d->dir))) {
		struct dirent *e;

		while ((e = readdir(dh))) {
			size_t n = strlen(e->d_name);

			if (!strncmp(e->d_name, "requirements", 12) && n > 4 &&
			    !strcmp(e->d_name + n - 4, ".txt")) {
				reqs = true;
				append_file(d, &all, e->d_name);
			}
		}
		closedir(dh);
	}
	if (!py && !reqs) {
		nsh_buf_release(&all);
		return;
	}
	eco(d, "python");
	for (int k = 0; markers[k]; k++)
		append_file(d, &all, markers[k]);
	append_file(d, &all, ".coveragerc");
	append_file(d, &all, "mypy.ini");
	cov = exists(d, ".coveragerc") || strstr(all.buf, "[tool.coverage") ||
	      strstr(all.buf, "[coverage:") || has_word(all.buf, "pytest-cov") ||
	      has_word(all.buf, "coverage");
	ruff = exists(d, "ruff.toml") || exists(d, ".ruff.toml") || strstr(all.buf, "[tool.ruff") ||
	       has_word(all.buf, "ruff");
	flake8 = exists(d, ".flake8") || strstr(all.buf, "[flake8]") || has_word(all.buf, "flake8");
	mypy = exists(d, "mypy.ini") || exists(d, ".mypy.ini") || strstr(all.buf, "[tool.mypy") ||
	       strstr(all.buf, "[mypy") || has_word(all.buf, "mypy");
	if (may_add(d, NSH_VERIFY_STEP_TEST)) {
		char *junit = nsh_xasprintf("--junitxml=%s/pytest.xml", d->plan->scratch);
		const char *args[] = {"-q",  "-p", "no:cacheprovider", "-o", "junit_family=xunit1",
				      junit, NULL};

		c = add_cmd(d, NSH_VERIFY_STEP_TEST, "pytest", "python project");
		c->report = scratch_file(d, "pytest.xml");
		c->select = NSH_VERIFY_SELECT_PYTEST;
		c->format = NSH_VERIFY_FMT_JUNIT_XML;
		nsh_strvec_push(&c->env, "PYTHONDONTWRITEBYTECODE=1");
		if (cov) {
			nsh_strvec_pushl(&c->argv, "python3", "-m", "coverage", "run", "-m",
					 "pytest", NULL);
			nsh_strvec_pushl(&c->alt, "python3-coverage", "run", "-m", "pytest", NULL);
			c->coverage = scratch_file(d, "coverage.json");
			c->cov_format = NSH_VERIFY_COV_PY_JSON;
			nsh_strvec_pushl(&c->then, "python3", "-m", "coverage", "json", "-q", "-o",
					 c->coverage, NULL);
		} else {
			nsh_strvec_pushl(&c->argv, "python3", "-m", "pytest", NULL);
			nsh_strvec_pushl(&c->alt, "pytest-3", NULL);
		}
		for (int k = 0; args[k]; k++) {
			nsh_strvec_push(&c->argv, args[k]);
			nsh_strvec_push(&c->alt, args[k]);
		}
		free(junit);
	}
	if (may_add(d, NSH_VERIFY_STEP_LINT) && (ruff || flake8)) {
		c = add_cmd(d, NSH_VERIFY_STEP_LINT, ruff ? "ruff" : "flake8", "python project");
		c->format = NSH_VERIFY_FMT_LINES;
		if (ruff) {
			nsh_strvec_pushl(&c->argv, "ruff", "check", "--output-format=concise",
					 "--no-cache", ".", NULL);
			nsh_strvec_pushl(&c->alt, "python3", "-m", "ruff", "check",
					 "--output-format=concise", "--no-cache", ".", NULL);
		} else {
			nsh_strvec_pushl(&c->argv, "flake8", ".", NULL);
			nsh_strvec_pushl(&c->alt, "python3", "-m", "flake8", ".", NULL);
		}
	}
	if (may_add(d, NSH_VERIFY_STEP_TYPES) && mypy) {
		char *cache = scratch_file(d, "mypy-cache");
		const char *args[] = {"--show-column-numbers",
				      "--no-error-summary",
				      "--no-color-output",
				      "--cache-dir",
				      cache,
				      ".",
				      NULL};

		c = add_cmd(d, NSH_VERIFY_STEP_TYPES, "mypy", "python project");
		c->format = NSH_VERIFY_FMT_MYPY;
		nsh_strvec_push(&c->argv, "mypy");
		nsh_strvec_pushl(&c->alt, "python3", "-m", "mypy", NULL);
		for (int k = 0; args[k]; k++) {
			nsh_strvec_push(&c->argv, args[k]);
			nsh_strvec_push(&c->alt, args[k]);
		}
		free(cache);
	}
	nsh_buf_release(&all);
}

/* ---- Go, Rust, Java, make ---- */

static void detect_go(struct det *d)
{
	size_t len = 0, i = 0;
	char *text = slurp(d, "go.mod", &len);
	struct nsh_verify_command *c;

	if (!text)
		return;
	eco(d, "go");
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		const char *p = nsh_vrf_trim(text + i, &n);

		if (n > 7 && !memcmp(p, "module ", 7)) {
			size_t m = n - 7;
			const char *q = nsh_vrf_trim(p + 7, &m);

			if (m && q[0] == '"' && m >= 2)
				q++, m -= 2;
			free(d->plan->go_module);
			d->plan->go_module = nsh_xmemdup(q, m);
			break;
		}
		i += n + (nl ? 1 : 0) + (size_t)(p - (text + i));
	}
	if (may_add(d, NSH_VERIFY_STEP_TEST)) {
		c = add_cmd(d, NSH_VERIFY_STEP_TEST, "go test", "go.mod");
		c->coverage = scratch_file(d, "cover.out");
		c->cov_format = NSH_VERIFY_COV_GO;
		nsh_strvec_pushl(&c->argv, "go", "test", "-json", NULL);
		nsh_strvec_pushf(&c->argv, "-coverprofile=%s", c->coverage);
		nsh_strvec_push(&c->argv, "./...");
		c->format = NSH_VERIFY_FMT_GO_JSON;
		c->select = NSH_VERIFY_SELECT_GO;
	}
	if (may_add(d, NSH_VERIFY_STEP_LINT)) {
		c = add_cmd(d, NSH_VERIFY_STEP_LINT, "go vet", "go.mod");
		nsh_strvec_pushl(&c->argv, "go", "vet", "./...", NULL);
		c->format = NSH_VERIFY_FMT_LINES;
	}
	free(text);
}

static void detect_rust(struct det *d)
{
	struct nsh_verify_command *c;

	if (!exists(d, "Cargo.toml"))
		return;
	eco(d, "rust");
	if (may_add(d, NSH_VERIFY_STEP_TEST)) {
		c = add_cmd(d, NSH_VERIFY_STEP_TEST, "cargo test", "Cargo.toml");
		nsh_strvec_pushl(&c->argv, "cargo", "test", "--no-fail-fast", NULL);
		nsh_strvec_pushl(&c->env, "CARGO_TERM_COLOR=never", "RUST_BACKTRACE=0", NULL);
		c->format = NSH_VERIFY_FMT_CARGO;
	}
	if (may_add(d, NSH_VERIFY_STEP_LINT)) {
		c = add_cmd(d, NSH_VERIFY_STEP_LINT, "cargo clippy", "Cargo.toml");
		nsh_strvec_pushl(&c->argv, "cargo", "clippy", "--quiet", "--message-format=short",
				 NULL);
		nsh_strvec_push(&c->env, "CARGO_TERM_COLOR=never");
		c->format = NSH_VERIFY_FMT_LINES;
	}
}

/*
 * Maven and Gradle: the user's own setup (~/.m2, the network) unless
 * verify.yml says "offline: true" (mvn -o, gradle --offline: only what is
 * already in the local repository) or names Maven's local repository
 * ("maven: repository:", e.g. Debian's /usr/share/maven-repo).
 */
static void detect_java(struct det *d)
{
	const struct nsh_verify_config *cfg = &d->plan->config;
	struct nsh_verify_command *c;

	if (exists(d, "pom.xml")) {
		eco(d, "java");
		if (may_add(d, NSH_VERIFY_STEP_TEST)) {
			c = add_cmd(d, NSH_VERIFY_STEP_TEST, "mvn test", "pom.xml");
			nsh_strvec_pushl(&c->argv, "mvn", "-B", "-q", NULL);
			if (cfg->offline)
				nsh_strvec_push(&c->argv, "-o");
			if (cfg->maven_repo)
				nsh_strvec_pushf(&c->argv, "-Dmaven.repo.local=%s",
						 cfg->maven_repo);
			nsh_strvec_push(&c->argv, "test");
			c->report = nsh_xstrdup("target/surefire-reports/");
			c->format = NSH_VERIFY_FMT_JUNIT_XML;
			c->select = NSH_VERIFY_SELECT_MAVEN;
		}
	} else if (exists(d, "build.gradle") || exists(d, "build.gradle.kts")) {
		eco(d, "java");
		if (may_add(d, NSH_VERIFY_STEP_TEST)) {
			c = add_cmd(d, NSH_VERIFY_STEP_TEST, "gradle test", "build.gradle");
			nsh_strvec_pushl(&c->argv, exists(d, "gradlew") ? "./gradlew" : "gradle",
					 "test", "--console=plain", NULL);
			if (cfg->offline)
				nsh_strvec_push(&c->argv, "--offline");
			c->report = nsh_xstrdup("build/test-results/test/");
			c->format = NSH_VERIFY_FMT_JUNIT_XML;
		}
	}
}

static void detect_make(struct det *d)
{
	size_t len = 0;
	char *text = slurp(d, "Makefile", &len);
	struct nsh_verify_command *c;
	bool target = false;

	if (!text)
		return;
	for (size_t i = 0; i < len; i++) {
		if ((i == 0 || text[i - 1] == '\n') && len - i > 5 &&
		    !memcmp(text + i, "test", 4)) {
			size_t k = i + 4;

			while (k < len && text[k] == ' ')
				k++;
			if (k < len && text[k] == ':' && (k + 1 >= len || text[k + 1] != '='))
				target = true;
		}
	}
	free(text);
	if (!target)
		return;
	eco(d, "make");
	if (!has_step(d->plan, NSH_VERIFY_STEP_TEST) && may_add(d, NSH_VERIFY_STEP_TEST)) {
		c = add_cmd(d, NSH_VERIFY_STEP_TEST, "make test", "Makefile");
		nsh_strvec_pushl(&c->argv, "make", "test", NULL);
		c->format = NSH_VERIFY_FMT_AUTO;
	}
}

/* ---- the plan ---- */

void nsh_verify_plan_release(struct nsh_verify_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nr; i++)
		command_release(&p->v[i]);
	free(p->v);
	nsh_strvec_release(&p->ecosystems);
	nsh_strvec_release(&p->hints);
	nsh_strvec_release(&p->notes);
	free(p->scratch);
	free(p->go_module);
	nsh_vrf_config_release(&p->config);
	memset(p, 0, sizeof(*p));
}

static int cmp_step(const void *a, const void *b)
{
	const struct nsh_verify_command *x = a, *y = b;

	if (x->step != y->step)
		return (int)x->step - (int)y->step;
	return x < y ? -1 : x > y;
}

int nsh_verify_detect(const char *dir, struct nsh_verify_plan *ret, struct nsh_err *err)
{
	struct det d = {.dir = dir, .plan = ret};
	struct stat st;
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	nsh_strvec_init(&ret->ecosystems);
	nsh_strvec_init(&ret->hints);
	nsh_strvec_init(&ret->notes);
	nsh_strvec_init(&ret->config.skip);
	if (!nsh_fs_is_dir(dir))
		return nsh_err_set(err, NSH_ENOTFOUND, "no directory '%s'", dir);
	nsh_buf_init(&d.path, 8192);
	ret->scratch = nsh_xstrdup(stat(full(&d, ".git"), &st) == 0 && S_ISDIR(st.st_mode)
					   ? ".git/nightshift-verify"
					   : ".nightshift-verify");
	if ((rc = read_verify_yml(&d, err)) || (rc = read_devfile(&d, err)))
		goto out;
	read_dockerfile(&d);
	detect_node(&d);
	detect_python(&d);
	detect_go(&d);
	detect_rust(&d);
	detect_java(&d);
	detect_make(&d);
	/* skipped steps go; the coverage file of verify.yml goes to every test command */
	for (size_t i = 0; i < ret->nr;) {
		struct nsh_verify_command *c = &ret->v[i];
		const char *name = step_names[c->step];

		if (c->step == NSH_VERIFY_STEP_TEST && ret->config.coverage) {
			free(c->coverage);
			c->coverage = nsh_xstrdup(ret->config.coverage);
			c->cov_format = nsh_verify_cov_format_of(c->coverage);
		}

		if (nsh_strvec_find(&ret->config.skip, name) >= 0 ||
		    (c->step == NSH_VERIFY_STEP_TEST &&
		     nsh_strvec_find(&ret->config.skip, "tests") >= 0)) {
			command_release(c);
			memmove(c, c + 1, (ret->nr - i - 1) * sizeof(*c));
			ret->nr--;
			continue;
		}
		i++;
	}
	if (ret->nr > 1)
		qsort(ret->v, ret->nr, sizeof(*ret->v), cmp_step);
out:
	if (rc)
		nsh_verify_plan_release(ret);
	nsh_buf_release(&d.path);
	return rc;
}

/* How a re-run names tests, for the plan's JSON. */
static const char *const select_names[] = {
	[NSH_VERIFY_SELECT_NONE] = "none",
	[NSH_VERIFY_SELECT_NODE_TEST] = "node-test",
	[NSH_VERIFY_SELECT_JEST] = "jest",
	[NSH_VERIFY_SELECT_MOCHA] = "mocha",
	[NSH_VERIFY_SELECT_PYTEST] = "pytest-node-ids",
	[NSH_VERIFY_SELECT_GO] = "go-test-run",
	[NSH_VERIFY_SELECT_MAVEN] = "maven-dtest",
};

json_t *nsh_verify_plan_to_json(const struct nsh_verify_plan *p)
{
	json_t *cmds = json_array(), *o;

	for (size_t i = 0; i < p->nr; i++) {
		const struct nsh_verify_command *c = &p->v[i];
		struct nsh_buf b = NSH_BUF_INIT;

		nsh_vrf_quote_argv(&b, (const char *const *)c->argv.v);
		o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "step", step_names[c->step], "name",
			      c->name, "command", b.buf, "format",
			      nsh_verify_format_name(c->format), "source", c->source);
		if (c->report)
			json_object_set_new(o, "report", json_string(c->report));
		if (c->coverage)
			json_object_set_new(o, "coverage", json_string(c->coverage));
		if (c->cwd)
			json_object_set_new(o, "cwd", json_string(c->cwd));
		if (c->select != NSH_VERIFY_SELECT_NONE)
			json_object_set_new(o, "rerun_selects",
					    json_string(select_names[c->select]));
		json_array_append_new(cmds, o);
		nsh_buf_release(&b);
	}
	o = json_object();
	json_object_set_new(o, "commands", cmds);
	{
		const struct nsh_strvec *lists[] = {&p->ecosystems, &p->hints, &p->notes};
		const char *names[] = {"ecosystems", "hints", "notes"};

		for (int k = 0; k < 3; k++) {
			json_t *a = json_array();

			for (size_t i = 0; i < lists[k]->nr; i++)
				json_array_append_new(
					a, nsh_json_string_lossy(lists[k]->v[i],
								 strlen(lists[k]->v[i])));
			json_object_set_new(o, names[k], a);
		}
	}
	json_object_set_new(o, "scratch", json_string(p->scratch));
	return o;
}
