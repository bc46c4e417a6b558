/*
 * The live block of "nightshift follow" on a terminal; see progress.h.
 */
#include "cli/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "task/task.h"

#include "core/banned.h"

#define BAR_CELLS     20 /* bar width when the terminal has room */
#define BAR_MIN	      6	 /* narrowest bar before the other columns give way */
#define REPO_MAX      40 /* widest repository column */
#define WHAT_MAX      24 /* widest "step now" column */
#define WHAT_MIN      8
#define REPO_MIN      10
#define ELAPSED_COLS  6	     /* "59m59s" */
#define PROGRESS_JOBS 100000 /* jobs learnt at most (one task's) */

void nsh_progress_release(struct nsh_progress *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nr; i++) {
		free(p->v[i].id);
		free(p->v[i].repo);
		free(p->v[i].state);
		free(p->v[i].step);
	}
	free(p->v);
	p->v = NULL;
	p->nr = p->alloc = 0;
}

static struct nsh_progress_job *job_of(struct nsh_progress *p, const char *id, const char *repo)
{
	struct nsh_progress_job *j;

	for (size_t i = 0; i < p->nr; i++)
		if (!strcmp(p->v[i].id, id))
			return &p->v[i];
	if (p->nr >= PROGRESS_JOBS)
		return NULL;
	NSH_ALLOC_GROW(p->v, p->nr + 1, p->alloc);
	j = &p->v[p->nr++];
	memset(j, 0, sizeof(*j));
	j->id = nsh_xstrdup(id);
	j->repo = nsh_xstrdup(repo ? repo : id);
	j->state = nsh_xstrdup("queued");
	return j;
}

static void set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? nsh_xstrdup(v) : NULL;
}

bool nsh_progress_event(struct nsh_progress *p, const char *job_id, const char *repo,
			const char *kind, const json_t *data, int64_t at_ms)
{
	struct nsh_progress_job *j;
	size_t before;

	if (!job_id || !kind)
		return false;
	before = p->nr;
	j = job_of(p, job_id, repo);
	if (!j)
		return false;
	if (!strcmp(kind, "job.state")) {
		const char *to = json_string_value(json_object_get(data, "to"));
		enum nsh_job_state js;

		if (!to || nsh_job_state_parse(to, &js, NULL))
			return p->nr != before;
		set_str(&j->state, to);
		if (js != NSH_JOB_QUEUED && !j->start_ms)
			j->start_ms = at_ms;
		/* pr_open, needs_human_review and the final states: no longer at work */
		j->end_ms = nsh_job_state_busy(js) ? 0 : at_ms;
		return true;
	}
	if (!strcmp(kind, "job.step")) {
		const json_t *index = json_object_get(data, "index");
		const json_t *steps = json_object_get(data, "steps");

		if (!j->start_ms)
			j->start_ms = at_ms;
		/* a log written before steps were numbered: count them */
		j->done = json_is_integer(index) ? json_integer_value(index) : j->done + 1;
		if (json_is_integer(steps))
			j->total = json_integer_value(steps);
		if (j->done < 0)
			j->done = 0;
		if (j->total < 0)
			j->total = 0;
		set_str(&j->step, json_string_value(json_object_get(data, "next")));
		return true;
	}
	return p->nr != before;
}

/* Whether @b is the first byte of a character (not a UTF-8 continuation byte). */
static bool lead(unsigned char b)
{
	return (b & 0xC0) != 0x80;
}

/* Columns @s takes: one per character (repositories and step names are ASCII in practice). */
static size_t cols(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += lead((unsigned char)*s);
	return n;
}

/*
 * Append @s cut to @width columns (control characters shown as '?', so a
 * name cannot move the cursor), then spaces up to @width when @pad.
 */
static void add_cols(struct nsh_buf *b, const char *s, size_t width, bool pad)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (lead(c)) {
			if (n == width)
				break;
			n++;
		}
		nsh_buf_addch(b, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	for (; pad && n < width; n++)
		nsh_buf_addch(b, ' ');
}

