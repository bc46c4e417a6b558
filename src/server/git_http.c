/*
 * The forge's repositories over git's smart HTTP protocol: /git/ORG/REPO.git
 * served by running "git http-backend" as a CGI program (docs/forge.md).
 *
 * A request goes through three calls from server.c. The first one (headers
 * complete) checks the token, the path, the push rule and that the
 * repository exists, so nothing is read from a client that may not ask.
 * The body is then spooled into an unlinked file, up to [forge]
 * http_max_body: memory stays flat for pushes of any size, a body that
 * breaks off never reaches git, and git reading its stdin can never
 * deadlock against us reading its stdout. The last call starts
 * http-backend with the file as its stdin (core/proc.h's
 * nsh_proc_start(): the output is streamed, not captured), reads and
 * checks its CGI headers and hands the rest of its stdout to
 * libmicrohttpd, which pulls it as the client reads.
 */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/str.h"
#include "core/time.h"
#include "forge/git.h"
#include "store/store.h"

#include "core/banned.h"

#define READ_CHUNK   ((size_t)64 << 10) /* bytes per read of http-backend's output */
#define STDERR_TAIL  512		/* bytes of its stderr that reach the log */
#define HEADER_VALUE 256		/* bytes of a request header passed on */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

struct nsh_srv_git {
	struct nsh_srv *srv;
	struct nsh_srv_git_target t;
	char user[NSH_SRV_GIT_USER_MAX + 1]; /* REMOTE_USER */
	char addr[INET6_ADDRSTRLEN];	     /* REMOTE_ADDR, or "" */
	char *content_type;		     /* copies of request headers, or NULL */
	char *content_encoding;
	char *git_protocol;
	int spool;	   /* the body, or -1 (GET) */
	uint64_t body_len; /* bytes spooled */
	bool too_big;	   /* the body passed the cap */
	int io_errno;	   /* a write to the spool failed */
};

/* A response being streamed from http-backend; owned by libmicrohttpd's response. */
struct git_stream {
	struct nsh_srv *srv;
	struct nsh_proc p;
	int out;				/* http-backend's stdout */
	int err;				/* the file its stderr goes to */
	struct nsh_buf head;			/* output read with the headers */
	size_t head_off;			/* what of it has been sent */
	bool eof;				/* its stdout ended */
	bool started;				/* http-backend runs: wait for it */
	bool idle;				/* it said nothing for git_idle_ms: killed */
	char what[2 * NSH_FORGE_NAME_MAX + 32]; /* "ORG/REPO git-upload-pack", for logs */
};

int nsh_srv_git_config(struct nsh_srv *srv, struct nsh_err *err)
{
	int rc;

	srv->git_push = false;
	srv->git_worker_push = true;
	srv->git_max_body = NSH_SRV_GIT_MAX_BODY;
	srv->git_idle_ms = NSH_SRV_GIT_IDLE_MS;
	if (!srv->config)
		return 0;
	rc = nsh_config_get_bool(srv->config, "forge", "http_push", false, &srv->git_push, err);
	if (!rc)
		rc = nsh_config_get_bool(srv->config, "forge", "worker_push", true,
					 &srv->git_worker_push, err);
	if (!rc)
		rc = nsh_config_get_size(srv->config, "forge", "http_max_body",
					 NSH_SRV_GIT_MAX_BODY, &srv->git_max_body, err);
	if (!rc && !srv->git_max_body)
		rc = nsh_err_set(err, NSH_EINVAL,
				 "invalid value '0' for 'forge.http_max_body': expected a size "
				 "such as 512M");
	if (!rc)
		rc = nsh_config_get_duration(srv->config, "forge", "http_idle", NSH_SRV_GIT_IDLE_MS,
					     &srv->git_idle_ms, err);
	if (!rc && srv->git_idle_ms <= 0)
		rc = nsh_err_set(err, NSH_EINVAL,
				 "invalid value for 'forge.http_idle': expected a duration such as "
				 "10m");
	return rc;
}

/* An unlinked file in @dir for the body or for stderr; -1 with errno. */
static int temp_file(const char *dir)
{
	char *tmp;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	tmp = nsh_xasprintf("%s/.git-http-XXXXXX", dir);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd >= 0)
		unlink(tmp);
	free(tmp);
	return fd;
}

