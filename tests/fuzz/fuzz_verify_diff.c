/*
 * libFuzzer target for verify's diff parser and the scanners over it:
 * diffs come from the repository's history, written by whoever changed
 * it. The input is read as a diff (secrets, SQL injection, test
 * integrity) and as a plain text (a commit message or PR body). Checks:
 * no crash or leak (sanitizers); line numbers are consistent with the
 * sides; every finding names its file and has a valid JSON form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "verify/verify.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct nsh_verify_findings *f, bool need_file)
{
	for (size_t i = 0; i < f->nr; i++) {
		json_t *j = nsh_verify_finding_to_json(&f->v[i]);

		if (!j || (need_file && !f->v[i].file) || !f->v[i].rule || f->v[i].line < 0)
			abort();
		json_decref(j);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_verify_diff d = {0};
	struct nsh_verify_findings s = {0}, q = {0}, g = {0}, t = {0};

	nsh_buf_add(&b, data, size);
	nsh_verify_diff_parse(&b, &d);
	for (size_t i = 0; i < d.nr; i++) {
		for (size_t k = 0; k < d.file[i].nr; k++) {
			const struct nsh_verify_dline *l = &d.file[i].line[k];

			if ((l->side == '+' && (l->old_line || l->new_line < 0)) ||
			    (l->side == '-' && l->new_line) || l->text < d.text.buf ||
			    l->text + l->len > d.text.buf + d.text.len)
				abort();
		}
	}
	nsh_verify_scan_secrets(&d, NULL, &s);
	nsh_verify_scan_sqli(&d, NULL, &q);
	nsh_verify_check_integrity(&d, NULL, &g);
	nsh_verify_scan_secrets_text((const char *)data, size, "pr-body", NULL, &t);
	check(&s, true);
	check(&q, true);
	check(&g, true);
	check(&t, true);
	nsh_verify_findings_release(&s);
	nsh_verify_findings_release(&q);
	nsh_verify_findings_release(&g);
	nsh_verify_findings_release(&t);
	nsh_verify_diff_release(&d);
	nsh_buf_release(&b);
	return 0;
}
