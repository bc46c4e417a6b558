/*
 * Polling GitHub for the events a webhook would deliver, for a machine
 * GitHub cannot reach. Each round reads, per watched repository, with the
 * client's conditional GETs:
 *
 *   open issues with the trigger label        -> "issues" / labeled
 *   issue comments since the cursor           -> "issue_comment" / created
 *   review comments since the cursor          -> "pull_request_review_comment" / created
 *   reviews of the mirrored open pull requests -> "pull_request_review" / submitted
 *
 * and hands each item not handed on before to the caller's function with a
 * payload shaped like the webhook's. Delivery ids are kept in the store
 * (github_seen), cursors in github_poll; a cursor advances only past items
 * that were taken.
 *
 * Each list's row in github_poll also keeps the ETag of its last answer
 * that was wholly handled (one page, the same URL). The next round, in
 * this process or after a restart, sends it as If-None-Match: a 304 means
 * nothing changed and the list is skipped without reading it again. The
 * repository itself and an item's issue or pull request are read only for
 * an item that is handed on.
 */
#include "forge/github.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/time.h"
#include "core/vec.h"
#include "forge/github_int.h"
#include "store/github.h"
#include "store/store.h"

#include "core/banned.h"

/* Items read from one list in one round at most. */
#define ITEMS_MAX 1000
/* Repositories of one watched organisation at most. */
#define ORG_REPOS_MAX 1000

struct poller {
	struct nsh_forge *f;
	struct nsh_github *gh;
	const char *label;
	nsh_github_deliver_fn deliver;
	void *ctx;
	size_t delivered;
	const char *full; /* the repository being polled, "O/R" */
	json_t *repo;	  /* its JSON once read for a payload, or NULL */
};

/* GET @path into *@ret (a new reference). */
static int get_json(struct poller *p, const char *path, json_t **ret, struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	int rc = nsh_github_request(p->gh, "GET", path, NULL, &r, NULL, err);

	if (!rc) {
		*ret = r.json;
		r.json = NULL;
	}
	nsh_github_resp_release(&r);
	return rc;
}

/* The repository being polled, for payloads: read on first use (borrowed). */
static int repo_json(struct poller *p, json_t **ret, struct nsh_err *err)
{
	if (!p->repo) {
		char *path = nsh_xasprintf("/repos/%s", p->full);
		int rc = get_json(p, path, &p->repo, err);

		free(path);
		if (rc)
			return rc;
	}
	*ret = p->repo;
	return 0;
}

/*
 * GET the list @path of poll cursor @key: with If-None-Match @etag (may be
 * NULL), a 304 sets *@ret_same and leaves *@ret NULL; otherwise its items
 * (every page, at most ITEMS_MAX) go to *@ret, and *@ret_etag gets the ETag
 * to keep for next time, or NULL when the answer had several pages (the
 * first page's ETag does not cover the others).
 */
static int get_list(struct poller *p, const char *path, const char *etag, json_t **ret,
		    char **ret_etag, bool *ret_same, struct nsh_err *err)
{
	struct nsh_github_resp r = {0};
	json_t *all = NULL;
	int rc;

	*ret = NULL;
	*ret_etag = NULL;
	*ret_same = false;
	rc = nsh_github_get_if(p->gh, path, etag, &r, err);
	if (rc)
		goto out;
	if (r.not_modified) {
		*ret_same = true;
		goto out;
	}
	if (!json_is_array(r.json)) {
		rc = nsh_err_set(err, NSH_EINVAL, "GET %s: the answer is not a list", path);
		goto out;
	}
	all = json_array();
	for (size_t i = 0; i < json_array_size(r.json) && i < ITEMS_MAX; i++)
		json_array_append(all, json_array_get(r.json, i));
	if (r.next && json_array_size(all) < ITEMS_MAX)
		rc = nsh_github_get_all(p->gh, r.next, NULL, ITEMS_MAX, &all, err);
	if (rc) {
		json_decref(all);
		goto out;
	}
	*ret = all;
	if (!r.next && r.etag)
		*ret_etag = nsh_xstrdup(r.etag);
out:
	nsh_github_resp_release(&r);
	return rc;
}

/*
 * Hand @payload (consumed) on as @event with delivery id @id unless that
 * was done before.
 */
static int hand_on(struct poller *p, const char *event, const char *id, json_t *payload,
		   struct nsh_err *err)
{
	int rc = 0;