/* A short text reply (git prints the status; people with curl read the text). */
static int git_reply(struct nsh_srv *srv, struct MHD_Connection *c, int status, bool challenge,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int git_reply(struct nsh_srv *srv, struct MHD_Connection *c, int status, bool challenge,
		     const char *fmt, ...)
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct MHD_Response *resp;
	enum MHD_Result ok;
	va_list ap;

	va_start(ap, fmt);
	nsh_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	nsh_buf_addch(&b, '\n');
	resp = MHD_create_response_from_buffer(b.len, b.buf, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (challenge)
		MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"nightshift\"");
	ok = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	nsh_buf_release(&b);
	nsh_srv_metrics_observe(srv->metrics, SIZE_MAX, status, 0);
	return ok;
}

/* A request header worth passing on: printable, at most HEADER_VALUE bytes; else NULL. */
static char *header_copy(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
	size_t n = v ? strlen(v) : 0;

	if (!v || n > HEADER_VALUE)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return NULL;
	return nsh_xstrdup(v);
}

static void client_addr(struct MHD_Connection *c, char out[INET6_ADDRSTRLEN])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	out[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  INET6_ADDRSTRLEN);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  INET6_ADDRSTRLEN);
}

/* Whether the request carries the server's token; fills the user name. */
static bool authorized(struct nsh_srv *srv, struct MHD_Connection *c, char *user)
{
	struct nsh_srv_git_cred cred;
	bool ok;

	ok = !nsh_srv_git_credentials(
		     MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"), &cred) &&
	     cred.secret_len == srv->token_len &&
	     !sodium_memcmp(cred.secret, srv->token, srv->token_len);
	memcpy(user, cred.user[0] ? cred.user : "git",
	       strlen(cred.user[0] ? cred.user : "git") + 1);
	sodium_memzero(&cred, sizeof(cred));
	return ok;
}

/* 0 when ORG/REPO is a repository of the forge; else the error. */
static int repo_exists(struct nsh_srv *srv, const struct nsh_srv_git_target *t, struct nsh_err *err)
{
	struct nsh_srv_conn *conn = NULL;
	char *path = NULL;
	int rc;

	rc = nsh_srv_pool_get(srv, &conn, err);
	if (rc)
		goto out;
	if (!conn->forge) {
		rc = nsh_forge_open_local(srv->home, conn->store, &conn->forge, err);
		if (rc)
			goto out;
	}
	rc = nsh_forge_repo_path(conn->forge, t->org, t->repo, &path, err);
out:
	free(path);
	nsh_srv_pool_put(srv, conn);
	return rc;
}

int nsh_srv_git_begin(struct nsh_srv *srv, struct MHD_Connection *c, const char *url,
		      const char *method, struct nsh_srv_git **ret)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_srv_git_target t;
	char user[NSH_SRV_GIT_USER_MAX + 1];
	const char *cl, *enc;
	struct nsh_srv_git *g;
	int rc;

	*ret = NULL;
	/* The token first: without it nobody learns which repositories exist. */
	if (!authorized(srv, c, user))
		return git_reply(srv, c, 401, true,
				 "authentication required: any user name, and the token of "
				 "$NIGHTSHIFT_HOME/token as the password");
	rc = nsh_srv_git_parse(method, url,
			       MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "service"), &t,
			       &err);
	if (rc) {
		int status = rc == NSH_EUSAGE ? 405 : nsh_srv_status_of(rc);

		return git_reply(srv, c, status, false, "%s", err.msg);
	}
	if (t.service == NSH_SRV_GIT_RECEIVE && !srv->git_push && !srv->git_worker_push)
		return git_reply(srv, c, 403, false,
				 "pushing to the forge over HTTP is off; the daemon moves work "
				 "into the forge (set [forge] http_push = true to allow it)");
	rc = repo_exists(srv, &t, &err);
	if (rc == NSH_ENOTFOUND)
		return git_reply(srv, c, 404, false, "no repository '%s/%s' in the forge", t.org,
				 t.repo);
	if (rc) {
		nsh_log_warn("git http: %s", err.msg);
		return git_reply(srv, c, 500, false, "cannot open the forge");
	}
	enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
	if (enc && strcasecmp(enc, "gzip") && strcasecmp(enc, "x-gzip") &&
	    strcasecmp(enc, "identity"))
		return git_reply(srv, c, 415, false, "unsupported content encoding '%.40s'", enc);
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (cl && strtoull(cl, NULL, 10) > srv->git_max_body)
		return git_reply(srv, c, 413, false,
				 "request body is larger than %llu bytes ([forge] http_max_body)",
				 (unsigned long long)srv->git_max_body);

	g = nsh_xcalloc(1, sizeof(*g));
	g->srv = srv;
	g->t = t;
	g->spool = -1;
	memcpy(g->user, user, sizeof(user));
	client_addr(c, g->addr);
	g->content_type = header_copy(c, "Content-Type");
	g->content_encoding = enc ? nsh_xstrdup(enc) : NULL;
	g->git_protocol = header_copy(c, "Git-Protocol");
	if (!strcmp(method, "POST")) {
		g->spool = temp_file(srv->home);
		if (g->spool < 0) {
			nsh_log_warn("git http: cannot make a file for the request body in '%s': "
				     "%s",
				     srv->home, strerror(errno));
			nsh_srv_git_free(g);
			return git_reply(srv, c, 500, false, "cannot store the request body");
		}
	}
	*ret = g;
	return MHD_YES;
}

