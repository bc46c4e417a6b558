/*
 * The status comment: one comment on a task's GitHub issue that shows the
 * task's state, its plan (one line per repository with the job's state and
 * its pull request) and, once the task has ended, the final summary. It is
 * created once and edited afterwards, only when its text changed.
 */
#include "forge/github.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "forge/github_int.h"
#include "store/github.h"
#include "store/store.h"

#include "core/banned.h"

/* Events read to find the final summary at most. */
#define EVENTS_MAX 100000

static bool ended(const char *state)
{
	return !strcmp(state, "completed") || !strcmp(state, "failed") ||
	       !strcmp(state, "cancelled") || !strcmp(state, "expired");
}

/* Markdown-safe text for a table cell: no pipes or line breaks. */
static void cell(struct nsh_buf *out, const char *s)
{
	for (; s && *s; s++)
		nsh_buf_addch(out, *s == '|' ? '/' : (*s == '\n' || *s == '\r') ? ' ' : *s);
}

/* The message of the task's newest task.summary event, or NULL. */
static char *summary_of(struct nsh_store *s, const char *task_id)
{
	struct nsh_event_list ev = {0};
	char *msg = NULL;

	if (nsh_store_events_after(s, 0, task_id, EVENTS_MAX, &ev, NULL))
		goto out;
	for (size_t i = ev.nr; i-- > 0 && !msg;) {
		json_t *d = NULL;

		if (strcmp(ev.v[i].kind, "task.summary"))
			continue;
		if (!nsh_json_parse(ev.v[i].data, strlen(ev.v[i].data), &d, NULL)) {
			const char *m = json_string_value(json_object_get(d, "message"));

			msg = nsh_xstrdup(m ? m : "finished");
		}
		json_decref(d);
	}
out:
	nsh_event_list_release(&ev);
	return msg;
}

int nsh_github_status_render(struct nsh_forge *f, struct nsh_store *store, const char *task_id,
			     struct nsh_buf *out, struct nsh_err *err)
{
	struct nsh_task_rec t = {0};
	struct nsh_job_list jobs = {0};
	struct nsh_pr_list prs = {0};
	struct nsh_pr_filter flt = {.task_id = task_id};
	char *summary = NULL;
	int rc;

	(void)f;
	rc = nsh_store_task_get(store, task_id, &t, err);
	if (!rc)
		rc = nsh_store_job_list(store, task_id, &jobs, err);
	if (!rc)
		rc = nsh_store_pr_list(store, &flt, &prs, err);
	if (rc)
		goto out;
	nsh_buf_addf(out, "### nightshift: ");
	cell(out, t.title);
	nsh_buf_addf(out, "\n\n**State:** %s · task `%s`\n\n", t.state, t.id);
	if (jobs.nr) {
		nsh_buf_adds(out, "| Repository | State | Pull request |\n|---|---|---|\n");
		for (size_t i = 0; i < jobs.nr; i++) {
			const struct nsh_pr_rec *pr = NULL;

			for (size_t k = 0; k < prs.nr && !pr; k++) {
				char *name = nsh_xasprintf("%s/%s", prs.v[k].org, prs.v[k].repo);

				if (!strcmp(name, jobs.v[i].repo))
					pr = &prs.v[k];
				free(name);
			}
			nsh_buf_adds(out, "| ");
			cell(out, jobs.v[i].repo);
			nsh_buf_addf(out, " | %s | ", jobs.v[i].state);
			if (pr) {
				char *url = NULL;

				nsh_store_gh_pr_info(store, pr->id, NULL, NULL, &url, NULL);
				if (url)
					nsh_buf_addf(out, "[#%lld](%s)", (long long)pr->number,
						     url);
				else
					nsh_buf_addf(out, "%s/%s#%lld", pr->org, pr->repo,
						     (long long)pr->number);
				if (!strcmp(pr->state, "draft"))
					nsh_buf_adds(out, " (draft)");
				free(url);
			} else {
				nsh_buf_adds(out, "–");
			}
			nsh_buf_adds(out, " |\n");
			if (jobs.v[i].error) {
				nsh_buf_adds(out, "| | ↳ ");
				cell(out, jobs.v[i].error);
				nsh_buf_adds(out, " | |\n");
			}
		}
	} else {
		nsh_buf_adds(out, "Planning: finding the repositories to change.\n");
	}
	if (ended(t.state)) {
		summary = summary_of(store, task_id);
		nsh_buf_adds(out, "\n**Summary:** ");
		if (summary)
			cell(out, summary);
		else
			nsh_buf_addf(out, "the task %s", t.state);
		if (t.error) {
			nsh_buf_adds(out, " (");
			cell(out, t.error);
			nsh_buf_adds(out, ")");
		}
		nsh_buf_adds(out, "\n");
	}
	nsh_buf_addf(out, "\n<!-- nightshift:status %s -->\n", t.id);
out:
	free(summary);
	nsh_task_rec_release(&t);
	nsh_job_list_release(&jobs);
	nsh_pr_list_release(&prs);
	return rc;
}

