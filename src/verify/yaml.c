/*
 * YAML as JSON, for devfile.yaml and .nightshift/verify.yml: libyaml's
 * document loader, then a walk that makes jansson values. Every scalar
 * stays a string; the readers interpret them. Aliases are followed, so
 * the walk counts every value it makes and stops an alias bomb (or a
 * cycle, which libyaml allows) at the limits.
 */
#include "verify/verify_int.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"

#include "core/banned.h"

#define YAML_DEPTH_MAX	64
#define YAML_VALUES_MAX 100000

struct walk {
	yaml_document_t *doc;
	size_t made;
};

static json_t *node_json(struct walk *w, yaml_node_t *n, int depth)
{
	json_t *v = NULL;

	if (!n || depth > YAML_DEPTH_MAX || ++w->made > YAML_VALUES_MAX)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return nsh_json_string_lossy((const char *)n->data.scalar.value,
					     n->data.scalar.length);
	case YAML_SEQUENCE_NODE:
		v = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			json_t *e = node_json(w, yaml_document_get_node(w->doc, *it), depth + 1);

			if (!e) {
				json_decref(v);
				return NULL;
			}
			json_array_append_new(v, e);
		}
		return v;
	case YAML_MAPPING_NODE:
		v = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
			json_t *e;
			char *key;

			if (!k || k->type != YAML_SCALAR_NODE)
				continue; /* complex keys have no JSON form */
			e = node_json(w, yaml_document_get_node(w->doc, p->value), depth + 1);
			if (!e) {
				json_decref(v);
				return NULL;
			}
			key = nsh_xmemdup(k->data.scalar.value, k->data.scalar.length);
			if (strlen(key) == k->data.scalar.length && json_is_object(v))
				json_object_set_new(v, key, e);
			else
				json_decref(e);
			free(key);
		}
		return v;
	case YAML_NO_NODE:
		break;
	}
	return json_null();
}

int nsh_vrf_yaml_load(const char *text, size_t len, json_t **ret, struct nsh_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct walk w = {.doc = &doc};
	yaml_node_t *root;
	json_t *v;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return nsh_err_set(err, NSH_EIO, "cannot start the yaml parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = nsh_err_set(err, NSH_EINVAL, "invalid yaml at line %zu: %s",
				 parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "unreadable");
		yaml_parser_delete(&parser);
		return rc;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		v = json_null();
	} else {
		v = node_json(&w, root, 0);
		if (!v)
			rc = nsh_err_set(err, NSH_ETOOBIG,
					 "yaml nests deeper than %d levels or makes more than %d "
					 "values",
					 YAML_DEPTH_MAX, YAML_VALUES_MAX);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (!rc)
		*ret = v;
	return rc;
}