/* "9s", "4m05s", "2h10m" */
static void elapsed(int64_t ms, char out[24])
{
	long long s = ms > 0 ? (long long)(ms / 1000) : 0;

	if (s < 60)
		snprintf(out, 24, "%llds", s);
	else if (s < 3600)
		snprintf(out, 24, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(out, 24, "%lldh%02lldm", s / 3600, s / 60 % 60);
}

static bool at_work(const struct nsh_progress_job *j)
{
	return !j->end_ms;
}

/* What the line says the job is doing: the step now, or the state it ended in. */
static const char *what(const struct nsh_progress_job *j)
{
	if (j->end_ms || !j->start_ms || !j->step)
		return j->state;
	return j->step;
}

/* The bar's colour for @j (ANSI SGR). */
static const char *sgr(const struct nsh_progress_job *j)
{
	enum nsh_job_state js = NSH_JOB_QUEUED;

	nsh_job_state_parse(j->state, &js, NULL);
	switch (js) {
	case NSH_JOB_PR_OPEN:
	case NSH_JOB_MERGED:
		return "\033[32m"; /* green */
	case NSH_JOB_NEEDS_HUMAN_REVIEW:
		return "\033[33m"; /* yellow */
	case NSH_JOB_FAILED:
	case NSH_JOB_CANCELLED:
	case NSH_JOB_CLOSED:
		return "\033[31m"; /* red */
	case NSH_JOB_QUEUED:
		return j->start_ms ? "\033[36m" : "\033[2m"; /* queued: dim */
	case NSH_JOB_PROVISIONING:
	case NSH_JOB_RESEARCHING:
	case NSH_JOB_CODING:
	case NSH_JOB_VERIFYING:
	case NSH_JOB_RETRYING:
	case NSH_JOB_REVISING:
	case NSH_JOB_STATE_COUNT:
		break;
	}
	return "\033[36m"; /* at work: cyan */
}

struct layout {
	size_t repo;   /* repository column */
	size_t bar;    /* bar cells (brackets not counted) */
	size_t count;  /* "12/12" */
	size_t what;   /* step column */
	int64_t steps; /* the pipeline's steps as any job knows them (one pipeline a task) */
	bool cut_only; /* too narrow to lay out: plain text cut at the edge */
};

/* Columns a line takes with @l: "  REPO [BAR] NN/NN WHAT ELAPSED". */
static size_t line_cols(const struct layout *l)
{
	return 2 + l->repo + 1 + l->bar + 2 + 1 + l->count + 1 + l->what + 1 + ELAPSED_COLS;
}

static void lay_out(const struct nsh_progress *p, const size_t *shown, size_t n, size_t avail,
		    struct layout *l)
{
	int64_t total = 0;
	char num[48];

	memset(l, 0, sizeof(*l));
	for (size_t k = 0; k < n; k++) {
		const struct nsh_progress_job *j = &p->v[shown[k]];
		size_t c = cols(j->repo), w = cols(what(j));
		int64_t t = j->total > j->done ? j->total : j->done;

		l->repo = c > l->repo ? c : l->repo;
		l->what = w > l->what ? w : l->what;
		total = t > total ? t : total;
		l->steps = j->total > l->steps ? j->total : l->steps;
	}
	l->repo = l->repo > REPO_MAX ? REPO_MAX : l->repo;
	l->what = l->what > WHAT_MAX ? WHAT_MAX : l->what;
	snprintf(num, sizeof(num), "%lld", (long long)total);
	l->count = 2 * strlen(num) + 1;
	l->bar = BAR_CELLS;
	/* give way in this order: the bar, the step, the repository */
	while (line_cols(l) > avail && l->bar > BAR_MIN)
		l->bar--;
	while (line_cols(l) > avail && l->what > WHAT_MIN)
		l->what--;
	while (line_cols(l) > avail && l->repo > REPO_MIN)
		l->repo--;
	l->cut_only = line_cols(l) > avail;
}

static void add_line(struct nsh_buf *out, const struct nsh_progress_job *j, const struct layout *l,
		     int64_t now_ms, size_t avail, bool color)
{
	struct nsh_buf line = NSH_BUF_INIT;
	char num[64], took[24];
	size_t filled = 0;
	int64_t steps = j->total ? j->total : l->steps; /* a job that has not started yet */
	int64_t total = steps > j->done ? steps : j->done;

	if (total > 0)
		filled = (size_t)((j->done > total ? total : j->done) * (int64_t)l->bar / total);
	if (j->start_ms)
		elapsed((j->end_ms ? j->end_ms : now_ms) - j->start_ms, took);
	else
		took[0] = '\0';
	if (steps > 0)
		snprintf(num, sizeof(num), "%lld/%lld", (long long)j->done, (long long)steps);
	else
		snprintf(num, sizeof(num), "%lld/?", (long long)j->done);
	color = color && !l->cut_only;
	nsh_buf_adds(&line, "  ");
	add_cols(&line, j->repo, l->repo, true);
	nsh_buf_adds(&line, " [");
	if (color)
		nsh_buf_adds(&line, sgr(j));
	for (size_t c = 0; c < l->bar; c++)
		nsh_buf_adds(&line, c < filled ? "█" : "░");
	if (color)
		nsh_buf_adds(&line, "\033[0m");
	nsh_buf_adds(&line, "] ");
	nsh_buf_addf(&line, "%*s ", (int)l->count, num);
	add_cols(&line, what(j), l->what, true);
	nsh_buf_addf(&line, " %*s", ELAPSED_COLS, took);
	if (l->cut_only) {
		add_cols(out, line.buf, avail, false);
	} else {
		/* no trailing blanks: a line that ends early leaves nothing to wrap */
		while (line.len && line.buf[line.len - 1] == ' ')
			line.len--;
		line.buf[line.len] = '\0';
		nsh_buf_add(out, line.buf, line.len);
	}
	nsh_buf_addch(out, '\n');
	nsh_buf_release(&line);
}

size_t nsh_progress_render(const struct nsh_progress *p, int64_t now_ms, int width, int max_lines,
			   bool color, struct nsh_buf *out)
{
	size_t avail = width > 1 ? (size_t)width - 1 : 1;
	size_t room = max_lines > 1 ? (size_t)max_lines : 1;
	size_t *shown, n = 0, lines;
	struct layout l;

	if (!p->nr)
		return 0;
	shown = nsh_xcalloc(p->nr, sizeof(*shown));
	if (p->nr <= room) {
		for (size_t i = 0; i < p->nr; i++)
			shown[n++] = i;
	} else {
		bool *take = nsh_xcalloc(p->nr, sizeof(*take));

		/* one line says what is not shown; jobs at work first, in order */
		room--;
		for (int pass = 0; pass < 2; pass++) {
			for (size_t i = 0; i < p->nr && n < room; i++) {
				if (take[i] || (pass == 0 && !at_work(&p->v[i])))
					continue;
				take[i] = true;
				n++;
			}
		}
		n = 0;
		for (size_t i = 0; i < p->nr; i++)
			if (take[i])
				shown[n++] = i;
		free(take);
	}
	lay_out(p, shown, n, avail, &l);
	for (size_t k = 0; k < n; k++)
		add_line(out, &p->v[shown[k]], &l, now_ms, avail, color);
	lines = n;
	if (n < p->nr) {
		size_t ended = 0, hidden = p->nr - n;
		struct nsh_buf more = NSH_BUF_INIT;

		for (size_t i = 0, k = 0; i < p->nr; i++) {
			if (k < n && shown[k] == i) {
				k++;
				continue;
			}
			ended += !at_work(&p->v[i]);
		}
		nsh_buf_addf(&more, "  + %zu more job%s (%zu finished)", hidden,
			     hidden == 1 ? "" : "s", ended);
		add_cols(out, more.buf, avail, false);
		nsh_buf_addch(out, '\n');
		nsh_buf_release(&more);
		lines++;
	}
	free(shown);
	return lines;
}
