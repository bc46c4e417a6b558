/*
 * libFuzzer target for the recipe lexers and matcher. The first byte picks
 * the language family; the rest is the file. Checks the lexer's invariants
 * (pairs point forward to a closing bracket, spans lie inside the text and
 * are sorted), runs a fixed set of patterns (code, string and comment
 * templates, constraints, repeated holes) and checks that a rename whose
 * output cannot match again is idempotent.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "recipe/match.h"
#include "recipe/recipe.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	const char *match, *rewrite;
	enum nsh_recipe_in in;
	bool idempotent; /* the rewrite can never match again */
} pats[] = {
	{"_.pluck(:[c], :[p])", "_.map(:[c], :[p])", NSH_RECIPE_IN_CODE, true},
	{"_.contains(", "_.includes(", NSH_RECIPE_IN_CODE, true},
	{":[[lib]].find(:[c:arg], :[f:arg], this)", ":[[lib]].detect(:[c], :[f].bind(this))",
	 NSH_RECIPE_IN_CODE, true},
	{"_(:[x]):[mid].forEach(:[f]).value()", "_(:[x]):[mid].forEach(:[f])", NSH_RECIPE_IN_CODE,
	 false},
	{"f(:[a], :[a])", "g(:[a])", NSH_RECIPE_IN_CODE, false},
	{"lodash/:[c]/:[m]", "lodash/:[m]", NSH_RECIPE_IN_STRING, false},
	{"TODO:[x]", "DONE:[x]", NSH_RECIPE_IN_COMMENT, true},
	{"new Buffer(:[x:arg])", NULL, NSH_RECIPE_IN_CODE, false},
};

static void check_lex(const struct nsh_recipe_lex *lx)
{
	for (size_t i = 0; i < lx->len; i++) {
		uint32_t j = lx->jump[i];

		if (lx->cls[i] > NSH_RECIPE_CLS_REGEX)
			abort();
		if (j == NSH_RECIPE_NONE)
			continue;
		if (j <= i || j > lx->len)
			abort();
		if (lx->cls[i] == NSH_RECIPE_CLS_CODE && j >= lx->len)
			abort();
	}
	for (size_t k = 0; k < lx->nspans; k++) {
		const struct nsh_recipe_span *s = &lx->spans[k];

		if (s->start >= s->end || s->end > lx->len || s->body_start < s->start ||
		    s->body_end > s->end || s->body_start > s->body_end)
			abort();
		if (k && lx->spans[k - 1].start >= s->start)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_recipe_where w = {.hole = (char *)"f", .is = NSH_RECIPE_IS_FUNCTION};
	struct nsh_recipe_lex lx, lx2;
	struct nsh_buf out = NSH_BUF_INIT;
	struct nsh_recipe_hits hits = {0}, again = {0};
	enum nsh_recipe_family fam;
	const char *text;
	size_t len;

	if (size < 1)
		return 0;
	fam = (enum nsh_recipe_family)(data[0] % NSH_RECIPE_FAM_COUNT);
	text = (const char *)data + 1;
	len = size - 1;
	nsh_recipe_lex_init(&lx);
	nsh_recipe_lex_init(&lx2);
	nsh_strvec_init(&w.equals);
	nsh_strvec_init(&w.not_equals);
	if (nsh_recipe_lex_run(&lx, fam, text, len, NULL))
		abort();
	check_lex(&lx);
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		struct nsh_recipe_pattern *p = NULL;

		if (nsh_recipe_pattern_compile(pats[i].match, pats[i].rewrite, fam, pats[i].in, &w,
					       1, &p, NULL))
			abort();
		if (nsh_recipe_pattern_run(p, &lx, NULL, 0, &out, &hits, NULL))
			abort();
		for (size_t h = 0; h < hits.nr; h++)
			if (hits.v[h].start > hits.v[h].end || hits.v[h].end > len)
				abort();
		if (pats[i].rewrite && !hits.nr && (out.len != len || memcmp(out.buf, text, len)))
			abort(); /* no match, no change */
		if (pats[i].rewrite && pats[i].idempotent && hits.nr && !hits.gave_up) {
			nsh_recipe_lex_run(&lx2, fam, out.buf, out.len, NULL);
			check_lex(&lx2);
			nsh_recipe_pattern_run(p, &lx2, NULL, 0, NULL, &again, NULL);
			if (again.nr && !again.gave_up)
				abort();
		}
		nsh_recipe_pattern_free(p);
	}
	if (len)
		nsh_recipe_classify(&lx, data[0] % len, len);
	nsh_buf_release(&out);
	nsh_recipe_hits_release(&hits);
	nsh_recipe_hits_release(&again);
	nsh_recipe_lex_release(&lx);
	nsh_recipe_lex_release(&lx2);
	return 0;
}
