/*
 * The control channel between the supervisor and a sandbox's init: one
 * SOCK_SEQPACKET message per request or reply, file descriptors passed
 * with SCM_RIGHTS. Both ends use only system calls here, so the child can
 * call them before exec.
 */
#include "sandbox/sandbox_int.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/banned.h"

#define CTL_MAX_FDS 4

int nsh_ctl_send(int fd, const struct nsh_ctl_msg *m, const void *extra, size_t extra_len,
		 const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov[2] = {{(void *)m, sizeof(*m)}, {(void *)extra, extra_len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = extra_len ? 2 : 1};
	ssize_t n;

	if (nfds > CTL_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(*m) + extra_len ? 0 : -EMSGSIZE;
}

ssize_t nsh_ctl_recv(int fd, void *buf, size_t cap, int *fds, int max_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {buf, cap};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	int reset = 0;
	ssize_t n;

	for (int i = 0; i < max_fds; i++)
		fds[i] = -1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	/*
	 * A peer that closed with a message of ours unread makes the next
	 * read say ECONNRESET before the messages it sent last (its FAILED,
	 * say): once said, the error is cleared, and they come, then the end.
	 */
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && (errno == EINTR || (errno == ECONNRESET && !reset++)));
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int got, *in;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		in = (int *)(void *)CMSG_DATA(c);
		for (int i = 0; i < got; i++) {
			if (i < max_fds)
				fds[i] = in[i];
			else
				close(in[i]); /* more than asked for: never leak them */
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	if (n > 0 && (size_t)n < sizeof(struct nsh_ctl_msg))
		return -EPROTO;
	return n;
}
