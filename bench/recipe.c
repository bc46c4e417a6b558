/*
 * bench/recipe: the lodash 3 to 4 rules of bench/recipe/ run by ast-grep
 * (astgrep-rules.yml) and by nightshift (lodash-bench.yml) over the same
 * files: a generated corpus of 2,000 JavaScript files (every rewrite of the
 * rule set, calls that must stay, comments and strings that look like
 * calls, files without lodash) plus the sources of the three open lodash
 * cases, fetched with npm pack. ast-grep is installed from npm into the
 * temporary directory. Both tools rewrite their own copy in place from the
 * command line; the two trees must come out byte for byte the same. Prints
 * the files per second of each (best of ROUNDS, a fresh copy each time) and
 * their ratio. Target: identical output and at least twice ast-grep's speed.
 * Figures are printed, never asserted; without the registry the run is
 * skipped (exit 0), with a message saying so. The trees are made in
 * /dev/shm when it is writable, so that the disk (the same for both tools,
 * and slow and noisy on a shared machine) does not hide the engines' speed;
 * NSH_BENCH_DIR names another place. NSH_BENCH_KEEP=1 keeps the temporary
 * directory (corpus and both outputs) for a look.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/proc.h"
#include "core/time.h"

#define NFILES	     2000
#define PER_DIR	     100
#define ROUNDS	     3
#define TARGET_RATIO 2.0
#define ASTGREP	     "@ast-grep/cli@0.51.1"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void die(const char *what, const struct nsh_err *err)
{
	fprintf(stderr, "bench/recipe: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rnd() % n];
}
#define PICK(v) pick(v, sizeof(v) / sizeof(v[0]))

static const char *const nouns[] = {"user",	"order", "item",   "invoice", "cart", "line",
				    "shipment", "event", "ticket", "account", "rule", "tag"};
static const char *const fields[] = {"id", "name", "total", "createdAt", "status", "owner"};

/* One lodash 3 statement the rule set rewrites, or one it must leave alone. */
static void lodash_line(struct nsh_buf *b, int k)
{
	const char *n = PICK(nouns), *f = PICK(fields), *m = PICK(nouns);

	switch (rnd() % 34) {
	case 0:
		nsh_buf_addf(b, "  if (_.contains(%ss, %s)) {\n    return null;\n  }\n", n, m);
		break;
	case 1:
		nsh_buf_addf(b, "  const %sIds%d = _.pluck(%ss, '%s');\n", n, k, n, f);
		break;
	case 2:
		nsh_buf_addf(b, "  const open%d = _.where(%ss, { %s: %s.%s });\n", k, n, f, m, f);
		break;
	case 3:
		nsh_buf_addf(b, "  const one%d = _.findWhere(%ss, { id: %sId });\n", k, n, m);
		break;
	case 4:
		nsh_buf_addf(b, "  const ok%d = _.all(%ss, (x) => x.%s);\n", k, n, f);
		break;
	case 5:
		nsh_buf_addf(b, "  const any%d = _.any(%ss, is%s);\n", k, n, f);
		break;
	case 6:
		nsh_buf_addf(b, "  const by%d = _.indexBy(%ss, '%s');\n", k, n, f);
		break;
	case 7:
		nsh_buf_addf(b, "  const code%d = _.padLeft(String(%s.%s), 8, '0');\n", k, n, f);
		break;
	case 8:
		nsh_buf_addf(b,
			     "  const label%d = _.padRight(%s.name, 20) + _.trunc(%s.note, 40);\n",
			     k, n, n);
		break;
	case 9:
		nsh_buf_addf(b, "  const pairs%d = _.pairs(%sTotals);\n", k, n);
		break;
	case 10:
		nsh_buf_addf(b, "  const ranked%d = _.sortByOrder(%ss, ['%s'], ['desc']);\n", k, n,
			     f);
		break;
	case 11:
		nsh_buf_addf(b, "  const fmt%d = _.compose(_.trimLeft, format%s);\n", k, n);
		break;
	case 12:
		nsh_buf_addf(b, "  const merged%d = _.extend({}, DEFAULTS, %s);\n", k, n);
		break;
	case 13:
		nsh_buf_addf(b, "  const others%d = _.rest(%ss);\n", k, n);
		break;
	case 14:
		nsh_buf_addf(b, "  const top%d = _.max(%ss, '%s');\n", k, n, f);
		break;
	case 15:
		nsh_buf_addf(b,
			     "  const low%d = _.min(%ss, function (x) {\n    return x.%s;\n  });\n",
			     k, n, f);
		break;
	case 16:
		nsh_buf_addf(b, "  const sum%d = _.sum(%ss, (x) => x.%s * x.quantity);\n", k, n, f);
		break;
	case 17:
		nsh_buf_addf(b, "  const distinct%d = _.uniq(%ss, '%s');\n", k, n, f);
		break;
	case 18:
		nsh_buf_addf(b,
			     "  const unique%d = _.uniq(%ss, function (x) {\n"
			     "    return x.%s + '/' + x.id;\n  });\n",
			     k, n, f);
		break;
	case 19:
		/* a flag or an iteratee: the rule set leaves it */
		nsh_buf_addf(b, "  const maybe%d = _.uniq(%ss, isSorted);\n", k, n);
		break;
	case 20:
		nsh_buf_addf(b, "  const flat%d = _.flatten(%sGroups, true);\n", k, n);
		break;
	case 21:
		nsh_buf_addf(b, "  const shallow%d = _.flatten(%sGroups);\n", k, n);
		break;
	case 22:
		nsh_buf_addf(b, "  const copy%d = _.clone(%s, true);\n", k, n);
		break;
	case 23:
		nsh_buf_addf(b, "  const table%d = _.zipObject(%sPairs);\n", k, n);
		break;
	case 24:
		nsh_buf_addf(b, "  const keyed%d = _.zipObject(%sKeys, %sValues);\n", k, n, n);
		break;
	case 25:
		nsh_buf_addf(b, "  const few%d = _.sample(%ss, 3);\n", k, n);
		break;
	case 26:
		nsh_buf_addf(b,
			     "  const mine%d = _.find(this.%ss, function (x) {\n"
			     "    return x.%s === this.%s;\n  }, this);\n",
			     k, n, f, f);
		break;
	case 27:
		/* the third argument is fromIndex in lodash 4: left alone */
		nsh_buf_addf(b, "  const from%d = _.find(%ss, is%s, 2);\n", k, n, f);
		break;
	case 28:
		nsh_buf_addf(b,
			     "  _(%ss).filter(isActive).forEach(function (x) {\n"
			     "    totals[x.%s] = (totals[x.%s] || 0) + 1;\n  }).value();\n",
			     n, f, f);
		break;
	case 29:
		nsh_buf_addf(b, "  const names%d = _.map(%ss, '%s');\n", k, n, f);
		break;
	case 30:
		nsh_buf_addf(b, "  const deep%d = _.get(%s, ['%s', '%s']);\n", k, n, f, m);
		break;
	case 31:
		nsh_buf_addf(b,
			     "  const list%d = %sStore.contains(%s) ? %sStore.pluck('%s') : [];\n",
			     k, n, m, n, f);
		break;
	case 32:
		nsh_buf_addf(b, "  // _.pluck(%ss, '%s') and _.contains were lodash 3\n", n, f);
		break;
	default:
		nsh_buf_addf(b, "  log('_.where(%ss) is gone', _.size(%ss));\n", n, n);
		break;
	}
}

