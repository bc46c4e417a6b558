/*
 * A test driver for the memory module, used by the integration scripts to
 * learn rules the way the feedback flow does (nightshift has no command
 * that learns by hand):
 *
 *   nsh-test-memory HOME learn KEY=VALUE...   print the rule's id
 *
 * Keys: kind, recipe, choice, alt, text, repo, language, path, reviewer,
 * task, pr, comment, now (epoch ms), write (0 for no write permission).
 * Any error is printed on stderr and makes the exit status 1. The store is
 * HOME's SQLite file, or the database NIGHTSHIFT_DB names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "memory/memory.h"
#include "store/store.h"

int main(int argc, char **argv)
{
	struct nsh_memory_learn in = {.kind = "text", .can_write = true};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_memory_rule r = {0};
	struct nsh_store *s = NULL;
	char *db;
	int rc;

	if (argc < 3 || strcmp(argv[2], "learn")) {
		fprintf(stderr, "usage: nsh-test-memory HOME learn KEY=VALUE...\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *v;

		if (!eq) {
			fprintf(stderr, "nsh-test-memory: expected KEY=VALUE, got '%s'\n", argv[i]);
			return 2;
		}
		*eq = 0;
		v = eq + 1;
		if (!strcmp(argv[i], "kind"))
			in.kind = v;
		else if (!strcmp(argv[i], "recipe"))
			in.recipe = v;
		else if (!strcmp(argv[i], "choice"))
			in.choice = v;
		else if (!strcmp(argv[i], "alt"))
			in.alt = v;
		else if (!strcmp(argv[i], "text"))
			in.text = v;
		else if (!strcmp(argv[i], "repo"))
			in.repo = v;
		else if (!strcmp(argv[i], "language"))
			in.language = v;
		else if (!strcmp(argv[i], "path"))
			in.path = v;
		else if (!strcmp(argv[i], "reviewer"))
			in.reviewer = v;
		else if (!strcmp(argv[i], "task"))
			in.task_id = v;
		else if (!strcmp(argv[i], "pr"))
			in.pr = v;
		else if (!strcmp(argv[i], "comment"))
			in.comment_id = strtoll(v, NULL, 10);
		else if (!strcmp(argv[i], "now"))
			in.now_ms = strtoll(v, NULL, 10);
		else if (!strcmp(argv[i], "write"))
			in.can_write = strcmp(v, "0") != 0;
		else {
			fprintf(stderr, "nsh-test-memory: unknown key '%s'\n", argv[i]);
			return 2;
		}
	}
	db = nsh_store_target(argv[1], getenv("NIGHTSHIFT_DB"), NULL);
	rc = nsh_store_open(db, &s, &err);
	if (!rc)
		rc = nsh_memory_learn(s, &in, &r, &err);
	if (rc)
		fprintf(stderr, "nsh-test-memory: %s\n", err.msg);
	else
		printf("%lld\n", (long long)r.r.id);
	nsh_memory_rule_release(&r);
	nsh_store_close(s);
	free(db);
	return rc ? 1 : 0;
}