void nsh_srv_git_body(struct nsh_srv_git *g, const char *data, size_t len)
{
	if (g->too_big || g->io_errno)
		return;
	if (g->spool < 0) {
		g->too_big = true; /* a GET has no body */
		return;
	}
	if (len > g->srv->git_max_body - g->body_len) {
		g->too_big = true;
		return;
	}
	while (len) {
		ssize_t n = write(g->spool, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g->io_errno = n < 0 ? errno : EIO;
			return;
		}
		data += n;
		len -= (size_t)n;
		g->body_len += (uint64_t)n;
	}
}

/* The last bytes of http-backend's stderr, one line, for the log. */
static void stderr_tail(int fd, struct nsh_buf *out)
{
	char buf[STDERR_TAIL + 1];
	off_t end = lseek(fd, 0, SEEK_END), at = end > STDERR_TAIL ? end - STDERR_TAIL : 0;
	ssize_t n = end > 0 ? pread(fd, buf, (size_t)(end - at), at) : 0;

	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
	if (n > 0)
		nsh_buf_add(out, buf, (size_t)n);
	nsh_buf_trim(out);
}

static void stream_free(void *cls)
{
	struct git_stream *st = cls;
	struct nsh_err err = NSH_ERR_INIT;

	/* A client that left early: git meets a closed pipe at its next write. */
	if (st->out >= 0)
		close(st->out);
	if (!st->started) {
		/* nothing ran */
	} else if (nsh_proc_wait(&st->p, st->idle, &err)) {
		nsh_log_warn("git http: %s", err.msg);
	} else if (st->p.exit_code != 0) {
		struct nsh_buf tail = NSH_BUF_INIT;

		stderr_tail(st->err, &tail);
		nsh_log_warn("git http: '%s' for %s ended with %s %d%s%s", "git http-backend",
			     st->what, st->p.term_signal ? "signal" : "exit code",
			     st->p.term_signal ? st->p.term_signal : st->p.exit_code,
			     tail.len ? ": " : "", tail.len ? tail.buf : "");
		nsh_buf_release(&tail);
	}
	if (st->err >= 0)
		close(st->err);
	nsh_proc_release(&st->p);
	nsh_buf_release(&st->head);
	free(st);
}

/*
 * Wait until http-backend's stdout has something (or its end) to read;
 * false when it stays silent for [forge] http_idle: a hung git would
 * otherwise hold this connection's thread for good. It is killed when the
 * stream is freed.
 */
