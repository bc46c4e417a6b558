/*
 * Tests for cli/progress: the per-job block that "nightshift follow" keeps
 * at the bottom of a terminal, learnt from events and rendered as text.
 */
#include "cli/progress.h"

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "test.h"

#include "core/banned.h"

#define T0 1795600000000 /* an epoch ms for the events */

static void state(struct nsh_progress *p, const char *job, const char *repo, const char *to,
		  int64_t at)
{
	json_t *d = json_pack("{s:s}", "to", to);

	nsh_progress_event(p, job, repo, "job.state", d, at);
	json_decref(d);
}

static void step(struct nsh_progress *p, const char *job, int64_t index, const char *next,
		 int64_t at)
{
	json_t *d = json_pack("{s:s, s:I, s:I}", "step", "x", "index", (json_int_t)index, "steps",
			      (json_int_t)12);

	if (next)
		json_object_set_new(d, "next", json_string(next));
	nsh_progress_event(p, job, NULL, "job.step", d, at);
	json_decref(d);
}

/* The block for @p at @now, @width columns, @rows lines at most, without colour. */
static char *text(const struct nsh_progress *p, int64_t now, int width, int rows, size_t *lines)
{
	struct nsh_buf b = NSH_BUF_INIT;

	*lines = nsh_progress_render(p, now, width, rows, false, &b);
	return nsh_buf_detach(&b, NULL);
}

static void test_empty(void)
{
	struct nsh_progress p = NSH_PROGRESS_INIT;
	size_t n;
	char *t = text(&p, T0, 80, 20, &n);

	CHECK_INT(n, 0);
	CHECK_STR(t, "");
	/* events about no job add nothing */
	CHECK(!nsh_progress_event(&p, NULL, NULL, "task.state", NULL, T0));
	CHECK_INT(p.nr, 0);
	free(t);
	nsh_progress_release(&p);
}

static void test_lines(void)
{
	struct nsh_progress p = NSH_PROGRESS_INIT;
	size_t n;
	char *t;

	/* a job at work, one finished, one that has not started */
	state(&p, "j-1", "demo-org/billing", "queued", T0);
	state(&p, "j-2", "demo-org/geo", "queued", T0);
	state(&p, "j-3", "demo-org/rate-limiter", "queued", T0);
	step(&p, "j-1", 1, "clone", T0 + 1000);
	state(&p, "j-1", "demo-org/billing", "provisioning", T0 + 1000);
	step(&p, "j-1", 3, "install", T0 + 5000);
	state(&p, "j-2", "demo-org/geo", "provisioning", T0);
	step(&p, "j-2", 12, NULL, T0 + 65000);
	state(&p, "j-2", "demo-org/geo", "pr_open", T0 + 65000);
	t = text(&p, T0 + 76000, 100, 20, &n);
	CHECK_INT(n, 3);
	CHECK_STR(t, "  demo-org/billing      [█████░░░░░░░░░░░░░░░]  3/12 install  1m15s\n"
		     "  demo-org/geo          [████████████████████] 12/12 pr_open  1m05s\n"
		     "  demo-org/rate-limiter [░░░░░░░░░░░░░░░░░░░░]  0/12 queued\n");
	free(t);
	/* a finished job's time stays; a job at work keeps counting */
	t = text(&p, T0 + 3600000, 100, 20, &n);
	CHECK(strstr(t, "pr_open  1m05s\n") != NULL);
	CHECK(strstr(t, "install 59m59s\n") != NULL);
	free(t);
	/* a retry goes back to the change step: the bar follows */
	step(&p, "j-1", 9, "change", T0 + 90000);
	state(&p, "j-1", NULL, "retrying", T0 + 90000);
	t = text(&p, T0 + 90000, 100, 20, &n);
	CHECK(strstr(t, "[███████████████░░░░░]  9/12 change") != NULL);
	free(t);
	/* the end of a failed job shows its state, and its time stops */
	state(&p, "j-1", NULL, "failed", T0 + 100000);
	t = text(&p, T0 + 500000, 100, 20, &n);
	CHECK(strstr(t, "  9/12 failed   1m39s\n") != NULL);
	free(t);
	nsh_progress_release(&p);
}

