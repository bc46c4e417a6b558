/*
 * Runs the egress proxy on 127.0.0.1 for integration scripts:
 *
 *   nsh-test-proxy LEVEL [--allow PATTERN]... [--allow-private HOST:PORT]...
 *
 * Prints the listening port on the first line of stdout, then one line per
 * event:
 *
 *   decision allowed|refused HOST PORT STATUS ADDR private|- REASON
 *   end HOST PORT UP DOWN REASON
 *
 * and runs until SIGTERM or SIGINT, then frees the proxy and exits 0.
 * Errors go to stderr with exit status 1; bad usage exits 2.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "net/net.h"

#include "core/banned.h"

static void on_event(void *ctx, const struct nsh_proxy_decision *d)
{
	FILE *out = ctx;

	if (d->done)
		fprintf(out, "end %s %d %llu %llu %s\n", d->host[0] ? d->host : "-", d->port,
			(unsigned long long)d->bytes_up, (unsigned long long)d->bytes_down,
			d->reason);
	else
		fprintf(out, "decision %s %s %d %d %s %s %s\n", d->allowed ? "allowed" : "refused",
			d->host[0] ? d->host : "-", d->port, d->status, d->addr[0] ? d->addr : "-",
			d->private_allowed ? "private" : "-", d->reason);
	fflush(out);
}

static int usage(void)
{
	fprintf(stderr, "usage: nsh-test-proxy LEVEL [--allow PATTERN]... "
			"[--allow-private HOST:PORT]...\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_net_policy pol;
	struct nsh_proxy *px = NULL;
	enum nsh_net_level level;
	socklen_t len = sizeof(a);
	uint64_t id;
	sigset_t set;
	int fd, sig, rc = 1;

	if (argc < 2)
		return usage();
	if (nsh_net_level_parse(argv[1], &level, &err)) {
		fprintf(stderr, "nsh-test-proxy: %s\n", err.msg);
		return 2;
	}
	nsh_net_policy_init(&pol, level);
	for (int i = 2; i < argc; i++) {
		int r;

		if (i + 1 == argc)
			return usage();
		if (!strcmp(argv[i], "--allow"))
			r = nsh_net_policy_add_allow(&pol, argv[++i], &err);
		else if (!strcmp(argv[i], "--allow-private"))
			r = nsh_net_policy_add_allow_private(&pol, argv[++i], &err);
		else
			return usage();
		if (r) {
			fprintf(stderr, "nsh-test-proxy: %s\n", err.msg);
			return 2;
		}
	}

	/* block the stop signals before any thread starts, then wait for one */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("nsh-test-proxy: listen");
		goto out;
	}
	if (nsh_proxy_new(&px, &err) ||
	    nsh_proxy_listen(px, fd, &pol, on_event, stdout, &id, &err)) {
		fprintf(stderr, "nsh-test-proxy: %s\n", err.msg);
		goto out;
	}
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	sigwait(&set, &sig);
	if (nsh_proxy_unlisten(px, id, &err)) {
		fprintf(stderr, "nsh-test-proxy: %s\n", err.msg);
		goto out;
	}
	rc = 0;
out:
	nsh_proxy_free(px);
	nsh_net_policy_release(&pol);
	return rc;
}
