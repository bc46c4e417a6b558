/*
 * libFuzzer target for the analyze module's JavaScript usage scanner:
 * scan arbitrary bytes as a whole file and as grep lines. Every usage
 * points inside the text (line and column), names a known API and a
 * known form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const apis[] = {"pluck", "where", "chunk", "a", "first"};
static const char *const globals[] = {"_", "lodash"};
static const struct nsh_analyze_js js = {"lodash", apis, 5, globals, 2};

static void check(const struct nsh_analyze_js_hits *h, int nlines, size_t size)
{
	for (size_t i = 0; i < h->nr; i++) {
		const struct nsh_analyze_js_hit *x = &h->v[i];

		if (x->api >= 5 || x->line < 1 || x->line > nlines || x->column < 1 ||
		    (size_t)x->column > size + 1 || x->form >= NSH_ANALYZE_FORM_COUNT_ || !x->text)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	struct nsh_analyze_js_hits h = {0};
	struct nsh_analyze_js_line *lines;
	size_t n = 0, b = 0;
	bool full = false;

	nsh_analyze_js_scan_text(&js, t, size, &h);
	for (size_t i = 0; i < size; i++)
		n += t[i] == '\n';
	check(&h, (int)n + 1, size);
	nsh_analyze_js_hits_release(&h);

	lines = nsh_xcalloc(n + 1, sizeof(*lines));
	n = 0;
	for (size_t i = 0; i <= size; i++)
		if (i == size || t[i] == '\n') {
			lines[n].line = (int)n + 1;
			lines[n].p = t + b;
			lines[n].len = i - b;
			n++;
			b = i + 1;
		}
	nsh_analyze_js_scan_lines(&js, lines, n, &h, &full);
	check(&h, (int)n, size);
	nsh_analyze_js_hits_release(&h);
	free(lines);
	return 0;
}
