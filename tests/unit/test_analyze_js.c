/*
 * The JavaScript usage scanner: every form an API can be reached through
 * (member, chain, destructured, bound call, module path, category path,
 * per-method package) with exact line and column; what must not count
 * (comments, strings, other objects' methods, local functions); and the
 * grep-line mode asking for the whole file exactly when its lines cannot
 * tell (imports over several lines, renamed bindings).
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "test.h"

#include "core/banned.h"

static const char *const apis[] = {"pluck", "where", "chunk", "first"};
static const char *const globals[] = {"lodash", "_"};
static const struct nsh_analyze_js js = {"lodash", apis, 4, globals, 2};

/* "api line:col form text; " for every hit, to compare in one go. */
static char *render(const struct nsh_analyze_js_hits *h)
{
	struct nsh_buf b = NSH_BUF_INIT;

	for (size_t i = 0; i < h->nr; i++)
		nsh_buf_addf(&b, "%s %d:%d %s %s; ", apis[h->v[i].api], h->v[i].line,
			     h->v[i].column, nsh_analyze_form_name(h->v[i].form), h->v[i].text);
	return nsh_buf_detach(&b, NULL);
}

static void check_text(const char *src, const char *want, int at)
{
	struct nsh_analyze_js_hits h = {0};
	char *got;

	nsh_analyze_js_scan_text(&js, src, strlen(src), &h);
	got = render(&h);
	if (!strcmp(got, want)) {
		t_pass++;
	} else {
		t_fail++;
		fprintf(stderr, "%s:%d:\n  got  %s\n  want %s\n", __FILE__, at, got, want);
	}
	free(got);
	nsh_analyze_js_hits_release(&h);
}

#define TEXT(src, want) check_text(src, want, __LINE__)

static void test_member_and_chain(void)
{
	TEXT("var a = _.pluck(users, 'name');\n", "pluck 1:11 member _.pluck; ");
	TEXT("x\nlodash.pluck(u, 'a'); lodash . where(u)\n", "pluck 2:8 member lodash.pluck; ");
	TEXT("const lo = require('lodash');\nlo.where(u, {a: 1});\n",
	     "where 2:4 member lo.where; ");
	TEXT("import * as L from \"lodash\";\nL.first(a);\n", "first 2:3 member L.first; ");
	TEXT("import lod from 'lodash'\nlod.first(a)\n", "first 2:5 member lod.first; ");
	TEXT("require('lodash').pluck(a, 'b');\n", "pluck 1:19 member require('lodash').pluck; ");
	TEXT("_(users).pluck('a').value();\n", "pluck 1:10 chain _(users).pluck; ");
	TEXT("_.chain(users).filter(f).pluck('a').value();\n",
	     "pluck 1:26 chain _.chain(users).filter(f).pluck; ");
	TEXT("_(users)\n  .map(f)\n  .pluck('a')\n", "pluck 3:4 chain _(users) .map(f) .pluck; ");
	TEXT("_?.pluck(a)\n", "pluck 1:4 member _?.pluck; ");
}

static void test_not_usages(void)
{
	TEXT("arr.pluck(x); this._.pluck(y); a.b.where(z);\n", "");
	TEXT("_.map(x).pluck('a');\n", ""); /* a method of the array map returned */
	TEXT("// _.pluck(x)\n/* _.where(y)\n * _.first(z) */\n", "");
	TEXT("var s = '_.pluck(a)' + \"lodash.where(b)\";\n", "");
	TEXT("var t = `_.pluck(${_.where(a)})`;\n", "where 1:22 member _.where; ");
	TEXT("var r = /'/.test(x) && _.first(a);\n", "first 1:26 member _.first; ");
	TEXT("var q = a / b; var s = c / _.first(d);\n", "first 1:30 member _.first; ");
	TEXT("module.exports = require('lodash');\nexports.pluck(a);\n", "");
	TEXT("const pluck = (a) => a;\npluck(1);\n", "");
	TEXT("const x = {...lodash.pluck};\n", "pluck 1:22 member lodash.pluck; ");
	TEXT("const u = require('underscore');\nu.pluck(a);\n", "");
	TEXT("jest.mock('lodash/pluck');\n", "");
	TEXT("var _pluck = 1; _.plucked(a); _.pluck_(b);\n", "");
}

static void test_imports(void)
{
	TEXT("const { pluck, where: w } = require('lodash');\npluck(a);\nw(b);\nx.w(c);\n",
	     "pluck 1:9 destructured { pluck }; where 1:16 destructured { where: w }; "
	     "pluck 2:1 call pluck(; where 3:1 call w(; ");
	TEXT("import {\n  pluck as p,\n  type chunk,\n  map\n} from 'lodash';\np(a)\n",
	     "pluck 2:3 destructured { pluck as p }; chunk 3:8 destructured { type chunk }; "
	     "pluck 6:1 call p(; ");
	TEXT("import _, { first } from 'lodash';\nfirst(a);\n",
	     "first 1:13 destructured { first }; first 2:1 call first(; ");
	TEXT("const p = require('lodash/pluck');\np(a);\n",
	     "pluck 1:20 module lodash/pluck; pluck 2:1 call p(; ");
	TEXT("import chunk from 'lodash/array/chunk.js';\nchunk(a, 2);\n",
	     "chunk 1:20 category lodash/array/chunk.js; chunk 2:1 call chunk(; ");
	TEXT("var pl = require(\"lodash.pluck\");\npl(a)\n",
	     "pluck 1:19 package lodash.pluck; pluck 2:1 call pl(; ");
	TEXT("import 'lodash/where';\nconst m = await import('lodash/first');\n",
	     "where 1:9 module lodash/where; first 2:25 module lodash/first; ");
	TEXT("const x = require('lodash/fp/map/deep');\nrequire('lodash/unknown');\n", "");
	TEXT("var pluck = require('lodash/pluck');\nfunction pluck(x) {}\n",
	     "pluck 1:22 module lodash/pluck; ");
	TEXT("export { where } from 'lodash';\n", "where 1:10 destructured { where }; ");
}

