/*
 * Maven pom.xml through libxml2. The parser never touches the network
 * (XML_PARSE_NONET), never loads a DTD and never substitutes entities (no
 * XML_PARSE_NOENT / DTDLOAD / DTDATTR); a POM with a DTD at all is refused,
 * since real ones have none. Text is taken only from text and CDATA
 * nodes, so an entity reference can never expand into anything.
 *
 * Dependencies are read from project/dependencies, dependencyManagement
 * ("managed"), profiles and build plugins ("build"). The name matches
 * "artifactId" or "groupId:artifactId"; "${property}" versions are
 * resolved from project/properties and ${project.version}.
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

#include "core/banned.h"

#define TEXT_MAX	 4096 /* longest element text kept */
#define MAX_PROPERTIES	 4096
#define MAX_SUBSTITUTION 8 /* nested ${a} -> ${b} -> ... */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

static bool named(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (named(c, name))
			return c;
	return NULL;
}

/* The text of @n (text and CDATA children only), trimmed; NULL when none. */
static char *text_of(const xmlNode *n)
{
	struct nsh_buf b;

	if (!n)
		return NULL;
	nsh_buf_init(&b, TEXT_MAX);
	for (const xmlNode *c = n->children; c; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			nsh_buf_adds(&b, (const char *)c->content);
	nsh_buf_trim(&b);
	if (!b.len) {
		nsh_buf_release(&b);
		return NULL;
	}
	return nsh_buf_detach(&b, NULL);
}

struct props {
	struct nsh_strvec names;
	struct nsh_strvec values;
};

static const char *prop_get(const struct props *p, const char *name)
{
	long i = nsh_strvec_find(&p->names, name);

	return i < 0 ? NULL : p->values.v[i];
}

/* Replace "${name}" references in @s from @p, a few levels deep. Caller frees. */
static char *substitute(const char *s, const struct props *p)
{
	char *cur = nsh_xstrdup(s);

	for (int round = 0; round < MAX_SUBSTITUTION && strstr(cur, "${"); round++) {
		struct nsh_buf b;
		const char *q = cur;
		bool changed = false;

		nsh_buf_init(&b, TEXT_MAX);
		while (*q) {
			const char *open = strstr(q, "${"), *close;
			const char *val = NULL;

			if (!open || !(close = strchr(open, '}'))) {
				nsh_buf_adds(&b, q);
				break;
			}
			nsh_buf_add(&b, q, (size_t)(open - q));
			{
				char *name = nsh_xmemdup(open + 2, (size_t)(close - open - 2));

				val = prop_get(p, name);
				free(name);
			}
			if (val) {
				nsh_buf_adds(&b, val);
				changed = true;
			} else {
				nsh_buf_add(&b, open, (size_t)(close - open + 1));
			}
			q = close + 1;
		}
		free(cur);
		cur = nsh_buf_detach(&b, NULL);
		if (!changed)
			break;
	}
	return cur;
}

static void read_props(const xmlNode *project, struct props *p)
{
	const xmlNode *props = child(project, "properties");
	char *v;

	for (const xmlNode *c = props ? props->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || p->names.nr >= MAX_PROPERTIES)
			continue;
		v = text_of(c);
		nsh_strvec_push(&p->names, (const char *)c->name);
		nsh_strvec_push(&p->values, v ? v : "");
		free(v);
	}
	v = text_of(child(project, "version"));
	if (!v)
		v = text_of(child(child(project, "parent"), "version"));
	if (v) {
		nsh_strvec_push(&p->names, "project.version");
		nsh_strvec_push(&p->values, v);
		free(v);
	}
}

/* Every <dependency> under the <dependencies> element @deps. */
static void take_deps(const xmlNode *deps, const char *kind, const char *dep, const struct props *p,
		      struct nsh_analyze_decls *out)
{
	for (const xmlNode *d = deps ? deps->children : NULL; d; d = d->next) {
		char *group, *artifact, *version, *scope, *optional, *full = NULL, *ver = NULL;
		const char *k = kind;

		if (!named(d, "dependency"))
			continue;
		group = text_of(child(d, "groupId"));
		artifact = text_of(child(d, "artifactId"));
		version = text_of(child(d, "version"));
		scope = text_of(child(d, "scope"));
		optional = text_of(child(d, "optional"));
		if (!artifact)
			goto next;
		full = nsh_xasprintf("%s:%s", group ? group : "", artifact);
		if (strcmp(artifact, dep) && strcmp(full, dep))
			goto next;
		if (!strcmp(kind, "dependencies")) {
			if (scope && !strcmp(scope, "test"))
				k = "dev";
			else if (scope && !strcmp(scope, "provided"))
				k = "peer";
			if (optional && !strcmp(optional, "true"))
				k = "optional";
		}
		if (version)
			ver = substitute(version, p);
		{
			struct nsh_analyze_version v;
			bool exact = ver && nsh_analyze_version_parse(ver, &v);

			nsh_analyze_decls_add(out, full, k, ver, exact ? ver : NULL,
					      (int)xmlGetLineNo(d));
		}
	next:
		free(group);
		free(artifact);
		free(version);
		free(scope);
		free(optional);
		free(full);
		free(ver);
	}
}

int nsh_analyze_read_pom(const char *text, size_t len, const char *dep,
			 struct nsh_analyze_decls *out, struct nsh_err *err)
{
	struct props p = {NSH_STRVEC_INIT, NSH_STRVEC_INIT};
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	const xmlNode *project, *n;
	int rc = 0;

	if (len > NSH_ANALYZE_MANIFEST_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "larger than %zu bytes",
				   NSH_ANALYZE_MANIFEST_MAX);
	pthread_once(&xml_once, xml_init);
	ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return nsh_err_set(err, NSH_EIO, "cannot make an xml parser");
	doc = xmlCtxtReadMemory(ctxt, text, (int)len, "pom.xml", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		size_t n_msg = e && e->message ? strlen(e->message) : 0;

		while (n_msg && (e->message[n_msg - 1] == '\n' || e->message[n_msg - 1] == ' '))
			n_msg--;
		rc = nsh_err_set(err, NSH_EINVAL, "invalid xml at line %d: %.*s", e ? e->line : 0,
				 (int)(n_msg > 200 ? 200 : n_msg),
				 e && e->message ? e->message : "");
		goto out;
	}
	if (doc->intSubset || doc->extSubset) {
		rc = nsh_err_set(err, NSH_EINVAL, "a pom with a DTD is not read");
		goto out;
	}
	project = xmlDocGetRootElement(doc);
	if (!named(project, "project")) {
		rc = nsh_err_set(err, NSH_EINVAL, "the root element is not <project>");
		goto out;
	}
	read_props(project, &p);
	take_deps(child(project, "dependencies"), "dependencies", dep, &p, out);
	take_deps(child(child(project, "dependencyManagement"), "dependencies"), "managed", dep, &p,
		  out);
	n = child(project, "profiles");
	for (const xmlNode *pr = n ? n->children : NULL; pr; pr = pr->next)
		if (named(pr, "profile")) {
			take_deps(child(pr, "dependencies"), "dependencies", dep, &p, out);
			take_deps(child(child(pr, "dependencyManagement"), "dependencies"),
				  "managed", dep, &p, out);
		}
	n = child(child(project, "build"), "plugins");
	for (const xmlNode *pl = n ? n->children : NULL; pl; pl = pl->next)
		if (named(pl, "plugin"))
			take_deps(child(pl, "dependencies"), "build", dep, &p, out);
out:
	nsh_strvec_release(&p.names);
	nsh_strvec_release(&p.values);
	if (doc)
		xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return rc;
}
