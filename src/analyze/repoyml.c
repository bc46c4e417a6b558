/*
 * .nightshift/repo.yml, read with libyaml's event parser. Only two keys of
 * the top-level mapping matter here:
 *
 *	critical: true          # true/false (also yes/no, on/off)
 *	topics: [payments, critical]
 *
 * Other keys are skipped whatever they hold; an empty file is fine.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "analyze/analyze_int.h"
#include "core/alloc.h"
#include "core/err.h"

#include "core/banned.h"

#define MAX_EVENTS 100000
#define MAX_DEPTH  64

struct yml {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_ev;
	size_t events;
	struct nsh_err *err;
};

static int next(struct yml *y)
{
	if (y->have_ev)
		yaml_event_delete(&y->ev);
	y->have_ev = false;
	if (++y->events > MAX_EVENTS)
		return nsh_err_set(y->err, NSH_ETOOBIG, "more than %d yaml events", MAX_EVENTS);
	if (!yaml_parser_parse(&y->parser, &y->ev))
		return nsh_err_set(y->err, NSH_EINVAL, "invalid yaml at line %zu: %s",
				   y->parser.problem_mark.line + 1,
				   y->parser.problem ? y->parser.problem : "parse error");
	y->have_ev = true;
	return 0;
}

/* Skip the node whose first event is the current one. */
static int skip_node(struct yml *y)
{
	int depth = 0;

	do {
		switch (y->ev.type) {
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (++depth > MAX_DEPTH)
				return nsh_err_set(y->err, NSH_EINVAL, "yaml nested deeper than %d",
						   MAX_DEPTH);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			break;
		case YAML_NO_EVENT:
		case YAML_STREAM_START_EVENT:
		case YAML_STREAM_END_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
		case YAML_ALIAS_EVENT:
		case YAML_SCALAR_EVENT:
			break;
		}
		if (depth > 0 && next(y))
			return NSH_EINVAL;
	} while (depth > 0);
	return 0;
}

static const char *scalar(const struct yml *y)
{
	return (const char *)y->ev.data.scalar.value;
}

/* A YAML 1.1 boolean: 1 true, 0 false, -1 neither. */
static int yaml_bool(const char *s)
{
	static const char *const yes[] = {"true", "yes", "on", NULL};
	static const char *const no[] = {"false", "no", "off", NULL};

	for (size_t i = 0; yes[i]; i++)
		if (!strcasecmp(s, yes[i]))
			return 1;
	for (size_t i = 0; no[i]; i++)
		if (!strcasecmp(s, no[i]))
			return 0;
	return -1;
}

int nsh_analyze_read_repo_yml(const char *text, size_t len, bool *ret_critical, char **ret_source,
			      struct nsh_err *err)
{
	struct yml y = {.err = err};
	bool critical = false;
	char *source = NULL;
	int rc = 0;

	if (len > NSH_ANALYZE_YML_MAX)
		return nsh_err_set(err, NSH_ETOOBIG, "larger than %zu bytes", NSH_ANALYZE_YML_MAX);
	if (!yaml_parser_initialize(&y.parser))
		return nsh_err_set(err, NSH_EIO, "cannot make a yaml parser");
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);
	/* stream start, then a document or the end */
	if ((rc = next(&y)) || (rc = next(&y)))
		goto out;
	if (y.ev.type == YAML_STREAM_END_EVENT)
		goto done;
	if ((rc = next(&y)))
		goto out;
	if (y.ev.type == YAML_SCALAR_EVENT && !y.ev.data.scalar.length)
		goto done; /* an empty document */
	if (y.ev.type != YAML_MAPPING_START_EVENT) {
		rc = nsh_err_set(err, NSH_EINVAL, "expected a mapping at the top");
		goto out;
	}
	for (;;) {
		char *key;

		if ((rc = next(&y)))
			goto out;
		if (y.ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (y.ev.type != YAML_SCALAR_EVENT) {
			if ((rc = skip_node(&y)) || (rc = next(&y)) || (rc = skip_node(&y)))
				goto out;
			continue;
		}
		key = nsh_xstrdup(scalar(&y));
		if ((rc = next(&y))) {
			free(key);
			goto out;
		}
		if (!strcmp(key, "critical")) {
			int b = y.ev.type == YAML_SCALAR_EVENT ? yaml_bool(scalar(&y)) : -1;

			if (b < 0) {
				rc = nsh_err_set(err, NSH_EINVAL,
						 "line %zu: 'critical' must be true or false",
						 y.ev.start_mark.line + 1);
				free(key);
				goto out;
			}
			if (b && !critical) {
				critical = true;
				source = nsh_xstrdup(".nightshift/repo.yml critical: true");
			}
		} else if (!strcmp(key, "topics") && y.ev.type == YAML_SEQUENCE_START_EVENT) {
			for (;;) {
				if ((rc = next(&y))) {
					free(key);
					goto out;
				}
				if (y.ev.type == YAML_SEQUENCE_END_EVENT)
					break;
				if (y.ev.type != YAML_SCALAR_EVENT) {
					if ((rc = skip_node(&y))) {
						free(key);
						goto out;
					}
					continue;
				}
				if (!strcasecmp(scalar(&y), "critical") && !critical) {
					critical = true;
					source = nsh_xstrdup(
						".nightshift/repo.yml topic 'critical'");
				}
			}
		} else if (!strcmp(key, "topics") && y.ev.type == YAML_SCALAR_EVENT) {
			if (!strcasecmp(scalar(&y), "critical") && !critical) {
				critical = true;
				source = nsh_xstrdup(".nightshift/repo.yml topic 'critical'");
			}
		} else if ((rc = skip_node(&y))) {
			free(key);
			goto out;
		}
		free(key);
	}
done:
	*ret_critical = critical;
	*ret_source = source;
	source = NULL;
out:
	free(source);
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	return rc;
}
