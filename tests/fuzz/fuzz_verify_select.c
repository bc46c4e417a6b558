/*
 * libFuzzer target for the narrowing of a flaky re-run (select.c): test
 * names come from a tool's output, which the checkout controls, and go
 * into a command line. The first byte picks the runner, the rest is
 * names separated by NUL bytes. Checks: no crash or leak (sanitizers);
 * a narrowed command keeps its program and its own arguments first, and
 * no selecting argument holds a quote, a backslash or a newline.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "verify/verify_int.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* No argument past the command's own holds what a shell line would mangle. */
static void check(const struct nsh_strvec *own, const struct nsh_strvec *got, bool pytest)
{
	if (got->nr < own->nr || strcmp(got->v[0], own->v[0]))
		abort();
	for (size_t i = own->nr; i < got->nr && !pytest; i++)
		if (strpbrk(got->v[i], "'\"\\\n"))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nsh_verify_command c;
	struct nsh_strvec names = NSH_STRVEC_INIT, argv, alt;
	size_t i = 1;

	if (!size)
		return 0;
	memset(&c, 0, sizeof(c));
	nsh_strvec_init(&c.argv);
	nsh_strvec_init(&c.alt);
	c.step = NSH_VERIFY_STEP_TEST;
	c.select = (enum nsh_verify_select)(data[0] % 7);
	c.select_sep = data[0] & 0x80;
	if (c.select == NSH_VERIFY_SELECT_GO) {
		nsh_strvec_pushl(&c.argv, "go", "test", "-json", "./...", NULL);
	} else if (c.select == NSH_VERIFY_SELECT_MAVEN) {
		nsh_strvec_pushl(&c.argv, "mvn", "-B", "-q", "-o", "test", NULL);
	} else {
		nsh_strvec_pushl(&c.argv, "npm", "run", "test", NULL);
		nsh_strvec_pushl(&c.alt, "pytest-3", "-q", NULL);
	}
	while (i < size && names.nr < 300) {
		const uint8_t *z = memchr(data + i, 0, size - i);
		size_t n = z ? (size_t)(z - (data + i)) : size - i;
		char *s = nsh_xmemdup(data + i, n);

		nsh_strvec_push(&names, s);
		free(s);
		i += n + 1;
	}
	if (nsh_vrf_narrow(".", &c, &names, &argv, &alt)) {
		check(&c.argv, &argv, c.select == NSH_VERIFY_SELECT_PYTEST);
		if (c.alt.nr)
			check(&c.alt, &alt, c.select == NSH_VERIFY_SELECT_PYTEST);
		nsh_strvec_release(&argv);
		nsh_strvec_release(&alt);
	}
	nsh_strvec_release(&names);
	nsh_strvec_release(&c.argv);
	nsh_strvec_release(&c.alt);
	return 0;
}