	if (!nsh_store_gh_seen(p->f->store, id)) {
		rc = p->deliver(p->ctx, event, id, payload, err);
		if (!rc)
			rc = nsh_store_gh_seen_add(p->f->store, id, event, err);
		if (!rc)
			p->delivered++;
	}
	json_decref(payload);
	return rc;
}

/* The number at the end of @url (".../issues/12"), or 0. */
static int64_t tail_number(const char *url)
{
	const char *slash = url ? strrchr(url, '/') : NULL;

	return slash && isdigit((unsigned char)slash[1]) ? strtoll(slash + 1, NULL, 10) : 0;
}

static int poll_labeled(struct poller *p, struct nsh_err *err)
{
	char *key = nsh_xasprintf("%s:labeled", p->full);
	char *path = NULL, *etag = NULL, *fresh = NULL;
	json_t *all = NULL, *v;
	bool same = false;
	size_t i;
	int rc;

	rc = nsh_store_gh_poll_get(p->f->store, key, NULL, &etag, err);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = 0;
	}
	if (rc)
		goto out;
	{
		CURL *c = curl_easy_init();
		char *esc = c ? curl_easy_escape(c, p->label, 0) : NULL;

		path = nsh_xasprintf("/repos/%s/issues?labels=%s&state=open&per_page=100", p->full,
				     esc ? esc : p->label);
		curl_free(esc);
		if (c)
			curl_easy_cleanup(c);
	}
	rc = get_list(p, path, etag, &all, &fresh, &same, err);
	if (rc || same)
		goto out;
	json_array_foreach(all, i, v)
	{
		json_t *repo = NULL;
		char *id;

		if (json_object_get(v, "pull_request"))
			continue;
		id = nsh_xasprintf("poll-issues-labeled-%lld",
				   (long long)json_integer_value(json_object_get(v, "id")));
		if (!nsh_store_gh_seen(p->f->store, id)) {
			rc = repo_json(p, &repo, err);
			if (!rc)
				rc = hand_on(p, "issues", id,
					     json_pack("{s:s, s:{s:s}, s:O, s:O, s:O?}", "action",
						       "labeled", "label", "name", p->label,
						       "issue", v, "repository", repo, "sender",
						       json_object_get(v, "user")),
					     err);
		}
		free(id);
		if (rc)
			break;
	}
	/* every item taken: remember the answer, so that an unchanged list is not read again */
	if (!rc)
		rc = nsh_store_gh_poll_put(p->f->store, key, NULL, fresh, err);
out:
	json_decref(all);
	free(key);
	free(path);
	free(etag);
	free(fresh);
	return rc;
}

/* A time as GitHub writes it, for cursors: "2026-11-23T10:00:00Z". */
static char *iso_now(void)
{
	char buf[NSH_TIME_ISO_MAX];
	int64_t ms = nsh_time_now_ms() / 1000 * 1000;

	return nsh_xstrdup(nsh_time_iso8601(ms, buf));
}

/*
 * Poll one "since" list @what ("issue_comments" or "review_comments") of
 * the repository: new items since the cursor, each with its issue or pull
 * request read for the payload. The ETag kept is that of the URL of the
 * cursor kept: a cursor that moves drops it.
 */
