/*
 * bench/analyze: the analysis of 200 generated bare repositories of about
 * 50 files each (package.json, a version 3 lockfile, ~40 JavaScript
 * sources with lodash usages in every form, tests, some repo.yml), made
 * with "git fast-import" in a temporary directory. Prints the time per
 * repository next to a baseline measured in the same run on the same
 * repositories: one bare "git ls-tree -r -z HEAD" exec per repository,
 * the least any analysis that asks git for the file list can cost.
 * Target: at most 20 ms per repository. Figures are printed, never asserted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "core/time.h"
#include "forge/git.h"

#define NREPOS	  200
#define NSOURCES  40
#define NTESTS	  5
#define TARGET_MS 20.0
#define ROUNDS	  3 /* each measurement is the best of this many passes */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void die(const char *what, const struct nsh_err *err)
{
	fprintf(stderr, "bench/analyze: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static const char *const words[] = {"user",  "order", "item",  "price", "cart",	 "total",
				    "event", "queue", "cache", "entry", "token", "batch"};
static const char *const api_names[] = {"pluck", "where",  "first",	"flatten",  "uniq",
					"max",	 "extend", "findWhere", "contains", "indexBy"};

/* One source file: ordinary code with a few lodash usages of varied forms. */
static void source_file(struct nsh_buf *b, int repo, int file)
{
	int lines = 40 + (int)(rnd() % 40);
	int style = (int)(rnd() % 40);

	nsh_buf_adds(b, "'use strict';\n");
	if (style < 20)
		nsh_buf_adds(b, "const _ = require('lodash');\n");
	else if (style < 28)
		nsh_buf_addf(b, "const { %s, %s } = require('lodash');\n", api_names[rnd() % 5],
			     api_names[5 + rnd() % 5]);
	else if (style < 32)
		nsh_buf_addf(b, "import %s from 'lodash/%s';\n", api_names[file % 10],
			     api_names[file % 10]);
	else if (style == 32)
		nsh_buf_adds(b, "const { pluck: pick } = require('lodash');\n"); /* read whole */
	nsh_buf_addf(b, "const db = require('./db%d');\n\n", file % 7);
	for (int l = 0; l < lines; l++) {
		const char *w = words[rnd() % 12], *w2 = words[rnd() % 12];

		switch (rnd() % 12) {
		case 0:
			nsh_buf_addf(b, "  const %ss = _.%s(%s, '%s');\n", w, api_names[rnd() % 10],
				     w2, w);
			break;
		case 1:
			nsh_buf_addf(b, "  return _(%ss).%s('%s').value();\n", w,
				     api_names[rnd() % 10], w2);
			break;
		case 2:
			nsh_buf_addf(b, "  // TODO(%d): use _.%s here\n", repo,
				     api_names[rnd() % 10]);
			break;
		case 3:
			nsh_buf_addf(b, "function %s%d(%s) {\n", w, l, w2);
			break;
		case 4:
			nsh_buf_adds(b, "}\n");
			break;
		case 5:
			nsh_buf_addf(
				b, "  if (!%s || %s.length === 0) { throw new Error('no %s'); }\n",
				w, w, w2);
			break;
		default:
			nsh_buf_addf(b,
				     "  const %s%d = await db.%s.find({ %s: %s.id, limit: %u });\n",
				     w, l, w2, w, w2, rnd() % 100);
			break;
		}
	}
	nsh_buf_adds(b, "module.exports = {};\n");
}

/* Append one blob to a fast-import stream with mark @mark. */
static void blob(struct nsh_buf *s, int mark, const struct nsh_buf *data)
{
	nsh_buf_addf(s, "blob\nmark :%d\ndata %zu\n", mark, data->len);
	nsh_buf_add(s, data->buf, data->len);
	nsh_buf_addch(s, '\n');
}

/* The fast-import stream of repository @i: every file and one commit. */
static void repo_stream(int i, struct nsh_buf *s, size_t *nfiles)
{
	struct nsh_buf f = NSH_BUF_INIT, m = NSH_BUF_INIT;
	int mark = 1, major = i % 10 == 0 ? 4 : 3;
	bool transitive = i % 7 == 3;

	/* package.json and its lockfile */
	nsh_buf_addf(&f, "{\n  \"name\": \"svc-%d\",\n  \"dependencies\": {\n", i);
	nsh_buf_adds(&f, "    \"express\": \"^4.18.0\"");
	if (!transitive)
		nsh_buf_addf(&f, ",\n    \"lodash\": \"^%d.%d.0\"", major, major == 3 ? 10 : 17);
	nsh_buf_adds(&f, "\n  },\n  \"devDependencies\": {\"mocha\": \"^10.0.0\"}\n}\n");
	blob(s, mark, &f);
	nsh_buf_addf(&m, "M 100644 :%d package.json\n", mark++);
	nsh_buf_reset(&f);
	nsh_buf_addf(&f, "{\"name\": \"svc-%d\", \"lockfileVersion\": 3, \"packages\": {\n", i);
	nsh_buf_addf(
		&f,
		"  \"\": {\"name\": \"svc-%d\", \"dependencies\": {\"express\": \"^4.18.0\"%s}},\n",
		i, transitive ? "" : ", \"lodash\": \"^3.10.0\"");
	for (int k = 0; k < 30; k++)
		nsh_buf_addf(&f, "  \"node_modules/pkg-%d\": {\"version\": \"1.%d.0\"%s},\n", k, k,
			     k == 7 ? ", \"dependencies\": {\"lodash\": \"^3.0.0\"}" : "");
	nsh_buf_addf(&f, "  \"node_modules/lodash\": {\"version\": \"%s\"}\n}}\n",
		     major == 3 ? "3.10.1" : "4.17.21");
	blob(s, mark, &f);
	nsh_buf_addf(&m, "M 100644 :%d package-lock.json\n", mark++);
	*nfiles = 2;
	for (int k = 0; k < NSOURCES; k++) {
		nsh_buf_reset(&f);
		source_file(&f, i, k);
		blob(s, mark, &f);
		nsh_buf_addf(&m, "M 100644 :%d src/%s/%s%d.js\n", mark++, words[k % 12],
			     words[(k + 5) % 12], k);
		(*nfiles)++;
	}
	for (int k = 0; k < NTESTS; k++) {
		nsh_buf_reset(&f);
		nsh_buf_addf(&f, "const assert = require('assert');\nit('works %d', () => {});\n",
			     k);
		blob(s, mark, &f);
		nsh_buf_addf(&m, "M 100644 :%d test/t%d.test.js\n", mark++, k);
		(*nfiles)++;
	}
	nsh_buf_reset(&f);
	nsh_buf_addf(&f, "# svc-%d\n\nA service.\n", i);
	blob(s, mark, &f);
	nsh_buf_addf(&m, "M 100644 :%d README.md\n", mark++);
	(*nfiles)++;
	if (i % 5 == 0) {
		nsh_buf_reset(&f);
		nsh_buf_addf(&f, "critical: %s\nowners: [team-%d]\n",
			     i % 15 == 0 ? "true" : "false", i % 4);
		blob(s, mark, &f);
		nsh_buf_addf(&m, "M 100644 :%d .nightshift/repo.yml\n", mark++);
		(*nfiles)++;
	}
	nsh_buf_addf(s,
		     "commit refs/heads/main\nauthor B <b@example.com> 1700000000 +0000\n"
		     "committer B <b@example.com> 1700000000 +0000\ndata 5\ninit\n%s\n",
		     m.buf);
	nsh_buf_release(&f);
	nsh_buf_release(&m);
}

static void make_repo(const char *dir, int i, size_t *nfiles)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf s = NSH_BUF_INIT;
	struct nsh_proc p;

	if (nsh_git(NULL, NULL, &err, "init", "-q", "--bare", "-b", "main", dir, NULL))
		die("git init", &err);
	repo_stream(i, &s, nfiles);
	nsh_git_init(&p, dir);
	nsh_strvec_pushl(&p.argv, "fast-import", "--quiet", NULL);
	p.in = s.buf;
	p.in_len = s.len;
	if (nsh_proc_run_checked(&p, NULL, &err))
		die("git fast-import", &err);
	nsh_proc_release(&p);
	nsh_buf_release(&s);
}