/* One statement without lodash. */
static void plain_line(struct nsh_buf *b, int k)
{
	const char *n = PICK(nouns), *f = PICK(fields);

	switch (rnd() % 6) {
	case 0:
		nsh_buf_addf(b, "  const %s%d = await db.%ss.findOne({ %s: input.%s });\n", n, k, n,
			     f, f);
		break;
	case 1:
		nsh_buf_addf(
			b, "  if (!%s || %s.%s == null) {\n    throw new Error('no %s %s');\n  }\n",
			n, n, f, n, f);
		break;
	case 2:
		nsh_buf_addf(b,
			     "  for (let i%d = 0; i%d < %ss.length; i%d++) {\n"
			     "    count += %ss[i%d].%s ? 1 : 0;\n  }\n",
			     k, k, n, k, n, k, f);
		break;
	case 3:
		nsh_buf_addf(b, "  const text%d = `${%s.%s}: ${%s.id}`;\n", k, n, f, n);
		break;
	case 4:
		nsh_buf_addf(b, "  /* %s %s is checked by the caller */\n", n, f);
		break;
	default:
		nsh_buf_addf(b, "  result.push({ %s: %s.%s, at: Date.now() });\n", f, n, f);
		break;
	}
}

/* One generated source file: functions of plain code, with lodash in 60%% of files. */
static void source_file(struct nsh_buf *b, int i)
{
	bool lodash = rnd() % 10 < 6;
	int funcs = 3 + (int)(rnd() % 5);

	nsh_buf_adds(b, "'use strict';\n\n");
	if (lodash)
		nsh_buf_adds(b, "const _ = require('lodash');\n");
	if (lodash && rnd() % 4 == 0)
		nsh_buf_addf(b, "const chunk = require('lodash/array/chunk');\n");
	if (lodash && rnd() % 6 == 0)
		nsh_buf_addf(b, "const groupBy = require('lodash/collection/groupBy');\n");
	nsh_buf_addf(b, "const db = require('../db/%s');\n\n", PICK(nouns));
	for (int fn = 0; fn < funcs; fn++) {
		int lines = 4 + (int)(rnd() % 12);

		nsh_buf_addf(b, "async function %s%d%d(input, result) {\n", PICK(nouns), i, fn);
		nsh_buf_adds(b, "  let count = 0;\n  const totals = {};\n");
		for (int k = 0; k < lines; k++) {
			if (lodash && rnd() % 3 == 0)
				lodash_line(b, fn * 100 + k);
			else
				plain_line(b, fn * 100 + k);
		}
		nsh_buf_adds(b, "  return count;\n}\n\n");
	}
	nsh_buf_adds(b, "module.exports = {};\n");
}

