/*
 * JUnit XML: pytest --junitxml and Maven Surefire's TEST-*.xml. Read with
 * libxml2 without network access or entity expansion. Each <testcase>
 * anywhere in the document is a test; a <failure> or <error> child fails
 * it, <skipped> skips it. The location is the testcase's file and line
 * (pytest's xunit1), the last "path:line: " of pytest's failure text, or
 * the first frame of the test's class in a Java stack trace (mapped to
 * Maven's src/test/java layout).
 */
#include "verify/verify_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "core/alloc.h"
#include "core/buf.h"

#include "core/banned.h"

#define NODES_MAX 2000000 /* elements visited per document */

/* A line number at @s (digits), 0 when there is none or it is absurd. */
static int atoi_safe_line(const char *s)
{
	long v = 0;

	while (*s >= '0' && *s <= '9' && v < 100000000)
		v = v * 10 + (*s++ - '0');
	return v < 100000000 ? (int)v : 0;
}

static const char *attr(xmlNode *n, const char *name, xmlChar **keep)
{
	*keep = xmlGetProp(n, (const xmlChar *)name);
	return (const char *)*keep;
}

static xmlNode *child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
			return c;
	return NULL;
}

/* pytest: the last line "path:line: Error" of the failure text. */
static bool pytest_location(const char *text, char **ret_file, int *ret_line)
{
	bool found = false;

	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *c = memchr(p, ':', n);

		if (c && c > p && (size_t)(c - p) < n - 1 && c[1] >= '0' && c[1] <= '9' &&
		    !memchr(p, ' ', (size_t)(c - p))) {
			const char *d = c + 1;
			long v = 0;

			while (d < p + n && *d >= '0' && *d <= '9' && v < 100000000)
				v = v * 10 + (*d++ - '0');
			if (d < p + n && *d == ':' && v > 0) {
				free(*ret_file);
				*ret_file = nsh_xmemdup(p, (size_t)(c - p));
				*ret_line = (int)v;
				found = true;
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	return found;
}

/* Java: "at com.acme.AppTest.testAdd(AppTest.java:12)" for @classname. */
static bool java_location(const char *text, const char *classname, char **ret_file, int *ret_line)
{
	size_t cn = classname ? strlen(classname) : 0;

	if (!cn)
		return false;
	for (const char *p = strstr(text, "at "); p; p = strstr(p + 3, "at ")) {
		const char *lp, *colon, *rp;
		const char *pkg_end = strrchr(classname, '.');

		if (strncmp(p + 3, classname, cn) || p[3 + cn] != '.')
			continue;
		lp = strchr(p, '(');
		rp = lp ? strchr(lp, ')') : NULL;
		colon = lp && rp ? memchr(lp, ':', (size_t)(rp - lp)) : NULL;
		if (!colon)
			continue;
		*ret_line = atoi_safe_line(colon + 1);
		if (pkg_end) {
			struct nsh_buf b = NSH_BUF_INIT;

			nsh_buf_adds(&b, "src/test/java/");
			for (const char *q = classname; q < pkg_end; q++)
				nsh_buf_addch(&b, *q == '.' ? '/' : *q);
			nsh_buf_addch(&b, '/');
			nsh_buf_add(&b, lp + 1, (size_t)(colon - lp - 1));
			*ret_file = nsh_buf_detach(&b, NULL);
		} else {
			*ret_file = nsh_xmemdup(lp + 1, (size_t)(colon - lp - 1));
		}
		return *ret_line > 0;
	}
	return false;
}

static char *first_line(const char *s)
{
	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		const char *t = nsh_vrf_trim(s, &n);

		if (n)
			return nsh_xmemdup(t,
					   n > NSH_VERIFY_MESSAGE_MAX ? NSH_VERIFY_MESSAGE_MAX : n);
		s = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static void testcase(xmlNode *n, struct nsh_test_report *r)
{
	xmlChar *k_name, *k_class, *k_file, *k_line, *k_msg = NULL, *text = NULL;
	const char *name = attr(n, "name", &k_name), *cls = attr(n, "classname", &k_class);
	const char *file = attr(n, "file", &k_file), *line_s = attr(n, "line", &k_line);
	xmlNode *bad = child(n, "failure");
	enum nsh_test_status st = NSH_TEST_PASS;
	char *full, *loc = NULL, *msg = NULL;
	int line = 0;

	if (!bad)
		bad = child(n, "error");
	if (bad) {
		const char *m = attr(bad, "message", &k_msg);

		st = NSH_TEST_FAIL;
		text = xmlNodeGetContent(bad);
		msg = first_line(m && *m ? m : (const char *)text);
		if (text && !pytest_location((const char *)text, &loc, &line))
			java_location((const char *)text, cls, &loc, &line);
	} else if (child(n, "skipped")) {
		st = NSH_TEST_SKIP;
	}
	if (!loc && file) {
		loc = nsh_xstrdup(file);
		line = line_s ? atoi_safe_line(line_s) : 0;
	}
	full = cls && *cls ? nsh_xasprintf("%s.%s", cls, name ? name : "")
			   : nsh_xstrdup(name ? name : "");
	if (*full)
		nsh_test_report_add(r, full, st, loc, line, msg);
	free(full);
	free(loc);
	free(msg);
	xmlFree(text);
	xmlFree(k_msg);
	xmlFree(k_name);
	xmlFree(k_class);
	xmlFree(k_file);
	xmlFree(k_line);
}

static void walk(xmlNode *n, struct nsh_test_report *r, size_t *visited, int depth)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (++*visited > NODES_MAX || depth > 64)
			return;
		if (!strcmp((const char *)n->name, "testcase"))
			testcase(n, r);
		else
			walk(n->children, r, visited, depth + 1);
	}
}

/* libxml2 wants its first initialisation on one thread; jobs verify on several. */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

void nsh_vrf_parse_junit(const char *text, size_t len, struct nsh_test_report *ret)
{
	xmlDoc *doc;
	xmlNode *root;
	size_t visited = 0;

	if (!len || len > INT_MAX)
		return;
	pthread_once(&xml_once, xml_init);
	doc = xmlReadMemory(text, (int)len, NULL, NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				    XML_PARSE_NOCDATA);
	if (!doc)
		return;
	root = xmlDocGetRootElement(doc);
	if (root && (!strcmp((const char *)root->name, "testsuites") ||
		     !strcmp((const char *)root->name, "testsuite"))) {
		walk(root, ret, &visited, 0);
		ret->complete = visited <= NODES_MAX;
	}
	xmlFreeDoc(doc);
	nsh_test_report_count(ret);
}
