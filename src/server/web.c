/*
 * The web UI, embedded into the binary at build time: each file of web/ is
 * pulled into .rodata by the assembler's .incbin (the Makefile rebuilds
 * this object when web/ changes), so the daemon serves the UI without
 * reading any file at run time and without any external host.
 */
#include "server/server_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

#include "core/banned.h"

/* Embed web/FILE as the byte range [SYM, SYM_end). */
#define EMBED(sym, file)                                                 \
 __asm__(".section .rodata\n"                                            \
	 ".balign 16\n"                                                  \
	 ".globl " #sym "\n.hidden " #sym "\n" #sym ":\n"                \
	 ".incbin \"web/" file "\"\n"                                    \
	 ".globl " #sym "_end\n.hidden " #sym "_end\n" #sym "_end:\n"    \
	 ".byte 0\n"                                                     \
	 ".previous\n");                                                 \
 extern const unsigned char sym[] __attribute__((visibility("hidden"))); \
 extern const unsigned char sym##_end[] __attribute__((visibility("hidden")))

EMBED(nsh_web_index_html, "index.html");
EMBED(nsh_web_app_js, "app.js");
EMBED(nsh_web_app_css, "app.css");
EMBED(nsh_web_icon_svg, "icon.svg");

static struct nsh_web_file files[] = {
	{"index.html", "text/html; charset=utf-8", nsh_web_index_html, 0, ""},
	{"app.js", "text/javascript; charset=utf-8", nsh_web_app_js, 0, ""},
	{"app.css", "text/css; charset=utf-8", nsh_web_app_css, 0, ""},
	{"icon.svg", "image/svg+xml", nsh_web_icon_svg, 0, ""},
};

static const unsigned char *const ends[] = {
	nsh_web_index_html_end,
	nsh_web_app_js_end,
	nsh_web_app_css_end,
	nsh_web_icon_svg_end,
};

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Lengths and ETags (FNV-1a of the contents), computed once. */
static void init_files(void)
{
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		uint64_t h = 1469598103934665603ull;

		files[i].len = (size_t)(ends[i] - files[i].data);
		for (size_t k = 0; k < files[i].len; k++)
			h = (h ^ files[i].data[k]) * 1099511628211ull;
		snprintf(files[i].etag, sizeof(files[i].etag), "\"%016llx\"",
			 (unsigned long long)h);
	}
}

const struct nsh_web_file *nsh_web_find(const char *name)
{
	pthread_once(&once, init_files);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!strcmp(files[i].name, name))
			return &files[i];
	return NULL;
}

static int serve(struct nsh_srv_req *r, const char *name, struct nsh_err *err)
{
	const struct nsh_web_file *f = nsh_web_find(name);

	if (!f)
		return nsh_err_set(err, NSH_ENOTFOUND, "no such file '%s'", name);
	r->cache = true;
	r->etag = f->etag;
	r->content_type = f->content_type;
	if (r->if_none_match && !strcmp(r->if_none_match, f->etag)) {
		r->status = 304;
		return 0;
	}
	r->status = 200;
	return nsh_buf_add(&r->out, f->data, f->len);
}

int nsh_web_index(struct nsh_srv_req *r, struct nsh_err *err)
{
	return serve(r, "index.html", err);
}

int nsh_web_asset(struct nsh_srv_req *r, struct nsh_err *err)
{
	return serve(r, r->m.param[0], err);
}