static void write_file(const char *path, const struct nsh_buf *b)
{
	struct nsh_err err = NSH_ERR_INIT;

	if (nsh_fs_write_atomic(path, b->buf, b->len, 0644, &err))
		die("write", &err);
}

static size_t make_corpus(const char *dir)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf b = NSH_BUF_INIT;
	size_t bytes = 0;

	for (int i = 0; i < NFILES; i++) {
		char *sub = nsh_xasprintf("%s/src/m%02d", dir, i / PER_DIR);
		char *path = nsh_xasprintf("%s/f%04d.js", sub, i);

		if (nsh_fs_mkdir_p(sub, 0755, &err))
			die("mkdir", &err);
		nsh_buf_reset(&b);
		source_file(&b, i);
		write_file(path, &b);
		bytes += b.len;
		free(sub);
		free(path);
	}
	nsh_buf_release(&b);
	return bytes;
}

/* Run @argv in @cwd quietly; 0 when it exited 0. */
static int run(const char *const *argv, const char *cwd, struct nsh_buf *out, struct nsh_err *err)
{
	struct nsh_proc p;
	int rc;

	nsh_proc_init(&p);
	for (size_t i = 0; argv[i]; i++)
		nsh_strvec_push(&p.argv, argv[i]);
	p.cwd = cwd;
	p.timeout_ms = 600000;
	p.out_max = (size_t)16 << 20;
	rc = nsh_proc_run_checked(&p, out, err);
	nsh_proc_release(&p);
	return rc;
}

/* The open cases: npm pack each into @dir/cases/NAME (JavaScript and all). */
static int fetch_cases(const char *top, const char *dir, struct nsh_err *err)
{
	static const char *const cases[][2] = {
		{"copy-webpack-plugin@0.3.3", "copy-webpack-plugin-0.3.3.tgz"},
		{"sass-graph@2.0.1", "sass-graph-2.0.1.tgz"},
		{"jsonapi-serializer@2.0.4", "jsonapi-serializer-2.0.4.tgz"},
	};
	int rc = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !rc; i++) {
		char *sub = nsh_xasprintf("%s/cases/%zu", dir, i);
		char *tgz = nsh_xasprintf("%s/%s", top, cases[i][1]);
		const char *pack[] = {"npm", "pack", "--fetch-retries=1", cases[i][0], NULL};
		const char *untar[] = {"tar", "xzf", tgz, "-C", sub, "--strip-components=1", NULL};

		rc = run(pack, top, NULL, err);
		if (!rc)
			rc = nsh_fs_mkdir_p(sub, 0755, err);
		if (!rc)
			rc = run(untar, NULL, NULL, err);
		free(sub);
		free(tgz);
	}
	return rc;
}