static bool output_ready(struct git_stream *st)
{
	struct pollfd pfd = {.fd = st->out, .events = POLLIN};
	int64_t until = nsh_time_mono_ms() + st->srv->git_idle_ms;

	for (;;) {
		int64_t left = until - nsh_time_mono_ms();
		int n;

		if (left <= 0)
			break;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0 || (n < 0 && errno != EINTR))
			return true; /* the read says what happened */
	}
	if (!st->idle)
		nsh_log_warn("git http: 'git http-backend' for %s said nothing for %lld s: killed",
			     st->what, (long long)(st->srv->git_idle_ms / 1000));
	st->idle = true;
	return false;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct git_stream *st = cls;
	ssize_t n;

	(void)pos;
	if (st->head_off < st->head.len) {
		size_t k = st->head.len - st->head_off;

		if (k > max)
			k = max;
		memcpy(buf, st->head.buf + st->head_off, k);
		st->head_off += k;
		return (ssize_t)k;
	}
	if (!output_ready(st))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	do
		n = read(st->out, buf, max);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == 0) {
		st->eof = true;
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Prepare the http-backend command of @g in @p. */
static void backend_command(const struct nsh_srv_git *g, struct nsh_proc *p)
{
	const char *svc =
		g->t.service == NSH_SRV_GIT_UPLOAD ? "git-upload-pack" : "git-receive-pack";
	const char *path = getenv("PATH");

	nsh_git_init(p, NULL);
	p->env_clear = true;
	nsh_strvec_pushl(&p->argv, "-c", "http.uploadpack=true", "-c",
			 g->srv->git_push || g->srv->git_worker_push ? "http.receivepack=true"
								     : "http.receivepack=false",
			 "http-backend", NULL);
	nsh_strvec_pushf(&p->env, "PATH=%s", path && *path ? path : DEFAULT_PATH);
	nsh_strvec_pushf(&p->env, "GIT_PROJECT_ROOT=%s/forge", g->srv->home);
	nsh_strvec_push(&p->env, "GIT_HTTP_EXPORT_ALL=1");
	nsh_strvec_push(&p->env, "GATEWAY_INTERFACE=CGI/1.1");
	nsh_strvec_push(&p->env, "SERVER_PROTOCOL=HTTP/1.1");
	nsh_strvec_pushf(&p->env, "PATH_INFO=/%s/%s.git/%s", g->t.org, g->t.repo,
			 g->t.advert ? "info/refs" : svc);
	if (g->t.advert) {
		nsh_strvec_push(&p->env, "REQUEST_METHOD=GET");
		nsh_strvec_pushf(&p->env, "QUERY_STRING=service=%s", svc);
	} else {
		nsh_strvec_push(&p->env, "REQUEST_METHOD=POST");
		nsh_strvec_push(&p->env, "QUERY_STRING=");
		nsh_strvec_pushf(&p->env, "CONTENT_LENGTH=%llu", (unsigned long long)g->body_len);
	}
	if (g->content_type)
		nsh_strvec_pushf(&p->env, "CONTENT_TYPE=%s", g->content_type);
	if (g->content_encoding)
		nsh_strvec_pushf(&p->env, "HTTP_CONTENT_ENCODING=%s", g->content_encoding);
	if (g->git_protocol)
		nsh_strvec_pushf(&p->env, "HTTP_GIT_PROTOCOL=%s", g->git_protocol);
	nsh_strvec_pushf(&p->env, "REMOTE_USER=%s", g->user);
	if (g->addr[0])
		nsh_strvec_pushf(&p->env, "REMOTE_ADDR=%s", g->addr);
}

/*
 * Read http-backend's output until its CGI headers are complete and parse
 * them into @h; what came after them stays in st->head. NSH_EIO when the
 * output ends before, NSH_EINVAL for malformed headers.
 */
static int read_headers(struct git_stream *st, struct nsh_srv_cgi_head *h, struct nsh_err *err)
{
	for (;;) {
		ssize_t n;
		int rc = nsh_srv_cgi_parse(st->head.buf, st->head.len, h, err);

		if (rc <= 0) {
			if (!rc)
				st->head_off = h->body_at;
			return rc;
		}
		if (nsh_buf_grow(&st->head, READ_CHUNK) < 0)
			return nsh_err_set(err, NSH_EINVAL, "CGI headers are too long");
		if (!output_ready(st))
			return nsh_err_set(err, NSH_ETIMEOUT, "no output for %lld s",
					   (long long)(st->srv->git_idle_ms / 1000));
		do
			n = read(st->out, st->head.buf + st->head.len, READ_CHUNK);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (n == 0)
				st->eof = true;
			return nsh_err_set(err, NSH_EIO, "the output ended before the CGI headers");
		}
		st->head.len += (size_t)n;
		st->head.buf[st->head.len] = '\0';
	}
}