int main(void)
{
	static const struct nsh_analyze_api apis[] = {
		{"pluck", "removed", false},	{"where", "removed", false},
		{"first", "alias", false},	{"flatten", "behaviour", true},
		{"uniq", "arguments", true},	{"max", "arguments", true},
		{"extend", "behaviour", true},	{"findWhere", "removed", false},
		{"contains", "removed", false}, {"indexBy", "renamed", false},
	};
	struct nsh_analyze_opts o = {"lodash", "<4", apis, sizeof(apis) / sizeof(apis[0]), NULL};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_analyze *a = NULL;
	struct nsh_analyze_result *res[NREPOS] = {0};
	struct nsh_analyze_target targets[NREPOS];
	char *dirs[NREPOS], names[NREPOS][16];
	char *top = NULL;
	const char *tmp = getenv("TMPDIR");
	size_t files = 0, uses = 0, affected = 0, warnings = 0;
	int64_t t, best_an = INT64_MAX, best_ls = INT64_MAX, t_gen;
	double an, ls;

	top = nsh_xasprintf("%s/nsh-bench-analyze-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(top))
		die("mkdtemp", NULL);
	t = nsh_time_mono_ns();
	for (int i = 0; i < NREPOS; i++) {
		size_t n = 0;

		snprintf(names[i], sizeof(names[i]), "svc-%03d", i);
		dirs[i] = nsh_xasprintf("%s/%s.git", top, names[i]);
		make_repo(dirs[i], i, &n);
		files += n;
		targets[i] = (struct nsh_analyze_target){names[i], dirs[i], NULL};
	}
	t_gen = nsh_time_mono_ns() - t;
	printf("generated %d repositories, %.1f files each, in %.2f s\n", NREPOS,
	       (double)files / NREPOS, (double)t_gen / 1e9);

	if (nsh_analyze_new(&o, &a, &err))
		die("analyser", &err);
	for (int round = 0; round < ROUNDS; round++) {
		/* baseline: one bare "git ls-tree -r -z HEAD" exec per repository */
		t = nsh_time_mono_ns();
		for (int i = 0; i < NREPOS; i++)
			if (nsh_git(dirs[i], NULL, &err, "ls-tree", "-r", "-z", "HEAD", NULL))
				die("git ls-tree", &err);
		t = nsh_time_mono_ns() - t;
		if (t < best_ls)
			best_ls = t;

		/* the analysis, one repository after the other on one thread */
		t = nsh_time_mono_ns();
		for (int i = 0; i < NREPOS; i++) {
			nsh_analyze_result_free(res[i]);
			res[i] = NULL;
			if (nsh_analyze_repo(a, &targets[i], &res[i], &err))
				die("analyze", &err);
		}
		t = nsh_time_mono_ns() - t;
		if (t < best_an)
			best_an = t;
	}
	for (int i = 0; i < NREPOS; i++) {
		uses += res[i]->nuses;
		affected += res[i]->affected;
		warnings += res[i]->nwarnings;
	}
	an = (double)best_an / 1e6 / NREPOS;
	ls = (double)best_ls / 1e6 / NREPOS;
	printf("analysis: %zu affected of %d, %zu API usages found, %zu warnings\n", affected,
	       NREPOS, uses, warnings);
	printf("baseline  git ls-tree exec:   %6.2f ms per repository\n", ls);
	printf("analyze   nsh_analyze_repo(): %6.2f ms per repository (%.2fx the baseline)\n", an,
	       an / ls);
	printf("target    <= %.0f ms per repository: %s\n", TARGET_MS,
	       an <= TARGET_MS ? "met" : "NOT met");

	for (int i = 0; i < NREPOS; i++) {
		nsh_analyze_result_free(res[i]);
		free(dirs[i]);
	}
	nsh_analyze_free(a);
	if (nsh_fs_remove_tree(top, &err))
		fprintf(stderr, "bench/analyze: %s\n", err.msg);
	free(top);
	return warnings ? 1 : 0;
}