/* Compare the trees @a and @b (relative @rel); count files, differing and changed ones. */
static void compare(const char *a, const char *b, const char *orig, const char *rel, size_t *files,
		    size_t *differ, size_t *changed)
{
	char *pa = *rel ? nsh_xasprintf("%s/%s", a, rel) : nsh_xstrdup(a);
	DIR *d = opendir(pa);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char *r, *fa, *fb, *fo;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = *rel ? nsh_xasprintf("%s/%s", rel, de->d_name) : nsh_xstrdup(de->d_name);
		fa = nsh_xasprintf("%s/%s", a, r);
		fb = nsh_xasprintf("%s/%s", b, r);
		fo = nsh_xasprintf("%s/%s", orig, r);
		if (lstat(fa, &st) == 0 && S_ISDIR(st.st_mode)) {
			compare(a, b, orig, r, files, differ, changed);
		} else if (S_ISREG(st.st_mode)) {
			struct nsh_buf x = NSH_BUF_INIT, y = NSH_BUF_INIT, z = NSH_BUF_INIT;

			nsh_fs_read_file(fa, &x, (size_t)64 << 20, NULL);
			nsh_fs_read_file(fb, &y, (size_t)64 << 20, NULL);
			nsh_fs_read_file(fo, &z, (size_t)64 << 20, NULL);
			(*files)++;
			if (x.len != y.len || memcmp(x.buf, y.buf, x.len)) {
				if ((*differ)++ < 5)
					printf("  differs: %s\n", r);
			}
			if (x.len != z.len || memcmp(x.buf, z.buf, x.len))
				(*changed)++;
			nsh_buf_release(&x);
			nsh_buf_release(&y);
			nsh_buf_release(&z);
		}
		free(r);
		free(fa);
		free(fb);
		free(fo);
	}
	if (d)
		closedir(d);
	free(pa);
}

/* Copy @from to a fresh @to and time @argv there (which rewrites it). */
static int64_t timed(const char *from, const char *to, const char *const *argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	const char *cp[] = {"cp", "-a", from, to, NULL};
	int64_t t;

	nsh_fs_remove_tree(to, NULL);
	if (run(cp, NULL, NULL, &err))
		die("cp", &err);
	sync();
	t = nsh_time_mono_ns();
	if (run(argv, NULL, NULL, &err))
		die(argv[0], &err);
	return nsh_time_mono_ns() - t;
}

static size_t count_files(const char *dir)
{
	size_t files = 0, differ = 0, changed = 0;

	compare(dir, dir, dir, "", &files, &differ, &changed);
	return files;
}