/* ---- pushes from workers ([forge] worker_push) ---- */

static bool oid_zero(const char *s)
{
	return *s && strspn(s, "0") == strlen(s);
}

/* Why the job branch @branch of @t may not be pushed (a new string), or NULL. */
static char *branch_why(struct nsh_store *st, const struct nsh_srv_git_target *t,
			const char *branch)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_job_list jobs = {0};
	struct nsh_repo_rec row = {0};
	const char *task = branch + strlen("nightshift/");
	char *task_id = NULL, *want = NULL, *runner = NULL, *why = NULL;
	size_t i;

	if (!nsh_starts_with(branch, "nightshift/") || !nsh_forge_branch_valid(branch) ||
	    !strchr(task, '/'))
		return nsh_xstrdup("only the branch of a job that a worker runs "
				   "(nightshift/TASK/...) may be pushed here");
	if (nsh_store_repo_get(st, t->org, t->repo, &row, &err))
		goto fail;
	if (!strcmp(branch, row.default_branch)) {
		why = nsh_xstrdup("the default branch changes only by merging");
		goto out;
	}
	task_id = nsh_xstrndup(task, strcspn(task, "/"));
	want = nsh_xasprintf("%s/%s", t->org, t->repo);
	if (nsh_store_job_list(st, task_id, &jobs, &err) && err.code != NSH_ENOTFOUND)
		goto fail;
	for (i = 0; i < jobs.nr; i++)
		if (!strcmp(jobs.v[i].repo, want) && jobs.v[i].branch &&
		    !strcmp(jobs.v[i].branch, branch))
			break;
	if (i == jobs.nr) {
		why = nsh_xstrdup("no job of this repository works on this branch");
		goto out;
	}
	if (nsh_store_job_runner(st, jobs.v[i].id, &runner, &err))
		goto fail;
	if (!runner)
		why = nsh_xasprintf("job %s is not running on a worker", jobs.v[i].id);
	goto out;
fail:
	why = nsh_xasprintf("cannot check the push: %s", err.msg);
out:
	nsh_job_list_release(&jobs);
	nsh_repo_rec_release(&row);
	free(task_id);
	free(want);
	free(runner);
	return why;
}

/* A decimal number from 1 to 2^31-1 of [@s, end), or -1. */
static long long decimal(const char *s, const char **end)
{
	long long v = 0;
	const char *c = s;

	for (; *c >= '0' && *c <= '9' && c - s < 10; c++)
		v = v * 10 + (*c - '0');
	*end = c;
	return c == s || *s == '0' || v > INT32_MAX ? -1 : v;
}

/*
 * Why pull request head ref @cmd (refs/pull/N/heads/SEQ) of @t may not be
 * created, or NULL: it must be new and name head SEQ of pull request N as
 * the store has it.
 */
static char *pull_why(struct nsh_store *st, const struct nsh_srv_git_target *t,
		      const struct nsh_srv_git_cmd *cmd)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_pr_head_list heads = {0};
	struct nsh_pr_rec pr = {0};
	const char *c = cmd->ref + strlen("refs/pull/"), *end;
	long long number = decimal(c, &end), seq = -1;
	char *why = NULL;
	size_t i;

	if (number > 0 && nsh_starts_with(end, "/heads/"))
		seq = decimal(end + strlen("/heads/"), &end);
	if (seq <= 0 || *end)
		return nsh_xstrdup("only refs/pull/N/heads/SEQ of a recorded head may be created");
	if (!oid_zero(cmd->old))
		return nsh_xstrdup("pull request head refs are never moved");
	if (nsh_store_pr_get(st, t->org, t->repo, number, &pr, &err)) {
		why = err.code == NSH_ENOTFOUND
			      ? nsh_xasprintf("no pull request #%lld", number)
			      : nsh_xasprintf("cannot check the push: %s", err.msg);
		goto out;
	}
	if (nsh_store_pr_head_list(st, pr.id, &heads, &err)) {
		why = nsh_xasprintf("cannot check the push: %s", err.msg);
		goto out;
	}
	for (i = 0; i < heads.nr; i++)
		if (heads.v[i].seq == seq && !strcmp(heads.v[i].sha, cmd->new))
			break;
	if (i == heads.nr)
		why = nsh_xasprintf("pull request #%lld has no head %lld at that commit", number,
				    seq);