/* Lines as git grep gives them: only those naming an API or the package. */
static void check_lines(const char *const *texts, const int *nums, size_t n, bool want_full,
			const char *want, int at)
{
	struct nsh_analyze_js_line *lines = nsh_xcalloc(n, sizeof(*lines));
	struct nsh_analyze_js_hits h = {0};
	bool full = false;
	char *got;

	for (size_t i = 0; i < n; i++) {
		lines[i].line = nums[i];
		lines[i].p = texts[i];
		lines[i].len = strlen(texts[i]);
	}
	nsh_analyze_js_scan_lines(&js, lines, n, &h, &full);
	got = render(&h);
	if (full == want_full && (want_full || !strcmp(got, want))) {
		t_pass++;
	} else {
		t_fail++;
		fprintf(stderr, "%s:%d: need_full %d\n  got  %s\n  want %s\n", __FILE__, at, full,
			got, want);
	}
	free(got);
	free(lines);
	nsh_analyze_js_hits_release(&h);
}

static void test_grep_lines(void)
{
	{
		static const char *const t[] = {
			"const { pluck } = require('lodash');", " * _.where is documented here",
			"  return _(u).pluck('a') + lodash.first(x);", "pluck(a, 'b'); // _.chunk"};
		static const int n[] = {3, 10, 42, 43};

		check_lines(t, n, 4, false,
			    "pluck 3:9 destructured { pluck }; pluck 42:15 chain _(u).pluck; "
			    "first 42:35 member lodash.first; pluck 43:1 call pluck(; ",
			    __LINE__);
	}
	{
		/* a grep line is never joined with the one printed before it */
		static const char *const t[] = {"var v = _", ".pluck(a)"};
		static const int n[] = {7, 8};

		check_lines(t, n, 2, false, "", __LINE__);
	}
	{
		/* the closing line of a multi-line import: the file must be read whole */
		static const char *const t[] = {"  pluck,", "} from 'lodash';", "pluck(a)"};
		static const int n[] = {2, 4, 9};

		check_lines(t, n, 3, true, NULL, __LINE__);
	}
	{
		static const char *const t[] = {"} = require('lodash');"};
		static const int n[] = {5};

		check_lines(t, n, 1, true, NULL, __LINE__);
	}
	{
		/* a renamed binding: its calls do not contain "pluck" */
		static const char *const t[] = {"const { pluck: p } = require('lodash');"};
		static const int n[] = {1};

		check_lines(t, n, 1, true, NULL, __LINE__);
	}
	{
		static const char *const t[] = {"import p from 'lodash/pluck';"};
		static const int n[] = {1};

		check_lines(t, n, 1, true, NULL, __LINE__);
	}
	{
		/* an alias is fine: its uses contain the API name */
		static const char *const t[] = {"const lo = require('lodash');", "lo.where(a)"};
		static const int n[] = {1, 20};

		check_lines(t, n, 2, false, "where 20:4 member lo.where; ", __LINE__);
	}
	{
		/* the statement begins on an earlier line */
		static const char *const t[] = {"  require('lodash');"};
		static const int n[] = {2};

		check_lines(t, n, 1, true, NULL, __LINE__);
	}
}

static void test_edges(void)
{
	struct nsh_analyze_js_hits h = {0};
	static const struct nsh_analyze_js none = {"lodash", NULL, 0, globals, 2};

	nsh_analyze_js_scan_text(&js, "", 0, &h);
	CHECK_INT(h.nr, 0);
	nsh_analyze_js_scan_text(&none, "_.pluck(a)", 10, &h);
	CHECK_INT(h.nr, 0);
	/* unterminated things end at the end of the text without reading past it */
	nsh_analyze_js_scan_text(&js, "x = '_.pluck", 12, &h);
	nsh_analyze_js_scan_text(&js, "/* _.pluck", 10, &h);
	nsh_analyze_js_scan_text(&js, "`${_.pluck", 10, &h);
	CHECK_INT(h.nr, 1);
	nsh_analyze_js_scan_text(&js, "const {", 7, &h);
	nsh_analyze_js_scan_text(&js, "} = require('lodash')", 21, &h);
	nsh_analyze_js_scan_text(&js, "_.pluck", 7, &h);
	CHECK_INT(h.nr, 2);
	nsh_analyze_js_hits_release(&h);
}

int main(void)
{
	RUN(test_member_and_chain);
	RUN(test_not_usages);
	RUN(test_imports);
	RUN(test_grep_lines);
	RUN(test_edges);
	return TEST_DONE();
}