int main(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_buf ver = NSH_BUF_INIT;
	const char *envtop = getenv("NSH_TOP"), *base = getenv("NSH_BENCH_DIR");
	char *src = nsh_xstrdup(envtop && *envtop ? envtop : ".");
	char *top;
	char *corpus, *sgdir, *sg, *sgrules, *nsrules, *nsbin, *outa, *outn;
	int64_t best_sg = INT64_MAX, best_sg1 = INT64_MAX, best_ns = INT64_MAX;
	size_t bytes, files, differ = 0, changed = 0, nfiles = 0;
	bool cases = true;
	double sgfps, sg1fps, nsfps;

	/* in memory when it can be: the disk, the same for both tools, would hide their speed */
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	top = nsh_xasprintf("%s/nsh-bench-recipe-XXXXXX", base);
	if (!mkdtemp(top))
		die("mkdtemp", NULL);
	printf("working in %s (NSH_BENCH_DIR)\n", base);
	corpus = nsh_xasprintf("%s/corpus", top);
	sgdir = nsh_xasprintf("%s/ast-grep", top);
	sg = nsh_xasprintf("%s/node_modules/.bin/ast-grep", sgdir);
	sgrules = nsh_xasprintf("%s/bench/recipe/astgrep-rules.yml", src);
	nsrules = nsh_xasprintf("%s/bench/recipe/lodash-bench.yml", src);
	nsbin = nsh_xasprintf("%s/nightshift", src);
	outa = nsh_xasprintf("%s/out-ast-grep", top);
	outn = nsh_xasprintf("%s/out-nightshift", top);
	if (!nsh_fs_exists(sgrules) || !nsh_fs_exists(nsbin))
		die("run from the source tree after 'make' (bench/recipe/, ./nightshift)", NULL);

	bytes = make_corpus(corpus);
	printf("generated %d files (%.1f MB)\n", NFILES, (double)bytes / 1e6);
	if (fetch_cases(top, corpus, &err)) {
		printf("open cases not fetched (%s): the generated files only\n", err.msg);
		cases = false;
		nsh_err_clear(&err);
	}
	{
		const char *install[] = {"npm",	      "install",   "--prefix", sgdir, "--no-audit",
					 "--no-fund", "--no-save", ASTGREP,    NULL};
		const char *version[] = {sg, "--version", NULL};

		if (nsh_fs_mkdir_p(sgdir, 0755, &err) || run(install, NULL, NULL, &err) ||
		    run(version, NULL, &ver, &err)) {
			printf("skipped: ast-grep could not be installed from npm (%s)\n", err.msg);
			goto out;
		}
	}
	nsh_buf_trim(&ver);
	files = count_files(corpus);
	printf("%zu files in all (%s open cases), %s\n", files, cases ? "with the" : "without the",
	       ver.buf);

	for (int round = 0; round < ROUNDS; round++) {
		const char *sgargv[] = {sg, "scan", "-r", sgrules, "-U", outa, NULL};
		const char *sg1argv[] = {sg, "scan", "-j", "1", "-r", sgrules, "-U", outa, NULL};
		const char *nsargv[] = {nsbin, "recipe", "apply", nsrules, outn, NULL};
		int64_t t;

		if ((t = timed(corpus, outa, sg1argv)) < best_sg1)
			best_sg1 = t;
		if ((t = timed(corpus, outa, sgargv)) < best_sg)
			best_sg = t;
		if ((t = timed(corpus, outn, nsargv)) < best_ns)
			best_ns = t;
	}
	compare(outa, outn, corpus, "", &nfiles, &differ, &changed);
	sgfps = (double)files / ((double)best_sg / 1e9);
	sg1fps = (double)files / ((double)best_sg1 / 1e9);
	nsfps = (double)files / ((double)best_ns / 1e9);
	printf("output     %zu files compared, %zu rewritten, %zu differ: %s\n", nfiles, changed,
	       differ, differ ? "NOT identical" : "identical");
	printf("ast-grep   %8.0f files/s (%.3f s, all cores)\n", sgfps, (double)best_sg / 1e9);
	printf("ast-grep   %8.0f files/s (%.3f s, -j 1)\n", sg1fps, (double)best_sg1 / 1e9);
	printf("nightshift %8.0f files/s (%.3f s, one thread)\n", nsfps, (double)best_ns / 1e9);
	printf("ratio      %.2fx ast-grep on all cores, %.2fx ast-grep on one\n", nsfps / sgfps,
	       nsfps / sg1fps);
	printf("target     identical output and >= %.0fx: %s\n", TARGET_RATIO,
	       !differ && nsfps / sgfps >= TARGET_RATIO ? "met" : "NOT met");
out:
	if (getenv("NSH_BENCH_KEEP"))
		printf("kept %s (NSH_BENCH_KEEP)\n", top);
	else if (nsh_fs_remove_tree(top, &err))
		fprintf(stderr, "bench/recipe: %s\n", err.msg);
	nsh_buf_release(&ver);
	free(corpus);
	free(sgdir);
	free(sg);
	free(sgrules);
	free(nsrules);
	free(nsbin);
	free(outa);
	free(outn);
	free(top);
	free(src);
	return 0;
}
