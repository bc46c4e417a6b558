/*
 * Reports the tools wrote in a checkout, read without leaving it (see
 * core/below.h for why and how), and only when they are fresh: a report
 * older than the run is one the repository shipped, not this run's.
 */
#include "verify/verify_int.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/below.h"
#include "core/buf.h"

#include "core/banned.h"

bool nsh_vrf_read_fresh_at(int dfd, const char *name, time_t since, size_t max, struct nsh_buf *out)
{
	struct stat st;
	int fd = nsh_below_regular(dfd, name, &st);
	bool ok;

	nsh_buf_reset(out);
	if (fd < 0)
		return false;
	ok = st.st_mtime >= since && (uint64_t)st.st_size <= max && nsh_below_read_fd(fd, max, out);
	close(fd);
	return ok;
}

bool nsh_vrf_read_fresh(const char *dir, const char *rel, time_t since, size_t max,
			struct nsh_buf *out)
{
	const char *last;
	int pfd = nsh_below_parent(dir, rel, &last);
	bool ok;

	nsh_buf_reset(out);
	if (pfd < 0)
		return false;
	ok = nsh_vrf_read_fresh_at(pfd, last, since, max, out);
	close(pfd);
	return ok;
}
