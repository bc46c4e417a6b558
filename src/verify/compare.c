/*
 * Comparing two test runs by the sets of failing test names, and reports
 * as JSON for the step results, the PR body and --json output.
 */
#include "verify/verify.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"

#include "core/banned.h"

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in @r whose status is in @mask (1 << status), sorted; caller frees the array. */
static const char **names(const struct nsh_test_report *r, unsigned mask, size_t *ret_n)
{
	const char **v = nsh_xcalloc(r->nr + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < r->nr; i++)
		if (mask & (1u << r->v[i].status))
			v[n++] = r->v[i].name;
	qsort(v, n, sizeof(*v), cmp_name);
	*ret_n = n;
	return v;
}

static bool has(const char **v, size_t n, const char *name)
{
	return bsearch(&name, v, n, sizeof(*v), cmp_name) != NULL;
}

void nsh_verify_compare(const struct nsh_test_report *before, const struct nsh_test_report *after,
			struct nsh_test_diff *ret)
{
	const unsigned fail = 1u << NSH_TEST_FAIL, any = ~0u;
	size_t nbf, naf, nba, naa;
	const char **bf = names(before, fail, &nbf), **af = names(after, fail, &naf);
	const char **ba = names(before, any, &nba), **aa = names(after, any, &naa);

	for (size_t i = 0; i < naf; i++) {
		if (i && !strcmp(af[i], af[i - 1]))
			continue; /* the same name twice counts once */
		if (has(bf, nbf, af[i]))
			nsh_strvec_push(&ret->still_failing, af[i]);
		else
			nsh_strvec_push(&ret->newly_failing, af[i]);
	}
	for (size_t i = 0; i < nbf; i++) {
		if (i && !strcmp(bf[i], bf[i - 1]))
			continue;
		if (!has(af, naf, bf[i]) && has(aa, naa, bf[i]))
			nsh_strvec_push(&ret->fixed, bf[i]);
	}
	for (size_t i = 0; i < nba; i++) {
		if (i && !strcmp(ba[i], ba[i - 1]))
			continue;
		if (!has(aa, naa, ba[i]))
			nsh_strvec_push(&ret->missing, ba[i]);
	}
	free(bf);
	free(af);
	free(ba);
	free(aa);
}

void nsh_test_diff_release(struct nsh_test_diff *d)
{
	if (!d)
		return;
	nsh_strvec_release(&d->newly_failing);
	nsh_strvec_release(&d->fixed);
	nsh_strvec_release(&d->still_failing);
	nsh_strvec_release(&d->missing);
}

static json_t *strings(const struct nsh_strvec *sv)
{
	json_t *a = json_array();

	for (size_t i = 0; i < sv->nr; i++)
		json_array_append_new(a, nsh_json_string_lossy(sv->v[i], strlen(sv->v[i])));
	return a;
}

json_t *nsh_test_diff_to_json(const struct nsh_test_diff *d)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "newly_failing", strings(&d->newly_failing),
			 "fixed", strings(&d->fixed), "still_failing", strings(&d->still_failing),
			 "missing", strings(&d->missing));
}

json_t *nsh_test_report_to_json(const struct nsh_test_report *r)
{
	json_t *failing = json_array();

	for (size_t i = 0; i < r->nr; i++) {
		const struct nsh_test_result *t = &r->v[i];
		json_t *o;

		if (t->status != NSH_TEST_FAIL)
			continue;
		o = json_object();
		json_object_set_new(o, "name", nsh_json_string_lossy(t->name, strlen(t->name)));
		if (t->file)
			json_object_set_new(o, "file",
					    nsh_json_string_lossy(t->file, strlen(t->file)));
		if (t->line)
			json_object_set_new(o, "line", json_integer(t->line));
		if (t->message)
			json_object_set_new(o, "message",
					    nsh_json_string_lossy(t->message, strlen(t->message)));
		json_array_append_new(failing, o);
	}
	return json_pack("{s:I, s:I, s:I, s:b, s:b, s:o}", "passed", (json_int_t)r->passed,
			 "failed", (json_int_t)r->failed, "skipped", (json_int_t)r->skipped,
			 "complete", r->complete, "truncated", r->truncated, "failing", failing);
}
