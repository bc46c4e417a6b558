/*
 * Names and references of the forge: org, repository and branch names,
 * "O/R" and "O/R#N", and the checks every text that reaches a pull request
 * passes. All of it is pure string work on untrusted input (command lines,
 * API requests, webhook payloads); tests/fuzz/fuzz_forge_ref.c runs it.
 */
#include "forge/forge_int.h"

#include <stdint.h>
#include <string.h>

#include "core/err.h"

#include "core/banned.h"

/* Printable ASCII only, so that a rejected value can be quoted back safely. */
static bool quotable(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (n >= max || (unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

/* Which rule @name breaks, or NULL when it is valid. */
static const char *name_problem(const char *name)
{
	size_t len = strlen(name);

	if (!len)
		return "it is empty";
	if (len > NSH_FORGE_NAME_MAX)
		return "it is longer than 100 characters";
	for (size_t i = 0; i < len; i++)
		if (!name_char(name[i]))
			return "use only letters, digits, '-', '_' and '.'";
	/* ".github" is a name GitHub gives meaning to; "." is not a name */
	if (!strcmp(name, "."))
		return "it must not be '.'";
	if (strstr(name, ".."))
		return "it must not contain '..'";
	return NULL;
}

bool nsh_forge_name_valid(const char *name)
{
	return name && !name_problem(name);
}

int nsh_forge_check_name(const char *what, const char *name, struct nsh_err *err)
{
	const char *why;

	if (!name)
		return nsh_err_set(err, NSH_EINVAL, "missing %s name", what);
	why = name_problem(name);
	if (!why)
		return 0;
	if (quotable(name, 2 * NSH_FORGE_NAME_MAX))
		return nsh_err_set(err, NSH_EINVAL, "invalid %s name '%s': %s", what, name, why);
	return nsh_err_set(err, NSH_EINVAL, "invalid %s name: %s", what, why);
}

static bool branch_char(char c)
{
	return name_char(c) || c == '/' || c == '+';
}

bool nsh_forge_branch_valid(const char *name)
{
	size_t len;
	const char *comp;

	if (!name)
		return false;
	len = strlen(name);
	if (!len || len > NSH_FORGE_BRANCH_MAX || name[0] == '-' || name[0] == '/' ||
	    name[len - 1] == '/' || name[len - 1] == '.' || strstr(name, "..") ||
	    strstr(name, "//") || !strcmp(name, "HEAD"))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!branch_char(name[i]))
			return false;
	/* Each component: not starting with '.', not ending in ".lock". */
	for (comp = name; comp; comp = strchr(comp, '/') ? strchr(comp, '/') + 1 : NULL) {
		size_t n = strcspn(comp, "/");

		if (comp[0] == '.' || (n >= 5 && !memcmp(comp + n - 5, ".lock", 5)))
			return false;
	}
	return true;
}

int nsh_forge_check_branch(const char *name, struct nsh_err *err)
{
	if (!name)
		return nsh_err_set(err, NSH_EINVAL, "missing branch name");
	if (nsh_forge_branch_valid(name))
		return 0;
	if (quotable(name, 2 * NSH_FORGE_BRANCH_MAX))
		return nsh_err_set(err, NSH_EINVAL,
				   "invalid branch name '%s' (use letters, digits and '-_./+', "
				   "no '..', no component starting with '.')",
				   name);
	return nsh_err_set(err, NSH_EINVAL, "invalid branch name");
}

int nsh_forge_ref_set(struct nsh_forge_ref *ret, const char *org, const char *repo, int64_t number,
		      struct nsh_err *err)
{
	int rc = nsh_forge_check_name("org", org, err);

	if (!rc)
		rc = nsh_forge_check_name("repository", repo, err);
	if (rc)
		return rc;
	if (number < 0 || number > INT32_MAX)
		return nsh_err_set(err, NSH_EINVAL, "invalid pull request number %lld",
				   (long long)number);
	memcpy(ret->org, org, strlen(org) + 1);
	memcpy(ret->repo, repo, strlen(repo) + 1);
	ret->number = number;
	return 0;
}

/*
 * Parse "ORG/REPO" from @len bytes at @s into @ret; @what and @expect are
 * for the message.
 */
static int parse_names(const char *text, size_t len, const char *what, const char *expect,
		       struct nsh_forge_ref *ret, struct nsh_err *err)
{
	const char *slash = memchr(text, '/', len);
	size_t olen, rlen;
	bool q = quotable(text, 512);

	if (!slash) {
		if (q)
			return nsh_err_set(err, NSH_EINVAL, "invalid %s '%s': expected %s", what,
					   text, expect);
		return nsh_err_set(err, NSH_EINVAL, "invalid %s: expected %s", what, expect);
	}
	olen = (size_t)(slash - text);
	rlen = len - olen - 1;
	if (!olen || !rlen || olen > NSH_FORGE_NAME_MAX || rlen > NSH_FORGE_NAME_MAX) {
		if (q)
			return nsh_err_set(err, NSH_EINVAL,
					   "invalid %s '%s': expected %s, with names of 1 to %d "
					   "characters",
					   what, text, expect, NSH_FORGE_NAME_MAX);
		return nsh_err_set(err, NSH_EINVAL, "invalid %s: expected %s", what, expect);
	}
	memcpy(ret->org, text, olen);
	ret->org[olen] = '\0';
	memcpy(ret->repo, slash + 1, rlen);
	ret->repo[rlen] = '\0';
	if (nsh_forge_check_name("org", ret->org, err) ||
	    nsh_forge_check_name("repository", ret->repo, err))
		return err ? err->code : NSH_EINVAL;
	return 0;
}

int nsh_forge_ref_parse_repo(const char *text, struct nsh_forge_ref *ret, struct nsh_err *err)
{
	struct nsh_forge_ref r;
	int rc;

	if (!text)
		return nsh_err_set(err, NSH_EINVAL, "missing repository");
	rc = parse_names(text, strlen(text), "repository", "ORG/REPO, e.g. acme/api", &r, err);
	if (rc)
		return rc;
	r.number = 0;
	*ret = r;
	return 0;
}

int nsh_forge_ref_parse_pr(const char *text, struct nsh_forge_ref *ret, struct nsh_err *err)
{
	static const char expect[] = "ORG/REPO#NUMBER, e.g. acme/api#3";
	struct nsh_forge_ref r;
	const char *hash;
	int64_t n = 0;
	int rc;

	if (!text)
		return nsh_err_set(err, NSH_EINVAL, "missing pull request");
	hash = strchr(text, '#');
	if (!hash || !hash[1]) {
		if (quotable(text, 512))
			return nsh_err_set(err, NSH_EINVAL,
					   "invalid pull request '%s': expected %s", text, expect);
		return nsh_err_set(err, NSH_EINVAL, "invalid pull request: expected %s", expect);
	}
	for (const char *p = hash + 1; *p; p++) {
		if (*p < '0' || *p > '9' || n > INT32_MAX) {
			n = -1;
			break;
		}
		n = n * 10 + (*p - '0');
	}
	if (n < 1 || n > INT32_MAX) {
		if (quotable(text, 512))
			return nsh_err_set(
				err, NSH_EINVAL,
				"invalid pull request '%s': the number after '#' must be "
				"a whole number from 1 (expected %s)",
				text, expect);
		return nsh_err_set(err, NSH_EINVAL, "invalid pull request: expected %s", expect);
	}
	rc = parse_names(text, (size_t)(hash - text), "pull request", expect, &r, err);
	if (rc)
		return rc;
	r.number = n;
	*ret = r;
	return 0;
}

/* Length of the valid UTF-8 sequence at @s (NUL-terminated), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int nsh_forge_check_text(const char *what, const char *s, size_t max, bool one_line, bool required,
			 struct nsh_err *err)
{
	size_t len;

	if (!s || !*s) {
		if (required)
			return nsh_err_set(err, NSH_EINVAL, "the %s is empty", what);
		return 0;
	}
	len = strlen(s);
	if (len > max)
		return nsh_err_set(err, NSH_EINVAL, "the %s is longer than %zu bytes", what, max);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_seq(p);

		if (!n)
			return nsh_err_set(err, NSH_EINVAL, "the %s is not valid UTF-8", what);
		if (n == 1 && (*p < 0x20 || *p == 0x7f) && *p != '\t' &&
		    (one_line || (*p != '\n' && *p != '\r')))
			return nsh_err_set(err, NSH_EINVAL, "the %s contains a %s", what,
					   *p == '\n' || *p == '\r' ? "line break"
								    : "control character");
		p += n;
	}
	return 0;
}
