/*
 * A test driver for the task model and the event log, used by the
 * integration scripts to act as an independent process on one home:
 *
 *   nsh-test-events HOME create TITLE            print the new task id
 *   nsh-test-events HOME job TASK REPO           print the new job id
 *   nsh-test-events HOME move TASK STATE         transition a task
 *   nsh-test-events HOME append TASK WRITER N    N single-event transactions
 *   nsh-test-events HOME follow TASK COUNT MS    print "id writer seq" for each
 *                                                event of kind "test" until COUNT
 *                                                were seen, failing after MS ms
 *
 * The store is HOME's SQLite file, or the database NIGHTSHIFT_DB names.
 * Any error is printed on stderr and makes the exit status 1.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/id.h"
#include "core/json.h"
#include "core/time.h"
#include "store/store.h"
#include "task/task.h"

static int fail(const struct nsh_err *err)
{
	fprintf(stderr, "nsh-test-events: %s\n", err->msg);
	return 1;
}

static long long num(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*end || v < 0) {
		fprintf(stderr, "nsh-test-events: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int append(struct nsh_store *s, const char *task, const char *writer, long long n)
{
	struct nsh_err err = NSH_ERR_INIT;

	for (long long i = 0; i < n; i++) {
		json_t *d = json_pack("{s:s, s:I}", "writer", writer, "seq", (json_int_t)i);
		int rc = nsh_event_append(s, task, NULL, "test", d, NULL, &err);

		json_decref(d);
		if (rc)
			return fail(&err);
	}
	return 0;
}

static int follow(struct nsh_store *s, const char *task, long long count, long long ms)
{
	struct nsh_err err = NSH_ERR_INIT;
	int64_t until = nsh_time_mono_ms() + ms, after = 0;
	long long seen = 0;

	while (seen < count) {
		struct nsh_event_list l = {0};
		int64_t left = until - nsh_time_mono_ms();

		if (left <= 0) {
			fprintf(stderr, "nsh-test-events: saw %lld of %lld events\n", seen, count);
			return 1;
		}
		if (nsh_event_wait(s, NULL, after, task, left, 0, &l, &err))
			return fail(&err);
		for (size_t i = 0; i < l.nr; i++) {
			json_t *d = NULL;
			const char *w = "";
			json_int_t seq = -1;

			after = l.v[i].id;
			if (strcmp(l.v[i].kind, "test"))
				continue;
			if (nsh_json_parse(l.v[i].data, strlen(l.v[i].data), &d, &err) ||
			    nsh_json_get_str(d, "writer", &w, &err) ||
			    nsh_json_get_int(d, "seq", &seq, &err)) {
				json_decref(d);
				nsh_event_list_release(&l);
				return fail(&err);
			}
			printf("%lld %s %lld\n", (long long)l.v[i].id, w, (long long)seq);
			json_decref(d);
			seen++;
		}
		fflush(stdout);
		nsh_event_list_release(&l);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_store *s = NULL;
	char *path;
	int rc = 2;

	if (argc < 3) {
		fprintf(stderr, "usage: nsh-test-events HOME COMMAND ARGS...\n");
		return 2;
	}
	path = nsh_store_target(argv[1], getenv("NIGHTSHIFT_DB"), NULL);
	if (nsh_store_open(path, &s, &err)) {
		free(path);
		return fail(&err);
	}
	if (!strcmp(argv[2], "create") && argc == 4) {
		struct nsh_task_new tn = {.title = argv[3]};
		char id[NSH_ID_MAX];

		rc = nsh_task_create(s, &tn, id, &err) ? fail(&err) : (puts(id), 0);
	} else if (!strcmp(argv[2], "job") && argc == 5) {
		char id[NSH_ID_MAX];

		rc = nsh_job_create(s, argv[3], argv[4], 0, id, &err) ? fail(&err) : (puts(id), 0);
	} else if (!strcmp(argv[2], "move") && argc == 5) {
		enum nsh_task_state to;

		rc = nsh_task_state_parse(argv[4], &to, &err) ||
				     nsh_task_transition(s, argv[3], to, "test", NULL, &err)
			     ? fail(&err)
			     : 0;
	} else if (!strcmp(argv[2], "append") && argc == 6) {
		rc = append(s, argv[3], argv[4], num(argv[5]));
	} else if (!strcmp(argv[2], "follow") && argc == 6) {
		rc = follow(s, argv[3], num(argv[4]), num(argv[5]));
	} else {
		fprintf(stderr, "nsh-test-events: bad command\n");
	}
	nsh_store_close(s);
	free(path);
	return rc;
}