out:
	nsh_pr_head_list_release(&heads);
	nsh_pr_rec_release(&pr);
	return why;
}

/* Why @cmd of a worker's push to @t may not happen (a new string), or NULL. */
static char *refuse_why(struct nsh_store *st, const struct nsh_srv_git_target *t,
			const struct nsh_srv_git_cmd *cmd)
{
	if (oid_zero(cmd->new))
		return nsh_xstrdup("refs are not deleted over HTTP");
	if (nsh_starts_with(cmd->ref, "refs/heads/"))
		return branch_why(st, t, cmd->ref + strlen("refs/heads/"));
	if (nsh_starts_with(cmd->ref, "refs/pull/"))
		return pull_why(st, t, cmd);
	return nsh_xstrdup("only the branch of a job that a worker runs "
			   "(refs/heads/nightshift/TASK/...) may be pushed here");
}

/*
 * With pushes open to workers only ([forge] worker_push, not http_push):
 * read the ref updates from the start of the spooled body and check each
 * against the store before git sees any of it. Returns MHD_YES/MHD_NO
 * after queueing a refusal (*@ret_done true), or 0 with *@ret_done false
 * when git may take the push.
 */
static int check_worker_push(struct nsh_srv_git *g, struct MHD_Connection *c, bool *ret_done)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_srv_git_cmds cmds = {0};
	struct nsh_srv_conn *conn = NULL;
	struct nsh_buf head = NSH_BUF_INIT, out = NSH_BUF_INIT;
	char *why[NSH_SRV_GIT_CMDS_MAX] = {0};
	size_t want =
		g->body_len < NSH_SRV_GIT_CMDS_READ ? (size_t)g->body_len : NSH_SRV_GIT_CMDS_READ;
	bool refused = false;
	ssize_t n = -1;
	int ok = MHD_YES;

	*ret_done = true;
	if (g->content_encoding && strcasecmp(g->content_encoding, "identity")) {
		ok = git_reply(g->srv, c, 415, false,
			       "a push from a worker must not be compressed");
		goto out;
	}
	if (!nsh_buf_grow(&head, want)) {
		do
			n = pread(g->spool, head.buf, want, 0);
		while (n < 0 && errno == EINTR);
	}
	if (n < 0) {
		ok = git_reply(g->srv, c, 500, false, "cannot read the request body back");
		goto out;
	}
	head.len = (size_t)n;
	if (nsh_srv_git_push_parse(head.buf, head.len, &cmds, &err)) {
		ok = git_reply(g->srv, c, 403, false, "push refused: %s", err.msg);
		goto out;
	}
	if (nsh_srv_pool_get(g->srv, &conn, &err)) {
		nsh_log_warn("git http: %s", err.msg);
		ok = git_reply(g->srv, c, 500, false, "cannot open the store");
		goto out;
	}
	for (size_t i = 0; i < cmds.nr; i++) {
		why[i] = refuse_why(conn->store, &g->t, &cmds.v[i]);
		if (why[i]) {
			nsh_log_warn("git http: refused a push to '%s' of %s/%s: %s", cmds.v[i].ref,
				     g->t.org, g->t.repo, why[i]);
			refused = true;
		}
	}
	nsh_srv_pool_put(g->srv, conn);
	if (!refused) {
		*ret_done = false;
		ok = 0;
		goto out;
	}
	if (!cmds.report_status) {
		ok = git_reply(g->srv, c, 403, false, "push refused: %s", why[0] ? why[0] : "");
		goto out;
	}
	/* git prints each "[remote rejected] REF (WHY)" */
	nsh_srv_git_push_report(&cmds, (const char *const *)why, &out);
	{
		struct MHD_Response *resp =
			MHD_create_response_from_buffer(out.len, out.buf, MHD_RESPMEM_MUST_COPY);

		MHD_add_response_header(resp, "Content-Type",
					"application/x-git-receive-pack-result");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		ok = MHD_queue_response(c, 200, resp);
		MHD_destroy_response(resp);
		nsh_srv_metrics_observe(g->srv->metrics, SIZE_MAX, 200, 0);
	}