static int poll_since(struct poller *p, const char *what, struct nsh_err *err)
{
	bool issues = !strcmp(what, "issue_comments");
	const char *event = issues ? "issue_comment" : "pull_request_review_comment";
	char *key = nsh_xasprintf("%s:%s", p->full, what);
	char *since = NULL, *etag = NULL, *newest = NULL, *path = NULL, *fresh = NULL;
	json_t *all = NULL, *v;
	bool same = false;
	size_t i;
	int rc;

	rc = nsh_store_gh_poll_get(p->f->store, key, &since, &etag, err);
	if (rc == NSH_ENOTFOUND) {
		/* the first round: start from now, older comments are history */
		nsh_err_clear(err);
		since = iso_now();
		rc = nsh_store_gh_poll_put(p->f->store, key, since, NULL, err);
	}
	if (rc)
		goto out;
	path = nsh_xasprintf("/repos/%s/%s?since=%s&sort=created&direction=asc&per_page=100",
			     p->full, issues ? "issues/comments" : "pulls/comments", since);
	rc = get_list(p, path, etag, &all, &fresh, &same, err);
	if (rc || same)
		goto out;
	json_array_foreach(all, i, v)
	{
		const char *created = json_string_value(json_object_get(v, "created_at"));
		json_t *parent = NULL, *repo = NULL;
		char *id, *ppath;

		if (!created || strcmp(created, since) < 0)
			continue; /* older, only edited since */
		id = nsh_xasprintf("poll-%s-%lld", event,
				   (long long)json_integer_value(json_object_get(v, "id")));
		if (!nsh_store_gh_seen(p->f->store, id)) {
			ppath = issues ? nsh_xasprintf("/repos/%s/issues/%lld", p->full,
						       (long long)tail_number(json_string_value(
							       json_object_get(v, "issue_url"))))
				       : nsh_xasprintf(
						 "/repos/%s/pulls/%lld", p->full,
						 (long long)tail_number(json_string_value(
							 json_object_get(v, "pull_request_url"))));
			rc = get_json(p, ppath, &parent, err);
			free(ppath);
			if (!rc)
				rc = repo_json(p, &repo, err);
			if (!rc)
				rc = hand_on(p, event, id,
					     json_pack("{s:s, s:O, s:O, s:O, s:O?}", "action",
						       "created", "comment", v,
						       issues ? "issue" : "pull_request", parent,
						       "repository", repo, "sender",
						       json_object_get(v, "user")),
					     err);
			json_decref(parent);
		}
		free(id);
		if (rc)
			break;
		if (!newest || strcmp(created, newest) > 0) {
			free(newest);
			newest = nsh_xstrdup(created);
		}
	}
	if (newest && strcmp(newest, since)) {
		/* only past what was taken; a failure above leaves the rest for next time */
		int rc2 = nsh_store_gh_poll_put(p->f->store, key, newest, NULL, rc ? NULL : err);

		if (!rc)
			rc = rc2;
	} else if (!rc) {
		/* the same cursor, so the same URL next time: keep the answer's ETag */
		rc = nsh_store_gh_poll_put(p->f->store, key, since, fresh, err);
	}
out:
	json_decref(all);
	free(key);
	free(since);
	free(etag);
	free(newest);
	free(path);
	free(fresh);
	return rc;
}

/*
 * Reviews of pull request @number of @org/@name, one of those nightshift
 * mirrors; its cursor keeps only the ETag of the list.
 */
static int poll_pr_reviews(struct poller *p, const char *org, const char *name, int64_t number,
			   struct nsh_err *err)
{
	char *key = nsh_xasprintf("%s#%lld:reviews", p->full, (long long)number);
	char *path = nsh_xasprintf("/repos/%s/%s/pulls/%lld/reviews?per_page=100", org, name,
				   (long long)number);
	char *etag = NULL, *fresh = NULL;
	json_t *all = NULL, *pr = NULL, *v;
	bool same = false;
	size_t i;
	int rc;

