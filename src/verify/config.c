/*
 * .nightshift/verify.yml (see docs/verify.md): allowlists, skips, the
 * timeout, docker and criteria, read from YAML through yaml.c; and the
 * allowlist match. The commands, formats and reports of the file are read
 * by detect.c, which owns the plan.
 */
#include "verify/verify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"

#include "core/banned.h"

#define ALLOW_MAX 1000

void nsh_verify_allow_release(struct nsh_verify_allow *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nr; i++) {
		free(a->v[i].path);
		free(a->v[i].rule);
		free(a->v[i].fingerprint);
	}
	free(a->v);
	memset(a, 0, sizeof(*a));
}

bool nsh_verify_allowed(const struct nsh_verify_allow *a, const char *file, const char *rule,
			const char *fingerprint)
{
	for (size_t i = 0; a && i < a->nr; i++) {
		const struct nsh_verify_allow_entry *e = &a->v[i];

		if (e->path && (!file || !nsh_vrf_glob(e->path, file)))
			continue;
		if (e->rule && (!rule || strcmp(e->rule, rule)))
			continue;
		if (e->fingerprint && (!fingerprint || strcmp(e->fingerprint, fingerprint)))
			continue;
		return true;
	}
	return false;
}

static int opt_string(const json_t *o, const char *key, char **ret, const char *where,
		      struct nsh_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return nsh_err_set(err, NSH_EINVAL, "%s: '%s' must be a string", where, key);
	*ret = nsh_xstrdup(json_string_value(v));
	return 0;
}

/* allow: NAME: [ "glob", {path: .., rule: .., fingerprint: ..}, ... ] */
static int read_allow(const json_t *list, const char *name, struct nsh_verify_allow *ret,
		      struct nsh_err *err)
{
	size_t i;
	json_t *e;

	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return nsh_err_set(err, NSH_EINVAL, "verify.yml: 'allow.%s' must be a list", name);
	if (json_array_size(list) > ALLOW_MAX)
		return nsh_err_set(err, NSH_ETOOBIG,
				   "verify.yml: 'allow.%s' has more than %d entries", name,
				   ALLOW_MAX);
	json_array_foreach(list, i, e)
	{
		struct nsh_verify_allow_entry x = {0};
		int rc = 0;

		if (json_is_string(e)) {
			x.path = nsh_xstrdup(json_string_value(e));
		} else if (json_is_object(e)) {
			char where[64];

			snprintf(where, sizeof(where), "verify.yml: allow.%s[%zu]", name, i);
			if ((rc = opt_string(e, "path", &x.path, where, err)) ||
			    (rc = opt_string(e, "rule", &x.rule, where, err)) ||
			    (rc = opt_string(e, "fingerprint", &x.fingerprint, where, err))) {
				free(x.path);
				free(x.rule);
				return rc;
			}
			if (!x.path && !x.rule && !x.fingerprint)
				return nsh_err_set(err, NSH_EINVAL,
						   "%s: give a path, a rule or a fingerprint",
						   where);
		} else {
			return nsh_err_set(err, NSH_EINVAL,
					   "verify.yml: allow.%s[%zu] must be a path or a mapping",
					   name, i);
		}
		NSH_ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
		ret->v[ret->nr++] = x;
	}
	return 0;
}

void nsh_vrf_config_release(struct nsh_verify_config *c)
{
	if (!c)
		return;
	nsh_verify_allow_release(&c->allow_secrets);
	nsh_verify_allow_release(&c->allow_sql);
	nsh_verify_allow_release(&c->allow_integrity);
	nsh_strvec_release(&c->skip);
	json_decref(c->criteria);
	free(c->coverage);
	free(c->maven_repo);
	memset(c, 0, sizeof(*c));
}

/* The settings of verify.yml's document @root (an object) into @ret. */
int nsh_vrf_config_read(const json_t *root, struct nsh_verify_config *ret, struct nsh_err *err)
{
	static const char *const skips[] = {"build",	"test",	    "tests", "lint",
					    "types",	"secrets",  "sql",   "integrity",
					    "coverage", "criteria", NULL};
	json_t *v, *allow;
	int rc;

	v = json_object_get(root, "skip");
	if (v && json_is_string(v)) {
		nsh_strvec_push(&ret->skip, json_string_value(v));
	} else if (v && json_is_array(v)) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return nsh_err_set(err, NSH_EINVAL,
						   "verify.yml: 'skip' must list names");
			nsh_strvec_push(&ret->skip, json_string_value(e));
		}
	} else if (v && !json_is_null(v)) {
		return nsh_err_set(err, NSH_EINVAL, "verify.yml: 'skip' must be a list");
	}
	for (size_t i = 0; i < ret->skip.nr; i++) {
		bool known = false;

		for (int k = 0; skips[k]; k++)
			known |= !strcmp(ret->skip.v[i], skips[k]);
		if (!known)
			return nsh_err_set(
				err, NSH_EINVAL,
				"verify.yml: unknown name '%s' in 'skip' (build, test, "
				"lint, types, secrets, sql, integrity, coverage, criteria)",
				ret->skip.v[i]);
	}
	v = json_object_get(root, "timeout");
	if (v && json_is_string(v)) {
		if (nsh_time_parse_duration(json_string_value(v), &ret->timeout_ms, err))
			return nsh_err_wrap(err, "verify.yml: 'timeout'");
	} else if (v && json_is_integer(v)) {
		ret->timeout_ms = json_integer_value(v) * 1000;
	}
	v = json_object_get(root, "docker");
	if (v && json_is_string(v)) {
		if (!strcmp(json_string_value(v), "build"))
			ret->docker_build = true;
		else if (strcmp(json_string_value(v), "hints"))
			return nsh_err_set(err, NSH_EINVAL,
					   "verify.yml: 'docker' is 'build' or 'hints', not '%s'",
					   json_string_value(v));
	}
	/* YAML scalars come as strings */
	v = json_object_get(root, "offline");
	if (v && (json_is_true(v) || (json_is_string(v) && !strcmp(json_string_value(v), "true"))))
		ret->offline = true;
	else if (v && !json_is_null(v) && !json_is_false(v) &&
		 !(json_is_string(v) && !strcmp(json_string_value(v), "false")))
		return nsh_err_set(err, NSH_EINVAL, "verify.yml: 'offline' must be true or false");
	v = json_object_get(root, "maven");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v))
			return nsh_err_set(err, NSH_EINVAL,
					   "verify.yml: 'maven' must be a mapping");
		if ((rc = opt_string(v, "repository", &ret->maven_repo, "verify.yml: maven", err)))
			return rc;
		if (ret->maven_repo && !*ret->maven_repo)
			return nsh_err_set(err, NSH_EINVAL,
					   "verify.yml: maven: 'repository' is empty");
	}
	allow = json_object_get(root, "allow");
	if (allow && !json_is_null(allow)) {
		if (!json_is_object(allow))
			return nsh_err_set(err, NSH_EINVAL,
					   "verify.yml: 'allow' must be a mapping");
		if ((rc = read_allow(json_object_get(allow, "secrets"), "secrets",
				     &ret->allow_secrets, err)) ||
		    (rc = read_allow(json_object_get(allow, "sql"), "sql", &ret->allow_sql, err)) ||
		    (rc = read_allow(json_object_get(allow, "integrity"), "integrity",
				     &ret->allow_integrity, err)))
			return rc;
	}
	v = json_object_get(root, "criteria");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v))
			return nsh_err_set(err, NSH_EINVAL,
					   "verify.yml: 'criteria' must be a list");
		ret->criteria = json_incref(v);
	}
	return 0;
}