out:
	for (size_t i = 0; i < NSH_SRV_GIT_CMDS_MAX; i++)
		free(why[i]);
	nsh_srv_git_cmds_release(&cmds);
	nsh_buf_release(&head);
	nsh_buf_release(&out);
	return ok;
}

int nsh_srv_git_finish(struct nsh_srv_git *g, struct MHD_Connection *c)
{
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_srv_cgi_head h = {0};
	struct MHD_Response *resp;
	struct git_stream *st;
	enum MHD_Result ok;
	int rc;

	if (g->too_big)
		return git_reply(g->srv, c, 413, false,
				 g->spool < 0 ? "this request takes no body"
					      : "request body is larger than the limit ([forge] "
						"http_max_body)");
	if (g->io_errno) {
		nsh_log_warn("git http: cannot store the request body: %s", strerror(g->io_errno));
		return git_reply(g->srv, c, 500, false, "cannot store the request body");
	}
	if (g->spool >= 0 && lseek(g->spool, 0, SEEK_SET) < 0)
		return git_reply(g->srv, c, 500, false, "cannot read the request body back");
	if (g->t.service == NSH_SRV_GIT_RECEIVE && !g->t.advert && !g->srv->git_push) {
		bool done = true;
		int res = check_worker_push(g, c, &done);

		if (done)
			return res;
	}

	st = nsh_xcalloc(1, sizeof(*st));
	st->srv = g->srv;
	st->out = -1;
	nsh_buf_init(&st->head, NSH_SRV_CGI_HEAD_MAX + READ_CHUNK);
	snprintf(st->what, sizeof(st->what), "%s/%s %s", g->t.org, g->t.repo,
		 g->t.service == NSH_SRV_GIT_UPLOAD ? "git-upload-pack" : "git-receive-pack");
	backend_command(g, &st->p);
	st->err = temp_file(g->srv->home);
	if (st->err < 0) {
		rc = nsh_err_sys(&err, errno, "cannot make a file for git's messages");
		goto fail;
	}
	rc = nsh_proc_start(&st->p, g->spool, st->err, &st->out, &err);
	if (rc)
		goto fail;
	st->started = true;
	/* git has its own copy of the body now */
	close(g->spool);
	g->spool = -1;
	rc = read_headers(st, &h, &err);
	if (rc)
		goto fail;

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READ_CHUNK, stream_read, st,
						 stream_free);
	if (!resp) {
		stream_free(st);
		nsh_srv_cgi_head_release(&h);
		return MHD_NO;
	}
	for (size_t i = 0; i < h.nheaders; i++)
		MHD_add_response_header(resp, h.h[i].key, h.h[i].value);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	ok = MHD_queue_response(c, (unsigned)h.status, resp);
	MHD_destroy_response(resp);
	nsh_srv_metrics_observe(g->srv->metrics, SIZE_MAX, h.status, 0);
	nsh_srv_cgi_head_release(&h);
	return ok;
fail:
	nsh_log_warn("git http: %s for %s: %s", "git http-backend", st->what, err.msg);
	stream_free(st); /* waits for git (killed when idle) and logs its stderr */
	if (rc == NSH_ETIMEOUT)
		return git_reply(g->srv, c, 504, false,
				 "git http-backend said nothing for too long ([forge] http_idle)");
	return git_reply(g->srv, c, 502, false, "git http-backend failed");
}

void nsh_srv_git_free(struct nsh_srv_git *g)
{
	if (!g)
		return;
	if (g->spool >= 0)
		close(g->spool);
	free(g->content_type);
	free(g->content_encoding);
	free(g->git_protocol);
	free(g);
}