	rc = nsh_store_gh_poll_get(p->f->store, key, NULL, &etag, err);
	if (rc == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		rc = 0;
	}
	if (!rc)
		rc = get_list(p, path, etag, &all, &fresh, &same, err);
	if (rc || same)
		goto out;
	json_array_foreach(all, i, v)
	{
		const char *st = json_string_value(json_object_get(v, "state"));
		json_t *review, *repo = NULL;
		char *id, *lower;

		if (!st || !strcmp(st, "PENDING"))
			continue;
		id = nsh_xasprintf("poll-pull_request_review-%lld",
				   (long long)json_integer_value(json_object_get(v, "id")));
		if (nsh_store_gh_seen(p->f->store, id)) {
			free(id);
			continue;
		}
		if (!pr) {
			char *ppath = nsh_xasprintf("/repos/%s/%s/pulls/%lld", org, name,
						    (long long)number);

			rc = get_json(p, ppath, &pr, err);
			free(ppath);
		}
		if (!rc)
			rc = repo_json(p, &repo, err);
		if (rc) {
			free(id);
			break;
		}
		/* the webhook's review state is lower case */
		review = json_deep_copy(v);
		lower = nsh_xstrdup(st);
		for (char *c = lower; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		json_object_set_new(review, "state", json_string(lower));
		free(lower);
		rc = hand_on(p, "pull_request_review", id,
			     json_pack("{s:s, s:o, s:O, s:O, s:O?}", "action", "submitted",
				       "review", review, "pull_request", pr, "repository", repo,
				       "sender", json_object_get(v, "user")),
			     err);
		free(id);
		if (rc)
			break;
	}
	if (!rc)
		rc = nsh_store_gh_poll_put(p->f->store, key, NULL, fresh, err);
out:
	json_decref(all);
	json_decref(pr);
	free(key);
	free(path);
	free(etag);
	free(fresh);
	return rc;
}

/* Reviews of the open pull requests of @org/@name that nightshift mirrors. */
static int poll_reviews(struct poller *p, const char *org, const char *name, struct nsh_err *err)
{
	static const char *const states[] = {"open", "draft"};
	int rc = 0;

	for (size_t s = 0; !rc && s < 2; s++) {
		struct nsh_pr_filter flt = {.org = org, .repo = name, .state = states[s]};
		struct nsh_pr_list prs = {0};

		rc = nsh_store_pr_list(p->f->store, &flt, &prs, err);
		for (size_t k = 0; !rc && k < prs.nr; k++)
			rc = poll_pr_reviews(p, org, name, prs.v[k].number, err);
		nsh_pr_list_release(&prs);
	}
	return rc;
}

static int poll_repo(struct poller *p, const char *full, struct nsh_err *err)
{
	const char *slash = strchr(full, '/');
	char *org = nsh_xstrndup(full, (size_t)(slash - full));
	int rc;

	p->full = full;
	p->repo = NULL;
	rc = poll_labeled(p, err);
	if (!rc)
		rc = poll_since(p, "issue_comments", err);
	if (!rc)
		rc = poll_since(p, "review_comments", err);
	if (!rc)
		rc = poll_reviews(p, org, slash + 1, err);
	if (rc)
		nsh_err_wrap(err, "polling '%s'", full);
	json_decref(p->repo);
	p->repo = NULL;
	p->full = NULL;
	free(org);
	return rc;
}

/* The repositories @watch names ("O/R" as is, "O" listed), into @out. */
static int watched(struct poller *p, const char *watch, struct nsh_strvec *out, struct nsh_err *err)
{
	char *copy = nsh_xstrdup(watch ? watch : ""), *save = NULL;
	int rc = 0;

	for (char *w = strtok_r(copy, " ,\t\n", &save); !rc && w;
	     w = strtok_r(NULL, " ,\t\n", &save)) {
		char *slash = strchr(w, '/');

		if (slash) {
			*slash = '\0';
			if (!nsh_forge_name_valid(w) || !nsh_forge_name_valid(slash + 1))
				rc = nsh_err_set(err, NSH_EINVAL,
						 "invalid repository '%s/%s' in 'github.watch'", w,
						 slash + 1);
			else
				nsh_strvec_pushf(out, "%s/%s", w, slash + 1);
		} else if (!nsh_forge_name_valid(w)) {
			rc = nsh_err_set(err, NSH_EINVAL, "invalid org '%s' in 'github.watch'", w);
		} else {
			json_t *all = NULL, *v;
			char *path = nsh_xasprintf("/orgs/%s/repos?per_page=100", w);
			size_t i;

			rc = nsh_github_get_all(p->gh, path, NULL, ORG_REPOS_MAX, &all, err);
			json_array_foreach(all, i, v)
			{
				const char *fn = json_string_value(json_object_get(v, "full_name"));

				if (fn && nsh_strvec_find(out, fn) < 0)
					nsh_strvec_push(out, fn);
			}
			json_decref(all);
			free(path);
		}
	}
	free(copy);
	return rc;
}

int nsh_github_poll_once(struct nsh_forge *f, const struct nsh_github_opts *o,
			 nsh_github_deliver_fn deliver, void *ctx, size_t *ret_delivered,
			 struct nsh_err *err)
{
	struct nsh_strvec repos = NSH_STRVEC_INIT;
	struct poller p = {0};
	struct nsh_err first = NSH_ERR_INIT;
	int rc, first_rc = 0;

	if (!nsh_forge_gh_of(f))
		return nsh_err_set(err, NSH_EDENIED, "polling needs the github forge");
	if (!deliver)
		return nsh_err_set(err, NSH_EINVAL, "polling needs a function to deliver to");
	p.f = f;
	p.gh = nsh_forge_github_client(f);
	p.label = o->label && *o->label ? o->label : "nightshift";
	p.deliver = deliver;
	p.ctx = ctx;
	rc = watched(&p, o->watch, &repos, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < repos.nr; i++) {
		struct nsh_err e = NSH_ERR_INIT;
		int r = poll_repo(&p, repos.v[i], &e);

		if (r && !first_rc) {
			first_rc = r;
			first = e;
		}
	}
	if (first_rc) {
		rc = nsh_err_set(err, first_rc, "%s", first.msg);
		goto out;
	}
	if (ret_delivered)
		*ret_delivered = p.delivered;
out:
	nsh_strvec_release(&repos);
	return rc;
}