static void test_width(void)
{
	struct nsh_progress p = NSH_PROGRESS_INIT;
	size_t n;
	char *t, *line;

	state(&p, "j-1", "demo-org/a-repository-with-a-very-long-name-indeed", "provisioning", T0);
	step(&p, "j-1", 4, "baseline-with-a-long-step-name", T0);
	/* every line fits in width - 1 columns, whatever the terminal */
	for (int w = 10; w <= 120; w += 7) {
		t = text(&p, T0 + 1000, w, 20, &n);
		CHECK_INT(n, 1);
		line = t;
		{
			size_t cols = 0;

			for (const char *c = line; *c && *c != '\n'; c++)
				cols += ((unsigned char)*c & 0xC0) != 0x80;
			if (cols > (size_t)w - 1)
				fprintf(stderr, "width %d: %zu columns: %s", w, cols, line);
			CHECK(cols <= (size_t)w - 1);
		}
		free(t);
	}
	/* the bar shrinks before the names are cut */
	t = text(&p, T0 + 1000, 80, 20, &n);
	CHECK(strstr(t, "a-repository-with-a-very-long-name-indeed") == NULL); /* over 40 */
	CHECK(strstr(t, "demo-org/a-repository-with-a-very-long-n") != NULL);
	free(t);
	nsh_progress_release(&p);
}

static void test_rows(void)
{
	struct nsh_progress p = NSH_PROGRESS_INIT;
	char id[16];
	size_t n;
	char *t;

	/* 8 jobs, 5 finished, on 4 lines: the ones at work, then a line for the rest */
	for (int i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "j-%d", i);
		state(&p, id, id, "provisioning", T0);
		if (i < 5)
			state(&p, id, id, "pr_open", T0 + 1000);
	}
	t = text(&p, T0 + 2000, 80, 4, &n);
	CHECK_INT(n, 4);
	CHECK(strstr(t, "  j-5 ") != NULL);
	CHECK(strstr(t, "  j-6 ") != NULL);
	CHECK(strstr(t, "  j-7 ") != NULL);
	CHECK(strstr(t, "  j-0 ") == NULL);
	CHECK(strstr(t, "  + 5 more jobs (5 finished)\n") != NULL);
	free(t);
	nsh_progress_release(&p);
}

static void test_color_and_names(void)
{
	struct nsh_progress p = NSH_PROGRESS_INIT;
	struct nsh_buf b = NSH_BUF_INIT;

	/* a name cannot move the cursor: control characters are shown as '?' */
	state(&p, "j-1", "evil\033[2J/repo", "provisioning", T0);
	state(&p, "j-1", NULL, "needs_human_review", T0 + 1000);
	nsh_progress_render(&p, T0, 80, 10, true, &b);
	CHECK(strstr(b.buf, "evil?[2J/repo") != NULL);
	CHECK(strstr(b.buf, "\033[2J") == NULL);
	/* the bar in yellow for a job a person must look at, reset after */
	CHECK(strstr(b.buf, "[\033[33m░") != NULL);
	CHECK(strstr(b.buf, "\033[0m]") != NULL);
	nsh_buf_release(&b);
	nsh_progress_release(&p);
}

static void test_old_log(void)
{
	struct nsh_progress p = NSH_PROGRESS_INIT;
	json_t *d = json_pack("{s:s}", "step", "clone");
	size_t n;
	char *t;

	/* step events without positions (older logs) are counted, the total is unknown */
	nsh_progress_event(&p, "j-1", "o/r", "job.step", d, T0);
	nsh_progress_event(&p, "j-1", "o/r", "job.step", d, T0 + 1000);
	t = text(&p, T0 + 2000, 80, 10, &n);
	CHECK(strstr(t, "] 2/? ") != NULL);
	free(t);
	json_decref(d);
	nsh_progress_release(&p);
}

int main(void)
{
	RUN(test_empty);
	RUN(test_lines);
	RUN(test_width);
	RUN(test_rows);
	RUN(test_color_and_names);
	RUN(test_old_log);
	return TEST_DONE();
}