/* The issue the task's options name: {"github": {"repo": "O/R", "issue": N}}. */
static int task_issue(struct nsh_store *store, const char *task_id, char **ret_repo,
		      int64_t *ret_issue, struct nsh_err *err)
{
	struct nsh_task_rec t = {0};
	json_t *o = NULL;
	const char *repo = NULL;
	json_int_t issue = 0;
	int rc = nsh_store_task_get(store, task_id, &t, err);

	if (!rc)
		rc = nsh_json_parse(t.options ? t.options : "{}",
				    strlen(t.options ? t.options : "{}"), &o, err);
	if (!rc &&
	    (nsh_json_get_str(o, "github.repo", &repo, NULL) ||
	     nsh_json_get_int(o, "github.issue", &issue, NULL) || issue < 1 || !strchr(repo, '/')))
		rc = nsh_err_set(err, NSH_ENOTFOUND, "task '%s' has no github issue", task_id);
	if (!rc) {
		*ret_repo = nsh_xstrdup(repo);
		*ret_issue = issue;
	}
	json_decref(o);
	nsh_task_rec_release(&t);
	return rc;
}

int nsh_github_status_sync(struct nsh_forge *f, struct nsh_store *store, const char *task_id,
			   struct nsh_err *err)
{
	struct nsh_gh_status_rec row = {0};
	struct nsh_buf body = NSH_BUF_INIT;
	unsigned char hash[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	char *repo = NULL, *org = NULL;
	int64_t issue = 0, id = 0;
	bool have = false;
	int rc;

	if (!nsh_forge_gh_of(f))
		return nsh_err_set(err, NSH_EDENIED, "status comments need the github forge");
	rc = task_issue(store, task_id, &repo, &issue, err);
	if (!rc)
		rc = nsh_github_status_render(f, store, task_id, &body, err);
	if (rc)
		goto out;
	crypto_hash_sha256(hash, (const unsigned char *)body.buf, body.len);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	rc = nsh_store_gh_status_get(store, task_id, &row, err);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = 0;
	} else if (!rc) {
		have = !strcmp(row.repo, repo) && row.issue == issue;
	}
	if (rc)
		goto out;
	org = nsh_xstrndup(repo, (size_t)(strchr(repo, '/') - repo));
	if (have && row.body_hash && !strcmp(row.body_hash, hex))
		goto out; /* nothing changed */
	if (have) {
		rc = nsh_github_comment_edit(f, org, strchr(repo, '/') + 1, row.comment_id,
					     body.buf, err);
		id = row.comment_id;
	} else {
		rc = nsh_github_issue_comment(f, org, strchr(repo, '/') + 1, issue, body.buf, &id,
					      err);
	}
	if (!rc) {
		struct nsh_gh_status_rec put = {repo, issue, id, hex, 0};

		rc = nsh_store_gh_status_put(store, task_id, &put, err);
	}
out:
	nsh_gh_status_rec_release(&row);
	nsh_buf_release(&body);
	free(repo);
	free(org);
	return rc;
}
