/*
 * Per-sandbox cgroups across the v2 tree and the v1 hierarchies.
 *
 * The first nsh_cgroup_create() probes the hosts' cgroup mounts from
 * /proc/self/mountinfo and this process's own cgroups from /proc/self/cgroup
 * (a few file reads) and keeps what it found for the next ones; a creation
 * that finds a directory gone probes again. It picks for each resource the
 * v2 tree when its
 * controller is enabled there, else the v1 hierarchy of that controller,
 * and refuses a limit that nothing can enforce. The sandbox's cgroup is
 * made in each hierarchy it needs; the handle keeps one directory per
 * hierarchy and, per resource, which of them serves it.
 *
 * Facts measured on the hybrid development host (kernel 6.18) that the code
 * relies on: v2 cpu.stat accounts CPU time even with no controller enabled
 * in v2; a task frozen by the v1 freezer does not die from SIGKILL until
 * it is thawed; zombies are no longer listed in cgroup.procs (on v1 and
 * v2), so an empty cgroup.procs means rmdir will succeed.
 */
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/time.h"
#include "core/vec.h"

#include "core/banned.h"

/* The controllers this module uses, as bits. */
#define CG_MEMORY  0x01u
#define CG_PIDS	   0x02u
#define CG_CPU	   0x04u
#define CG_CPUACCT 0x08u
#define CG_FREEZER 0x10u
#define CG_NCTRL   5

#define CG_NAME_MAX	 64
#define CG_MAX_HIER	 8		     /* one v2 tree and up to five v1 hierarchies */
#define CG_MAX_DEPTH	 32		     /* sub-cgroups walked below a sandbox */
#define CG_FILE_MAX	 ((size_t)64 * 1024) /* a cgroup control file */
#define CG_PROCS_MAX	 ((size_t)4 << 20)   /* a cgroup.procs list */
#define CG_MOUNTINFO_MAX ((size_t)4 << 20)   /* /proc/self/mountinfo */
#define CG_CPU_PERIOD	 100000		     /* cpu bandwidth period, microseconds */
#define CG_CPU_QUOTA_MIN 1000		     /* the kernel's smallest quota, microseconds */
#define CG_CPUS_MAX	 4096.0		     /* a sanity bound on the cpus limit */
#define CG_POLL_MS	 1		     /* sleep between checks while waiting */
#define CG_DIR_NAME	 "nightshift"	     /* our directory in each hierarchy */
#define CG_CREATE_TRIES	 3		     /* creations raced by a removal of CG_DIR_NAME */

static const struct {
	const char *name; /* as in mount options and cgroup.controllers */
	unsigned bit;	  /* CG_* */
} cg_ctrls[CG_NCTRL] = {
	{"memory", CG_MEMORY},	 {"pids", CG_PIDS},	  {"cpu", CG_CPU},
	{"cpuacct", CG_CPUACCT}, {"freezer", CG_FREEZER},
};

/* One mounted hierarchy as probed. */
struct cg_hier {
	char *base;	/* "<mount><own cgroup>/nightshift" */
	bool v2;	/* the v2 tree */
	bool at_root;	/* this process is in the hierarchy's root cgroup */
	unsigned ctrls; /* v1: its controllers among ours; v2: those enabled for base */
};

struct cg_probe {
	struct cg_hier h[CG_MAX_HIER]; /* the v2 tree (if any) and the v1 hierarchies */
	size_t nr;		       /* entries in use */
	char *v2_why[CG_NCTRL];	       /* why a v2 controller is unusable, or NULL */
	bool v2_cpu_stat;	       /* the v2 base has cpu.stat (prepared probes only) */
	bool v2_freeze;		       /* ... cgroup.freeze */
	bool v2_kill;		       /* ... cgroup.kill */
};

/*
 * The prepared probe of this process, shared by every nsh_cgroup_create()
 * (under probe_lock) until one of them finds a directory gone.
 */
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cg_probe probe_cache;
static bool probe_cached;

/* The sandbox's cgroup in one hierarchy. */
struct cg_dir {
	char *path; /* its directory */
	bool v2;    /* in the v2 tree */
	bool cpu;   /* in the v1 hierarchy of the cpu controller */
};

struct nsh_cgroup {
	struct cg_dir dirs[CG_MAX_HIER];	    /* one per hierarchy used */
	size_t nr;				    /* entries in use */
	int v2_fd;				    /* O_DIRECTORY fd of the v2 cgroup, or -1 */
	enum nsh_cgroup_via via[NSH_CGROUP_RES_NR]; /* what serves each resource */
	const char *res_dir[NSH_CGROUP_RES_NR];	    /* its directory (in dirs[]), or NULL */
	char *desc;				    /* nsh_cgroup_describe() */
	unsigned gen;				    /* probe_gen when made */
	unsigned limited;			    /* CG_MEMORY, CG_PIDS, CG_CPU: limits written */
	bool froze;				    /* nsh_cgroup_freeze() froze it once */
	struct nsh_cgroup_usage base;		    /* the counters when it was reused */
};

/* Counts the times the cached probe was dropped (nsh_cgroup_current()). */
static unsigned probe_gen;

#ifdef NSH_TESTING
static unsigned testing_hide;

static void probe_release(struct cg_probe *pr);

void nsh_cgroup_testing_hide(unsigned what)
{
	pthread_mutex_lock(&probe_lock);
	testing_hide = what;
	probe_gen++;
	if (probe_cached)
		probe_release(&probe_cache);
	probe_cached = false;
	pthread_mutex_unlock(&probe_lock);
}

static char testing_dir[64] = CG_DIR_NAME;

void nsh_cgroup_testing_dir(const char *name)
{
	pthread_mutex_lock(&probe_lock);
	snprintf(testing_dir, sizeof(testing_dir), "%s", name ? name : CG_DIR_NAME);
	probe_gen++;
	if (probe_cached)
		probe_release(&probe_cache);
	probe_cached = false;
	pthread_mutex_unlock(&probe_lock);
}
# define cg_dir_name testing_dir
#else
# define testing_hide		    0u
# define NSH_CGROUP_TESTING_HIDE_V1 1u
# define NSH_CGROUP_TESTING_HIDE_V2 2u
# define cg_dir_name		    CG_DIR_NAME
#endif

/* ---- small helpers ---- */

/* Write @val to @path; 0 or an errno value. */
static int write_raw(const char *path, const char *val)
{
	size_t len = strlen(val);
	int fd, e = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	errno = 0;
	if (write(fd, val, len) != (ssize_t)len)
		e = errno ? errno : EIO;
	if (close(fd) < 0 && !e)
		e = errno;
	return e;
}

/* Write @val to @dir/@file; the error names both. */
static int write_at(const char *dir, const char *file, const char *val, struct nsh_err *err)
{
	char *path = nsh_xasprintf("%s/%s", dir, file);
	int e, ret = 0;

	e = write_raw(path, val);
	if (e)
		ret = nsh_err_sys(err, e, "cannot write '%s' to '%s'", val, path);
	free(path);
	return ret;
}

/* Like write_at(); a missing file is fine (optional features). */
static int write_opt(const char *dir, const char *file, const char *val, struct nsh_err *err)
{
	char *path = nsh_xasprintf("%s/%s", dir, file);
	int e, ret = 0;

	e = write_raw(path, val);
	if (e && e != ENOENT)
		ret = nsh_err_sys(err, e, "cannot write '%s' to '%s'", val, path);
	free(path);
	return ret;
}

/* Replace the contents of @out with @dir/@file (at most @max bytes). */
static int read_at(const char *dir, const char *file, struct nsh_buf *out, size_t max,
		   struct nsh_err *err)
{
	char *path = nsh_xasprintf("%s/%s", dir, file);
	int ret;

	nsh_buf_reset(out);
	ret = nsh_fs_read_file(path, out, max, err);
	free(path);
	return ret;
}

static bool file_exists_at(const char *dir, const char *file)
{
	char *path = nsh_xasprintf("%s/%s", dir, file);
	bool ok = access(path, F_OK) == 0;

	free(path);
	return ok;
}

/* A decimal number followed by white space or the end, as in cgroup files. */
static bool parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || (*end && *end != '\n' && *end != ' '))
		return false;
	*ret = v;
	return true;
}

/* The number on the line "@key <number>" of @text. */
static bool key_u64(const char *text, const char *key, uint64_t *ret)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == ' ')
			return parse_u64(p + klen + 1, ret);
	return false;
}

/*
 * The number in @dir/@file (@key: on its "@key N" line) into @ret; 0 when
 * the file or key does not exist (a feature of a newer kernel).
 */
static int read_u64_at(const char *dir, const char *file, const char *key, uint64_t *ret,
		       struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err e2 = NSH_ERR_INIT;
	uint64_t v = 0;
	int ret_code = 0;

	ret_code = read_at(dir, file, &b, CG_FILE_MAX, &e2);
	if (ret_code == NSH_ENOTFOUND) {
		ret_code = 0;
		goto done;
	}
	if (ret_code < 0) {
		ret_code = nsh_err_set(err, ret_code, "%s", e2.msg);
		goto out;
	}
	if (key) {
		if (!key_u64(b.buf, key, &v))
			v = 0; /* a key of a newer kernel */
	} else if (!parse_u64(b.buf, &v)) {
		ret_code = nsh_err_set(err, NSH_EINVAL, "cannot parse '%s/%s'", dir, file);
		goto out;
	}
done:
	*ret = v;
out:
	nsh_buf_release(&b);
	return ret_code;
}

/* The controller bits of a list of names separated by @sep. */
static unsigned ctrl_bits(const char *list, char sep)
{
	unsigned bits = 0;

	while (*list) {
		const char *end = strchr(list, sep);
		size_t n = end ? (size_t)(end - list) : strlen(list);

		for (size_t i = 0; i < CG_NCTRL; i++)
			if (strlen(cg_ctrls[i].name) == n && !memcmp(list, cg_ctrls[i].name, n))
				bits |= cg_ctrls[i].bit;
		list += n;
		while (*list == sep || *list == '\n')
			list++;
	}
	return bits;
}

/* Subdirectories of @dir as full paths appended to @out; a missing @dir has none. */
static int list_subdirs(const char *dir, struct nsh_strvec *out, struct nsh_err *err)
{
	struct dirent *de;
	DIR *d = NULL;
	int fd, ret = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			ret = nsh_err_sys(err, errno, "cannot open cgroup '%s'", dir);
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		ret = nsh_err_sys(err, errno, "cannot open cgroup '%s'", dir);
		close(fd);
		goto out;
	}
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			nsh_strvec_pushf(out, "%s/%s", dir, de->d_name);
out:
	if (d)
		closedir(d);
	return ret;
}

/*
 * The pids in @dir/cgroup.procs; a missing cgroup has none. Caller frees
 * *ret. Processes outside this pid namespace are listed as 0 by the kernel:
 * they are counted in *@ret_foreign, not returned.
 */
static int read_pids(const char *dir, pid_t **ret, size_t *ret_nr, size_t *ret_foreign,
		     struct nsh_err *err)
{
	size_t foreign = 0;
	struct nsh_buf b = NSH_BUF_INIT;
	struct nsh_err e2 = NSH_ERR_INIT;
	size_t nr = 0, alloc = 0;
	pid_t *pids = NULL;
	int r = 0;

	r = read_at(dir, "cgroup.procs", &b, CG_PROCS_MAX, &e2);
	if (r == NSH_ENOTFOUND) {
		r = 0;
	} else if (r < 0) {
		r = nsh_err_set(err, r, "%s", e2.msg);
		goto out;
	}
	for (const char *p = b.buf; *p;) {
		uint64_t v;

		if (!parse_u64(p, &v) || v > INT32_MAX) {
			r = nsh_err_set(err, NSH_EINVAL, "cannot parse '%s/cgroup.procs'", dir);
			goto out;
		}
		if (v == 0) {
			foreign++;
		} else {
			NSH_ALLOC_GROW(pids, nr + 1, alloc);
			pids[nr++] = (pid_t)v;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : "";
	}
	*ret = pids;
	*ret_nr = nr;
	*ret_foreign = foreign;
	pids = NULL;
out:
	free(pids);
	nsh_buf_release(&b);
	return r;
}

/* ---- probing ---- */

static void probe_release(struct cg_probe *pr)
{
	for (size_t i = 0; i < pr->nr; i++)
		free(pr->h[i].base);
	for (size_t i = 0; i < CG_NCTRL; i++)
		free(pr->v2_why[i]);
	memset(pr, 0, sizeof(*pr));
}

/*
 * This process's cgroup path in the hierarchy with controllers @bits (v2:
 * the "0::" line) from the text of /proc/self/cgroup; NULL when none.
 */
static char *own_path(const char *text, bool v2, unsigned bits)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *c1 = strchr(p, ':'), *c2, *eol;
		char *ctrls;
		bool match;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			break;
		eol = strchrnul(c2, '\n');
		ctrls = nsh_xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
		if (v2)
			match = c1 - p == 1 && p[0] == '0' && !*ctrls;
		else
			match = *ctrls && ctrl_bits(ctrls, ',') == bits;
		free(ctrls);
		if (match)
			return nsh_xstrndup(c2 + 1, (size_t)(eol - c2 - 1));
	}
	return NULL;
}

/*
 * Make "<own>/nightshift" in the v2 tree and enable memory, pids and cpu for
 * it where the own cgroup offers them. Returns false when the tree is not
 * writable; reasons for missing controllers go to pr->v2_why.
 */
static bool v2_prepare(struct cg_probe *pr, struct cg_hier *h, const char *own_dir)
{
	struct nsh_buf avail = NSH_BUF_INIT, on = NSH_BUF_INIT;
	unsigned have = 0, enabled = 0;
	bool ok = true;

	if (mkdir(h->base, 0755) < 0 && errno != EEXIST) {
		ok = false;
		goto out;
	}
	if (read_at(own_dir, "cgroup.controllers", &avail, CG_FILE_MAX, NULL) == 0)
		have = ctrl_bits(avail.buf, ' ');
	if (read_at(own_dir, "cgroup.subtree_control", &on, CG_FILE_MAX, NULL) == 0)
		enabled = ctrl_bits(on.buf, ' ');
	for (size_t i = 0; i < 3; i++) { /* memory, pids, cpu */
		const char *name = cg_ctrls[i].name;
		char *plus, *path = NULL;
		int e = 0;

		if (!(have & cg_ctrls[i].bit)) {
			pr->v2_why[i] = nsh_xasprintf("cgroup v2 offers no '%s' controller in '%s'",
						      name, own_dir);
			continue;
		}
		plus = nsh_xasprintf("+%s", name);
		if (!(enabled & cg_ctrls[i].bit)) {
			path = nsh_xasprintf("%s/cgroup.subtree_control", own_dir);
			e = write_raw(path, plus);
		}
		if (!e) {
			free(path);
			path = nsh_xasprintf("%s/cgroup.subtree_control", h->base);
			e = write_raw(path, plus);
		}
		if (e)
			pr->v2_why[i] = nsh_xasprintf("cannot enable cgroup v2 '%s' in '%s': %s",
						      name, path, strerror(e));
		else
			h->ctrls |= cg_ctrls[i].bit;
		free(path);
		free(plus);
	}
out:
	nsh_buf_release(&avail);
	nsh_buf_release(&on);
	return ok;
}

/* Record the hierarchy mounted at @mnt in which this process is at @rel. */
static void add_hier(struct cg_probe *pr, const char *mnt, const char *rel, bool v2, unsigned bits,
		     bool prepare)
{
	struct cg_hier *h = &pr->h[pr->nr];
	char *own_dir = nsh_xasprintf("%s%s", mnt, rel);

	h->base = nsh_xasprintf("%s/%s", own_dir, cg_dir_name);
	h->v2 = v2;
	h->at_root = !*rel;
	h->ctrls = bits;
	if (v2 && prepare && !v2_prepare(pr, h, own_dir)) {
		free(h->base); /* not writable: not used */
		h->base = NULL;
	} else {
		pr->nr++;
	}
	free(own_dir);
}

/*
 * Find the cgroup hierarchies and this process's place in each. With
 * @prepare, the v2 tree is made ready for new sandboxes (and left out when
 * it is not writable).
 */
static int probe(struct cg_probe *pr, bool prepare, struct nsh_err *err)
{
	struct nsh_buf mi = NSH_BUF_INIT, self = NSH_BUF_INIT;
	unsigned v1_seen = 0;
	bool v2_seen = false;
	char *line, *next;
	int ret;

	memset(pr, 0, sizeof(*pr));
	ret = nsh_fs_read_file("/proc/self/mountinfo", &mi, CG_MOUNTINFO_MAX, err);
	if (ret < 0)
		goto out;
	ret = nsh_fs_read_file("/proc/self/cgroup", &self, CG_FILE_MAX, err);
	if (ret < 0)
		goto out;
	for (line = mi.buf; line && *line; line = next) {
		char *f[64], *own = NULL, *mnt, *root, *fstype, *opts;
		const char *rel;
		size_t nf = 0, sep = 0;
		unsigned bits = 0;
		bool v2;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (char *tok = line; tok && nf < 64; nf++) {
			f[nf] = tok;
			tok = strchr(tok, ' ');
			if (tok)
				*tok++ = '\0';
		}
		for (size_t i = 6; i < nf && !sep; i++)
			if (!strcmp(f[i], "-"))
				sep = i;
		if (!sep || sep + 3 >= nf)
			continue;
		root = f[3];
		mnt = f[4];
		fstype = f[sep + 1];
		opts = f[sep + 3];
		if (!strcmp(fstype, "cgroup2")) {
			if (v2_seen || (testing_hide & NSH_CGROUP_TESTING_HIDE_V2))
				continue;
			v2 = true;
		} else if (!strcmp(fstype, "cgroup")) {
			bits = ctrl_bits(opts, ',');
			if (!bits || (bits & v1_seen) ||
			    (testing_hide & NSH_CGROUP_TESTING_HIDE_V1))
				continue;
			v2 = false;
		} else {
			continue;
		}
		if (pr->nr == CG_MAX_HIER)
			continue;
		nsh_fs_mountinfo_unescape(root);
		nsh_fs_mountinfo_unescape(mnt);
		own = own_path(self.buf, v2, bits);
		if (!own)
			continue;
		/* A mount of a subtree (a container without cgroupns) shows below its root. */
		rel = own;
		if (strcmp(root, "/")) {
			size_t rl = strlen(root);

			if (strncmp(own, root, rl) || (own[rl] && own[rl] != '/')) {
				free(own);
				continue;
			}
			rel = own + rl;
		}
		/*
		 * A thread settled by nsh_cgroup_settle_thread() lives in
		 * "<own>/nightshift" of the cpu hierarchy; when it is the
		 * thread group's leader, that is what /proc/self/cgroup shows.
		 */
		if (!v2 && (bits & CG_CPU)) {
			size_t rl = strlen(rel), dl = strlen(cg_dir_name) + 1;

			if (rl >= dl && rel[rl - dl] == '/' &&
			    !strcmp(rel + rl - dl + 1, cg_dir_name))
				own[rel - own + rl - dl] = '\0';
		}
		add_hier(pr, mnt, strcmp(rel, "/") ? rel : "", v2, bits, prepare);
		if (v2 && prepare && pr->nr && pr->h[pr->nr - 1].v2) {
			const char *base = pr->h[pr->nr - 1].base;

			/* core v2 files (4.20+, 5.2+, 5.14+), checked in our non-root parent */
			pr->v2_cpu_stat = file_exists_at(base, "cpu.stat");
			pr->v2_freeze = file_exists_at(base, "cgroup.freeze");
			pr->v2_kill = file_exists_at(base, "cgroup.kill");
		}
		if (v2)
			v2_seen = true;
		else
			v1_seen |= bits;
		free(own);
	}
out:
	nsh_buf_release(&mi);
	nsh_buf_release(&self);
	if (ret < 0)
		probe_release(pr);
	return ret;
}

static struct cg_hier *probe_v2(struct cg_probe *pr)
{
	for (size_t i = 0; i < pr->nr; i++)
		if (pr->h[i].v2)
			return &pr->h[i];
	return NULL;
}

static struct cg_hier *probe_v1(struct cg_probe *pr, unsigned bit)
{
	for (size_t i = 0; i < pr->nr; i++)
		if (!pr->h[i].v2 && (pr->h[i].ctrls & bit))
			return &pr->h[i];
	return NULL;
}

/* ---- the handle ---- */

static void cg_free(struct nsh_cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->nr; i++)
		free(cg->dirs[i].path);
	if (cg->v2_fd >= 0)
		close(cg->v2_fd);
	free(cg->desc);
	free(cg);
}

static struct nsh_cgroup *cg_new(void)
{
	struct nsh_cgroup *cg = nsh_xcalloc(1, sizeof(*cg));

	cg->v2_fd = -1;
	return cg;
}

/* The sandbox's directory in hierarchy @h, added once; returns it. */
static struct cg_dir *cg_add_dir(struct nsh_cgroup *cg, const struct cg_hier *h, const char *name)
{
	char *path = nsh_xasprintf("%s/%s", h->base, name);

	for (size_t i = 0; i < cg->nr; i++) {
		if (!strcmp(cg->dirs[i].path, path)) {
			free(path);
			return &cg->dirs[i];
		}
	}
	cg->dirs[cg->nr] = (struct cg_dir){path, h->v2, !h->v2 && (h->ctrls & CG_CPU)};
	return &cg->dirs[cg->nr++];
}

static const char *via_name(enum nsh_cgroup_via v)
{
	switch (v) {
	case NSH_CGROUP_VIA_V1:
		return "v1";
	case NSH_CGROUP_VIA_V2:
		return "v2";
	case NSH_CGROUP_VIA_SIGNALS:
		return "signals";
	case NSH_CGROUP_VIA_NONE:
		break;
	}
	return "none";
}

static void cg_set_desc(struct nsh_cgroup *cg)
{
	free(cg->desc);
	cg->desc = nsh_xasprintf(
		"memory: %s, pids: %s, cpu: %s, cpu usage: %s, freeze: %s, kill: %s",
		via_name(cg->via[NSH_CGROUP_RES_MEMORY]), via_name(cg->via[NSH_CGROUP_RES_PIDS]),
		via_name(cg->via[NSH_CGROUP_RES_CPU]), via_name(cg->via[NSH_CGROUP_RES_CPU_USAGE]),
		via_name(cg->via[NSH_CGROUP_RES_FREEZE]), via_name(cg->via[NSH_CGROUP_RES_KILL]));
}

/* ---- killing and removing ---- */

static int sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static bool pid_listed(const pid_t *pids, size_t nr, pid_t pid)
{
	for (size_t i = 0; i < nr; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/*
 * SIGKILL every process in @dir/cgroup.procs; @busy is set when there was
 * one. Each pid is pinned with a pidfd and signalled only if it is still
 * listed after that: if the process had exited and its pid been reused
 * outside the cgroup, the pidfd points at the dead process and the signal
 * goes nowhere.
 */
static int signal_members(const char *dir, bool *busy, struct nsh_err *err)
{
	pid_t *pids = NULL, *again = NULL;
	size_t nr = 0, nr_again = 0, foreign = 0;
	int *fds = NULL;
	int ret;

	ret = read_pids(dir, &pids, &nr, &foreign, err);
	if (ret < 0)
		goto out;
	if (foreign)
		*busy = true; /* cannot be signalled from here: left to time out */
	if (!nr)
		goto out;
	*busy = true;
	fds = nsh_xcalloc(nr, sizeof(*fds));
	for (size_t i = 0; i < nr; i++) {
		fds[i] = sys_pidfd_open(pids[i]);
		if (fds[i] < 0 && errno == ENOSYS) /* before Linux 5.3: racy, but all there is */
			kill(pids[i], SIGKILL);
	}
	ret = read_pids(dir, &again, &nr_again, &foreign, err);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < nr; i++)
		if (fds[i] >= 0 && pid_listed(again, nr_again, pids[i]))
			syscall(SYS_pidfd_send_signal, fds[i], SIGKILL, NULL, 0);
out:
	for (size_t i = 0; fds && i < nr; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(pids);
	free(again);
	return ret;
}

/* signal_members() on @dir and every cgroup below it. */
static int signal_tree(const char *dir, int depth, bool *busy, struct nsh_err *err)
{
	struct nsh_strvec subs = NSH_STRVEC_INIT;
	const char *sub;
	int ret;

	ret = signal_members(dir, busy, err);
	if (ret < 0 || depth >= CG_MAX_DEPTH)
		goto out;
	ret = list_subdirs(dir, &subs, err);
	if (ret < 0)
		goto out;
	nsh_vec_foreach(sub, &subs) {
		ret = signal_tree(sub, depth + 1, busy, err);
		if (ret < 0)
			goto out;
	}
out:
	nsh_strvec_release(&subs);
	return ret;
}

/* Whether a live process is in @dir or below (v2: cgroup.events "populated"). */
static bool dir_populated(const struct cg_dir *d, const char *dir, int depth)
{
	struct nsh_strvec subs = NSH_STRVEC_INIT;
	pid_t *pids = NULL;
	const char *sub;
	size_t nr = 0, foreign = 0;
	bool busy = false;

	if (d->v2) {
		uint64_t v = 0;
		struct nsh_buf b = NSH_BUF_INIT;
		int r = read_at(dir, "cgroup.events", &b, CG_FILE_MAX, NULL);

		busy = r == 0 ? !key_u64(b.buf, "populated", &v) || v : r != NSH_ENOTFOUND;
		nsh_buf_release(&b);
		return busy;
	}
	if (read_pids(dir, &pids, &nr, &foreign, NULL) < 0 || nr || foreign) {
		busy = true;
		goto out;
	}
	if (depth >= CG_MAX_DEPTH || list_subdirs(dir, &subs, NULL) < 0)
		goto out;
	nsh_vec_foreach(sub, &subs) {
		if (dir_populated(d, sub, depth + 1)) {
			busy = true;
			break;
		}
	}
out:
	free(pids);
	nsh_strvec_release(&subs);
	return busy;
}

/* Thaw a v1 freezer cgroup that is not THAWED (frozen v1 tasks ignore SIGKILL). */
static int thaw_v1(struct nsh_cgroup *cg, struct nsh_err *err)
{
	const char *dir = cg->res_dir[NSH_CGROUP_RES_FREEZE];
	struct nsh_buf b = NSH_BUF_INIT;
	int ret = 0;

	if (cg->via[NSH_CGROUP_RES_FREEZE] != NSH_CGROUP_VIA_V1 || !dir)
		goto out;
	if (read_at(dir, "freezer.state", &b, CG_FILE_MAX, NULL) < 0)
		goto out; /* gone: nothing to thaw */
	nsh_buf_trim(&b);
	if (strcmp(b.buf, "THAWED"))
		ret = write_at(dir, "freezer.state", "THAWED", err);
out:
	nsh_buf_release(&b);
	return ret;
}

static int cg_kill(struct nsh_cgroup *cg, struct nsh_err *err)
{
	int64_t deadline = nsh_time_mono_ms() + NSH_CGROUP_KILL_WAIT_MS;
	const char *kdir = cg->res_dir[NSH_CGROUP_RES_KILL];
	int ret = 0;

	if (cg->via[NSH_CGROUP_RES_KILL] == NSH_CGROUP_VIA_V2 && kdir) {
		ret = write_opt(kdir, "cgroup.kill", "1", err);
		if (ret < 0)
			goto out;
	}
	for (;;) {
		bool busy = false;

		for (size_t i = 0; i < cg->nr; i++) {
			const struct cg_dir *d = &cg->dirs[i];

			/* cgroup.kill covers the v2 tree, including what is forked meanwhile */
			if (d->v2 && cg->via[NSH_CGROUP_RES_KILL] == NSH_CGROUP_VIA_V2)
				busy |= dir_populated(d, d->path, 0);
			else
				ret = signal_tree(d->path, 0, &busy, err);
			if (ret < 0)
				goto out;
		}
		ret = thaw_v1(cg, err);
		if (ret < 0 || !busy)
			goto out;
		if (nsh_time_mono_ms() > deadline) {
			ret = nsh_err_set(
				err, NSH_ETIMEOUT,
				"processes of cgroup '%s' still alive %d ms after SIGKILL",
				cg->nr ? cg->dirs[0].path : "", NSH_CGROUP_KILL_WAIT_MS);
			goto out;
		}
		nsh_time_sleep_ms(CG_POLL_MS);
	}
out:
	return ret;
}

/* rmdir @dir after the cgroups below it; EBUSY is retried until @deadline. */
static int remove_tree(const char *dir, int depth, int64_t deadline, struct nsh_err *err)
{
	struct nsh_strvec subs = NSH_STRVEC_INIT;
	const char *sub;
	int ret = 0;

	if (depth < CG_MAX_DEPTH) {
		ret = list_subdirs(dir, &subs, err);
		if (ret < 0)
			goto out;
		nsh_vec_foreach(sub, &subs) {
			ret = remove_tree(sub, depth + 1, deadline, err);
			if (ret < 0)
				goto out;
		}
	}
	while (rmdir(dir) < 0 && errno != ENOENT) {
		if (errno != EBUSY || nsh_time_mono_ms() > deadline) {
			ret = nsh_err_sys(err, errno, "cannot remove cgroup '%s'", dir);
			goto out;
		}
		nsh_time_sleep_ms(CG_POLL_MS);
	}
out:
	nsh_strvec_release(&subs);
	return ret;
}

/*
 * Remove @cg's directories when they are already empty, as after the
 * sandbox's init was reaped (which takes its whole pid namespace along):
 * the kernel refuses to remove a cgroup that holds a process or a child
 * cgroup (EBUSY), so this never removes one in use. False when any is
 * left; those that went are gone for good (ENOENT later is fine).
 */
static bool remove_if_empty(struct nsh_cgroup *cg)
{
	bool all = true;

	for (size_t i = cg->nr; i-- > 0;)
		if (rmdir(cg->dirs[i].path) < 0 && errno != ENOENT)
			all = false;
	return all;
}

/* Kill and remove everything of @cg; the first error is kept. */
static int cg_teardown(struct nsh_cgroup *cg, struct nsh_err *err)
{
	int64_t deadline;
	int ret, r;

	if (remove_if_empty(cg))
		return 0;
	ret = cg_kill(cg, err);
	deadline = nsh_time_mono_ms() + NSH_CGROUP_KILL_WAIT_MS;
	for (size_t i = cg->nr; i-- > 0;) {
		struct nsh_err e2 = NSH_ERR_INIT;

		r = remove_tree(cg->dirs[i].path, 0, deadline, ret < 0 ? &e2 : err);
		if (ret == 0)
			ret = r;
	}
	return ret;
}

/* ---- creation ---- */

static int check_name(const char *name, struct nsh_err *err)
{
	size_t len = strlen(name);

	if (!len || len > CG_NAME_MAX || name[0] == '.' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
		    len)
		return nsh_err_set(err, NSH_EINVAL, "invalid sandbox cgroup name '%s'", name);
	return 0;
}

/* NSH_EDENIED for limit @what = @value that no hierarchy can enforce. */
static int deny(const struct cg_probe *pr, size_t ctrl, const char *what, const char *value,
		struct nsh_err *err)
{
	const char *why = pr->v2_why[ctrl];

	return nsh_err_set(err, NSH_EDENIED,
			   "cannot enforce the %s limit '%s': no cgroup v1 '%s' hierarchy, and %s",
			   what, value, cg_ctrls[ctrl].name,
			   why ? why : "no writable cgroup v2 tree");
}

/* Write the limits into the directories chosen for them. */
static int set_limits(struct nsh_cgroup *cg, const struct nsh_cgroup_limits *lim,
		      struct nsh_err *err)
{
	const char *mdir = cg->res_dir[NSH_CGROUP_RES_MEMORY];
	const char *pdir = cg->res_dir[NSH_CGROUP_RES_PIDS];
	const char *cdir = cg->res_dir[NSH_CGROUP_RES_CPU];
	char val[64];
	int ret = 0;

	if (lim->memory) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->memory);
		if (cg->via[NSH_CGROUP_RES_MEMORY] == NSH_CGROUP_VIA_V2) {
			ret = write_at(mdir, "memory.max", val, err);
			if (ret == 0)
				ret = write_opt(mdir, "memory.swap.max", "0", err);
		} else {
			/* memory+swap may not be below memory alone: set memory first */
			ret = write_at(mdir, "memory.limit_in_bytes", val, err);
			if (ret == 0 && file_exists_at(mdir, "memory.memsw.limit_in_bytes"))
				ret = write_at(mdir, "memory.memsw.limit_in_bytes", val, err);
			else if (ret == 0)
				ret = write_opt(mdir, "memory.swappiness", "0", err);
		}
		cg->limited |= CG_MEMORY; /* also when only partly written */
		if (ret < 0)
			goto out;
	}
	if (lim->pids) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->pids);
		cg->limited |= CG_PIDS;
		ret = write_at(pdir, "pids.max", val, err);
		if (ret < 0)
			goto out;
	}
	if (lim->cpus > 0) {
		cg->limited |= CG_CPU;
		unsigned long long quota = (unsigned long long)(lim->cpus * CG_CPU_PERIOD + 0.5);

		if (cg->via[NSH_CGROUP_RES_CPU] == NSH_CGROUP_VIA_V2) {
			snprintf(val, sizeof(val), "%llu %d", quota, CG_CPU_PERIOD);
			ret = write_at(cdir, "cpu.max", val, err);
		} else {
			snprintf(val, sizeof(val), "%d", CG_CPU_PERIOD);
			ret = write_at(cdir, "cpu.cfs_period_us", val, err);
			snprintf(val, sizeof(val), "%llu", quota);
			if (ret == 0)
				ret = write_at(cdir, "cpu.cfs_quota_us", val, err);
		}
	}
out:
	return ret;
}

/* Pick what serves each resource and add the directories needed. */
static int choose(struct nsh_cgroup *cg, struct cg_probe *pr, const char *name,
		  const struct nsh_cgroup_limits *lim, struct nsh_err *err)
{
	struct cg_hier *v2 = probe_v2(pr), *h;
	char val[64];
	int ret = 0;

	if (v2)
		cg_add_dir(cg, v2, name); /* always first: freeze, kill, CLONE_INTO_CGROUP */

	/* memory: joined for usage figures even without a limit */
	if (v2 && (v2->ctrls & CG_MEMORY)) {
		cg->via[NSH_CGROUP_RES_MEMORY] = NSH_CGROUP_VIA_V2;
		cg->res_dir[NSH_CGROUP_RES_MEMORY] = cg_add_dir(cg, v2, name)->path;
	} else if ((h = probe_v1(pr, CG_MEMORY))) {
		cg->via[NSH_CGROUP_RES_MEMORY] = NSH_CGROUP_VIA_V1;
		cg->res_dir[NSH_CGROUP_RES_MEMORY] = cg_add_dir(cg, h, name)->path;
	} else if (lim->memory) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->memory);
		ret = deny(pr, 0, "memory", val, err);
		goto out;
	}

	/* pids and cpu: v1 hierarchies are joined only for a limit */
	if (v2 && (v2->ctrls & CG_PIDS)) {
		cg->via[NSH_CGROUP_RES_PIDS] = NSH_CGROUP_VIA_V2;
		cg->res_dir[NSH_CGROUP_RES_PIDS] = cg_add_dir(cg, v2, name)->path;
	} else if (lim->pids && (h = probe_v1(pr, CG_PIDS))) {
		cg->via[NSH_CGROUP_RES_PIDS] = NSH_CGROUP_VIA_V1;
		cg->res_dir[NSH_CGROUP_RES_PIDS] = cg_add_dir(cg, h, name)->path;
	} else if (lim->pids) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->pids);
		ret = deny(pr, 1, "pids", val, err);
		goto out;
	}
	if (v2 && (v2->ctrls & CG_CPU)) {
		cg->via[NSH_CGROUP_RES_CPU] = NSH_CGROUP_VIA_V2;
		cg->res_dir[NSH_CGROUP_RES_CPU] = cg_add_dir(cg, v2, name)->path;
	} else if (lim->cpus > 0 && (h = probe_v1(pr, CG_CPU))) {
		cg->via[NSH_CGROUP_RES_CPU] = NSH_CGROUP_VIA_V1;
		cg->res_dir[NSH_CGROUP_RES_CPU] = cg_add_dir(cg, h, name)->path;
	} else if (lim->cpus > 0) {
		snprintf(val, sizeof(val), "%g", lim->cpus);
		ret = deny(pr, 2, "cpu", val, err);
		goto out;
	}

	/* cpu time: v2 cpu.stat is a core file, accounted without the controller */
	if (v2 && pr->v2_cpu_stat) {
		cg->via[NSH_CGROUP_RES_CPU_USAGE] = NSH_CGROUP_VIA_V2;
		cg->res_dir[NSH_CGROUP_RES_CPU_USAGE] = cg_add_dir(cg, v2, name)->path;
	} else if ((h = probe_v1(pr, CG_CPUACCT))) {
		cg->via[NSH_CGROUP_RES_CPU_USAGE] = NSH_CGROUP_VIA_V1;
		cg->res_dir[NSH_CGROUP_RES_CPU_USAGE] = cg_add_dir(cg, h, name)->path;
	}

	/* freeze and kill: core v2 files (5.2+, 5.14+), checked in our non-root parent */
	if (v2 && pr->v2_freeze) {
		cg->via[NSH_CGROUP_RES_FREEZE] = NSH_CGROUP_VIA_V2;
		cg->res_dir[NSH_CGROUP_RES_FREEZE] = cg_add_dir(cg, v2, name)->path;
	} else if ((h = probe_v1(pr, CG_FREEZER))) {
		cg->via[NSH_CGROUP_RES_FREEZE] = NSH_CGROUP_VIA_V1;
		cg->res_dir[NSH_CGROUP_RES_FREEZE] = cg_add_dir(cg, h, name)->path;
	}
	if (v2 && pr->v2_kill) {
		cg->via[NSH_CGROUP_RES_KILL] = NSH_CGROUP_VIA_V2;
		cg->res_dir[NSH_CGROUP_RES_KILL] = cg_add_dir(cg, v2, name)->path;
	} else {
		cg->via[NSH_CGROUP_RES_KILL] = NSH_CGROUP_VIA_SIGNALS;
		cg->res_dir[NSH_CGROUP_RES_KILL] = cg->nr ? cg->dirs[0].path : NULL;
	}
out:
	return ret;
}

/*
 * Make sandbox cgroup directory @d. A v1 parent ("nightshift") is made
 * when missing; a missing v2 one sets *@retry, since probe() makes it and
 * enables the controllers in it.
 */
static int make_dir(const struct cg_dir *d, bool *retry, struct nsh_err *err)
{
	const char *path = d->path;
	char *parent;
	int e;

	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno != ENOENT || d->v2) {
		*retry = errno == ENOENT;
		return nsh_err_sys(err, errno, "cannot create cgroup '%s'", path);
	}
	parent = nsh_xstrndup(path, (size_t)(strrchr(path, '/') - path));
	e = mkdir(parent, 0755) < 0 && errno != EEXIST ? errno : 0;
	if (e) {
		nsh_err_sys(err, e, "cannot create cgroup '%s'", parent);
		free(parent);
		return err ? err->code : NSH_EIO;
	}
	free(parent);
	if (mkdir(path, 0755) < 0) {
		*retry = errno == ENOENT;
		return nsh_err_sys(err, errno, "cannot create cgroup '%s'", path);
	}
	return 0;
}

/*
 * One attempt of nsh_cgroup_create() on checked input, with the cached
 * probe unless @fresh. Sets *@retry when a "nightshift" directory vanished
 * under it (nsh_cgroup_cleanup_stale() in another thread or process removes
 * them when empty): probing again makes it, and the v2 controllers enabled
 * in it, anew.
 */
static int create_once(const char *name, const struct nsh_cgroup_limits *lim, bool write,
		       bool fresh, bool *retry, struct nsh_cgroup **ret, struct nsh_err *err)
{
	struct nsh_cgroup *cg = NULL;
	char *full = NULL;
	size_t made = 0;
	int r = 0;

	full = nsh_xasprintf("%ld.%s", (long)getpid(), name);
	cg = cg_new();
	pthread_mutex_lock(&probe_lock);
	if (probe_cached && fresh) {
		probe_gen++;
		probe_release(&probe_cache);
		probe_cached = false;
	}
	if (!probe_cached) {
		r = probe(&probe_cache, true, err);
		probe_cached = r == 0;
	}
	if (r == 0)
		r = choose(cg, &probe_cache, full, lim, err);
	cg->gen = probe_gen;
	pthread_mutex_unlock(&probe_lock);
	if (r < 0)
		goto out;
	if (!cg->nr) {
		r = nsh_err_set(err, NSH_EDENIED, "no usable cgroup hierarchy for sandbox '%s'",
				name);
		goto out;
	}
	for (made = 0; made < cg->nr; made++) {
		r = make_dir(&cg->dirs[made], retry, err);
		if (r < 0)
			goto out;
	}
	r = write ? set_limits(cg, lim, err) : 0;
	if (r < 0)
		goto out;
	if (cg->dirs[0].v2) {
		cg->v2_fd = open(cg->dirs[0].path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cg->v2_fd < 0) {
			r = nsh_err_sys(err, errno, "cannot open cgroup '%s'", cg->dirs[0].path);
			goto out;
		}
	}
	cg_set_desc(cg);
	*ret = cg;
	cg = NULL;
out:
	if (cg) {
		while (made-- > 0)
			rmdir(cg->dirs[made].path);
		cg_free(cg);
	}
	free(full);
	return r;
}

/* nsh_cgroup_create() and nsh_cgroup_create_unset(): @write says whether limits are written. */
static int create(const char *name, const struct nsh_cgroup_limits *lim, bool write,
		  struct nsh_cgroup **ret, struct nsh_err *err)
{
	static const struct nsh_cgroup_limits none;
	bool retry = true;
	int r = 0;

	if (!lim)
		lim = &none;
	r = check_name(name, err);
	if (r < 0)
		return r;
	if (isnan(lim->cpus) || lim->cpus < 0 || lim->cpus > CG_CPUS_MAX ||
	    (lim->cpus > 0 && lim->cpus * CG_CPU_PERIOD + 0.5 < CG_CPU_QUOTA_MIN))
		return nsh_err_set(err, NSH_EINVAL, "invalid cpu limit '%g': use 0 or 0.01 to %g",
				   lim->cpus, CG_CPUS_MAX);
	for (int attempt = 0; retry && attempt < CG_CREATE_TRIES; attempt++) {
		retry = false;
		r = create_once(name, lim, write, attempt > 0, &retry, ret, err);
	}
	return r;
}

int nsh_cgroup_create(const char *name, const struct nsh_cgroup_limits *lim,
		      struct nsh_cgroup **ret, struct nsh_err *err)
{
	return create(name, lim, true, ret, err);
}

int nsh_cgroup_create_unset(const char *name, const struct nsh_cgroup_limits *shape,
			    struct nsh_cgroup **ret, struct nsh_err *err)
{
	return create(name, shape, false, ret, err);
}

bool nsh_cgroup_current(const struct nsh_cgroup *cg)
{
	bool same;

	pthread_mutex_lock(&probe_lock);
	same = cg->gen == probe_gen;
	pthread_mutex_unlock(&probe_lock);
	return same;
}

int nsh_cgroup_set_limits(struct nsh_cgroup *cg, const struct nsh_cgroup_limits *lim,
			  struct nsh_err *err)
{
	if ((lim->memory && cg->via[NSH_CGROUP_RES_MEMORY] == NSH_CGROUP_VIA_NONE) ||
	    (lim->pids && cg->via[NSH_CGROUP_RES_PIDS] == NSH_CGROUP_VIA_NONE) ||
	    (lim->cpus > 0 && cg->via[NSH_CGROUP_RES_CPU] == NSH_CGROUP_VIA_NONE))
		return nsh_err_set(err, NSH_EDENIED,
				   "these cgroups were made without the hierarchy of a limit");
	if (isnan(lim->cpus) || lim->cpus < 0 || lim->cpus > CG_CPUS_MAX ||
	    (lim->cpus > 0 && lim->cpus * CG_CPU_PERIOD + 0.5 < CG_CPU_QUOTA_MIN))
		return nsh_err_set(err, NSH_EINVAL, "invalid cpu limit '%g': use 0 or 0.01 to %g",
				   lim->cpus, CG_CPUS_MAX);
	return set_limits(cg, lim, err);
}

int nsh_cgroup_v2_fd(const struct nsh_cgroup *cg)
{
	return cg->v2_fd;
}

static int attach(struct nsh_cgroup *cg, pid_t pid, struct nsh_err *err)
{
	char val[32];
	int ret = 0;

	snprintf(val, sizeof(val), "%ld", (long)pid);
	for (size_t i = 0; i < cg->nr; i++) {
		char *path;
		int e;

		path = nsh_xasprintf("%s/cgroup.procs", cg->dirs[i].path);
		e = write_raw(path, val);
		if (e == ESRCH)
			ret = nsh_err_set(err, NSH_ENOTFOUND,
					  "cannot move process '%s' into '%s': %s", val, path,
					  strerror(e));
		else if (e)
			ret = nsh_err_sys(err, e, "cannot move process '%s' into '%s'", val, path);
		free(path);
		if (ret < 0)
			break;
	}
	return ret;
}

int nsh_cgroup_attach(struct nsh_cgroup *cg, pid_t pid, struct nsh_err *err)
{
	return attach(cg, pid, err);
}

/* The calling thread lives in "<cpu hierarchy><own>/nightshift": see nsh_cgroup_settle_thread(). */
static __thread bool thread_settled;
/* nsh_cgroup_settle_thread() found nothing to do, or could not, for this thread. */
static __thread bool thread_settle_tried;

/*
 * Write "0" (the calling thread) to the "tasks" file of @d's parent's
 * parent when @home, else of @d: the directory a sandbox's cgroup was made
 * in is "<mount><own cgroup>/nightshift/<name>", so two levels up is where
 * this process lives in that hierarchy; one level up for the cpu hierarchy
 * of a settled thread.
 */
static int move_self(const struct cg_dir *d, bool home, struct nsh_err *err)
{
	const char *dir = d->path;
	size_t len = strlen(dir);
	char *path;
	int e;

	for (int up = home ? (d->cpu && thread_settled ? 1 : 2) : 0; up > 0 && len > 0; up--) {
		while (len > 0 && dir[len - 1] != '/')
			len--;
		if (len > 0)
			len--;
	}
	path = nsh_xasprintf("%.*s/tasks", (int)len, dir);
	e = write_raw(path, "0");
	if (e)
		nsh_err_sys(err, e, "cannot move this thread into '%s'", path);
	free(path);
	return e ? (err ? err->code : NSH_EIO) : 0;
}

int nsh_cgroup_settle_thread(struct nsh_err *err)
{
	struct nsh_buf on = NSH_BUF_INIT;
	struct cg_hier *h;
	char *path = NULL;
	int r = 0, e;

	if (thread_settled || thread_settle_tried)
		return 0;
	thread_settle_tried = true;
	/* Without autogroups (or a kernel without them) there is nothing to avoid. */
	if (nsh_fs_read_file("/proc/sys/kernel/sched_autogroup_enabled", &on, 16, NULL) < 0)
		goto out;
	nsh_buf_trim(&on);
	if (strcmp(on.buf, "1"))
		goto out;
	pthread_mutex_lock(&probe_lock);
	if (!probe_cached) {
		r = probe(&probe_cache, true, err);
		probe_cached = r == 0;
	}
	h = r == 0 ? probe_v1(&probe_cache, CG_CPU) : NULL;
	if (h && h->at_root)
		path = nsh_xasprintf("%s/tasks", h->base);
	if (path && mkdir(h->base, 0755) < 0 && errno != EEXIST) {
		r = nsh_err_sys(err, errno, "cannot create cgroup '%s'", h->base);
		free(path);
		path = NULL;
	}
	pthread_mutex_unlock(&probe_lock);
	if (!path)
		goto out;
	e = write_raw(path, "0");
	if (e)
		r = nsh_err_sys(err, e, "cannot move this thread into '%s'", path);
	else
		thread_settled = true;
out:
	free(path);
	nsh_buf_release(&on);
	return r;
}

int nsh_cgroup_enter_v1(struct nsh_cgroup *cg, struct nsh_err *err)
{
	for (size_t i = 0; i < cg->nr; i++) {
		int r;

		if (cg->dirs[i].v2)
			continue;
		r = move_self(&cg->dirs[i], false, err);
		if (r < 0) {
			nsh_cgroup_leave_v1(cg, NULL);
			return r;
		}
	}
	return 0;
}

int nsh_cgroup_leave_v1(struct nsh_cgroup *cg, struct nsh_err *err)
{
	int ret = 0;

	for (size_t i = 0; i < cg->nr; i++) {
		int r;

		if (cg->dirs[i].v2)
			continue;
		r = move_self(&cg->dirs[i], true, ret ? NULL : err);
		if (r < 0 && !ret)
			ret = r;
	}
	return ret;
}

/* Whether the freezer in @dir reports @frozen. */
static int freeze_state(const char *dir, bool v2, bool *ret, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	uint64_t v = 0;
	int r;

	r = read_at(dir, v2 ? "cgroup.events" : "freezer.state", &b, CG_FILE_MAX, err);
	if (r < 0)
		goto out;
	nsh_buf_trim(&b);
	if (v2 && !key_u64(b.buf, "frozen", &v)) {
		r = nsh_err_set(err, NSH_EINVAL, "no 'frozen' in '%s/cgroup.events'", dir);
		goto out;
	}
	*ret = v2 ? v == 1 : !strcmp(b.buf, "FROZEN");
out:
	nsh_buf_release(&b);
	return r;
}

int nsh_cgroup_freeze(struct nsh_cgroup *cg, bool frozen, struct nsh_err *err)
{
	enum nsh_cgroup_via via = cg->via[NSH_CGROUP_RES_FREEZE];
	const char *dir = cg->res_dir[NSH_CGROUP_RES_FREEZE];
	const char *file = via == NSH_CGROUP_VIA_V2 ? "cgroup.freeze" : "freezer.state";
	const char *on = via == NSH_CGROUP_VIA_V2 ? "1" : "FROZEN";
	const char *off = via == NSH_CGROUP_VIA_V2 ? "0" : "THAWED";
	int64_t deadline = nsh_time_mono_ms() + NSH_CGROUP_FREEZE_WAIT_MS;
	int ret;

	if (via != NSH_CGROUP_VIA_V2 && via != NSH_CGROUP_VIA_V1) {
		ret = nsh_err_set(err, NSH_EDENIED, "no cgroup freezer for '%s'",
				  cg->nr ? cg->dirs[0].path : "");
		goto out;
	}
	cg->froze |= frozen;
	ret = write_at(dir, file, frozen ? on : off, err);
	if (ret < 0)
		goto out;
	for (;;) {
		bool now = !frozen;

		ret = freeze_state(dir, via == NSH_CGROUP_VIA_V2, &now, err);
		if (ret < 0 || now == frozen)
			goto out;
		if (nsh_time_mono_ms() > deadline)
			break;
		nsh_time_sleep_ms(CG_POLL_MS);
		/* a v1 cgroup stuck in FREEZING retries on each write of FROZEN */
		if (via == NSH_CGROUP_VIA_V1 && frozen) {
			ret = write_at(dir, file, on, err);
			if (ret < 0)
				goto out;
		}
	}
	if (frozen)
		write_at(dir, file, off, NULL);
	ret = nsh_err_set(err, NSH_ETIMEOUT, "cgroup '%s' did not %s within %d ms", dir,
			  frozen ? "freeze" : "thaw", NSH_CGROUP_FREEZE_WAIT_MS);
out:
	return ret;
}

int nsh_cgroup_kill(struct nsh_cgroup *cg, struct nsh_err *err)
{
	return cg_kill(cg, err);
}

bool nsh_cgroup_empty(struct nsh_cgroup *cg)
{
	for (size_t i = 0; i < cg->nr; i++)
		if (dir_populated(&cg->dirs[i], cg->dirs[i].path, 0))
			return false;
	return true;
}

/* Lines in @dir/@file: the tasks of a cgroup without a pids controller. */
static int count_lines(const char *dir, const char *file, uint64_t *ret, struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	uint64_t n = 0;
	int r;

	r = read_at(dir, file, &b, CG_PROCS_MAX, err);
	if (r < 0)
		goto out;
	for (const char *p = b.buf; (p = strchr(p, '\n')); p++)
		n++;
	*ret = n;
out:
	nsh_buf_release(&b);
	return r;
}

int nsh_cgroup_usage(struct nsh_cgroup *cg, struct nsh_cgroup_usage *ret, struct nsh_err *err)
{
	const char *mdir = cg->res_dir[NSH_CGROUP_RES_MEMORY];
	const char *pdir = cg->res_dir[NSH_CGROUP_RES_PIDS];
	const char *udir = cg->res_dir[NSH_CGROUP_RES_CPU_USAGE];
	struct nsh_cgroup_usage u;
	int r = 0;

	memset(&u, 0, sizeof(u));
	if (cg->via[NSH_CGROUP_RES_MEMORY] == NSH_CGROUP_VIA_V2) {
		r = read_u64_at(mdir, "memory.peak", NULL, &u.memory_peak, err);
		if (r == 0)
			r = read_u64_at(mdir, "memory.events", "oom_kill", &u.oom_kills, err);
	} else if (cg->via[NSH_CGROUP_RES_MEMORY] == NSH_CGROUP_VIA_V1) {
		r = read_u64_at(mdir, "memory.max_usage_in_bytes", NULL, &u.memory_peak, err);
		if (r == 0)
			r = read_u64_at(mdir, "memory.oom_control", "oom_kill", &u.oom_kills, err);
	}
	if (r < 0)
		goto out;
	if (cg->via[NSH_CGROUP_RES_CPU_USAGE] == NSH_CGROUP_VIA_V2) {
		r = read_u64_at(udir, "cpu.stat", "usage_usec", &u.cpu_usec, err);
	} else if (cg->via[NSH_CGROUP_RES_CPU_USAGE] == NSH_CGROUP_VIA_V1) {
		r = read_u64_at(udir, "cpuacct.usage", NULL, &u.cpu_usec, err);
		u.cpu_usec /= 1000;
	}
	if (r < 0)
		goto out;
	if (cg->via[NSH_CGROUP_RES_PIDS] != NSH_CGROUP_VIA_NONE) {
		r = read_u64_at(pdir, "pids.current", NULL, &u.pids_current, err);
		if (r == 0)
			r = read_u64_at(pdir, "pids.events", "max", &u.pids_max_hits, err);
	} else if (cg->nr) {
		r = count_lines(cg->dirs[0].path, cg->dirs[0].v2 ? "cgroup.threads" : "tasks",
				&u.pids_current, err);
	}
	if (r < 0)
		goto out;
	/* a reused cgroup: what the sandboxes before this one counted */
	u.cpu_usec -= u.cpu_usec > cg->base.cpu_usec ? cg->base.cpu_usec : u.cpu_usec;
	u.oom_kills -= u.oom_kills > cg->base.oom_kills ? cg->base.oom_kills : u.oom_kills;
	u.pids_max_hits -=
		u.pids_max_hits > cg->base.pids_max_hits ? cg->base.pids_max_hits : u.pids_max_hits;
	*ret = u;
out:
	return r;
}

/* Undo the limits written by set_limits(). */
static int unset_limits(struct nsh_cgroup *cg, struct nsh_err *err)
{
	const char *mdir = cg->res_dir[NSH_CGROUP_RES_MEMORY];
	const char *cdir = cg->res_dir[NSH_CGROUP_RES_CPU];
	int r = 0;

	if (cg->limited & CG_MEMORY) {
		/* memory+swap may not be below memory alone: raise it first */
		if (file_exists_at(mdir, "memory.memsw.limit_in_bytes"))
			r = write_at(mdir, "memory.memsw.limit_in_bytes", "-1", err);
		if (r == 0)
			r = write_at(mdir, "memory.limit_in_bytes", "-1", err);
	}
	if (r == 0 && (cg->limited & CG_PIDS))
		r = write_at(cg->res_dir[NSH_CGROUP_RES_PIDS], "pids.max", "max", err);
	if (r == 0 && (cg->limited & CG_CPU)) {
		if (cg->via[NSH_CGROUP_RES_CPU] == NSH_CGROUP_VIA_V2)
			r = write_at(cdir, "cpu.max", "max", err);
		else
			r = write_at(cdir, "cpu.cfs_quota_us", "-1", err);
	}
	if (r == 0)
		cg->limited = 0;
	return r;
}

int nsh_cgroup_reuse(struct nsh_cgroup *cg, uint64_t memory_max, struct nsh_err *err)
{
	const char *mdir = cg->res_dir[NSH_CGROUP_RES_MEMORY];
	enum nsh_cgroup_via mvia = cg->via[NSH_CGROUP_RES_MEMORY];
	struct nsh_cgroup_usage u;
	uint64_t charged = 0;
	int r;

	if (mvia == NSH_CGROUP_VIA_V2)
		return nsh_err_set(err, NSH_EBUSY, "cgroup '%s': its memory peak cannot be reset",
				   mdir);
	if (cg->froze)
		return nsh_err_set(err, NSH_EBUSY, "cgroup '%s' was frozen", cg->dirs[0].path);
	if (!nsh_cgroup_empty(cg))
		return nsh_err_set(err, NSH_EBUSY, "cgroup '%s' still holds processes",
				   cg->dirs[0].path);
	if (mvia == NSH_CGROUP_VIA_V1) {
		r = read_u64_at(mdir, "memory.usage_in_bytes", NULL, &charged, err);
		if (r < 0)
			return r;
		if (charged > memory_max)
			return nsh_err_set(err, NSH_EBUSY,
					   "cgroup '%s' is still charged with %llu bytes", mdir,
					   (unsigned long long)charged);
	}
	r = unset_limits(cg, err);
	/* the peak starts again from what is charged now (at most @memory_max) */
	if (r == 0 && mvia == NSH_CGROUP_VIA_V1)
		r = write_at(mdir, "memory.max_usage_in_bytes", "0", err);
	if (r < 0)
		return r;
	memset(&cg->base, 0, sizeof(cg->base));
	r = nsh_cgroup_usage(cg, &u, err);
	if (r < 0)
		return r;
	cg->base = u;
	return 0;
}

int nsh_cgroup_destroy(struct nsh_cgroup *cg, struct nsh_err *err)
{
	int ret;

	if (!cg)
		return 0;
	ret = cg_teardown(cg, err);
	cg_free(cg);
	return ret;
}

/* Whether @dir or a cgroup below holds a process outside this pid namespace. */
static bool has_foreign(const char *dir, int depth)
{
	struct nsh_strvec subs = NSH_STRVEC_INIT;
	pid_t *pids = NULL;
	const char *sub;
	size_t nr = 0, foreign = 0;
	bool found;

	found = read_pids(dir, &pids, &nr, &foreign, NULL) == 0 && foreign;
	if (!found && depth < CG_MAX_DEPTH && list_subdirs(dir, &subs, NULL) == 0) {
		nsh_vec_foreach(sub, &subs) {
			if ((found = has_foreign(sub, depth + 1)))
				break;
		}
	}
	free(pids);
	nsh_strvec_release(&subs);
	return found;
}

/* A handle on the existing cgroups named @name (from a dead owner). */
static struct nsh_cgroup *adopt(struct cg_probe *pr, const char *name)
{
	struct nsh_cgroup *cg = cg_new();

	for (size_t i = 0; i < pr->nr; i++) {
		struct cg_hier *h = &pr->h[i];
		char *path = nsh_xasprintf("%s/%s", h->base, name);
		bool there = nsh_fs_is_dir(path);

		free(path);
		if (!there)
			continue;
		path = cg_add_dir(cg, h, name)->path;
		if (h->v2 && file_exists_at(path, "cgroup.kill")) {
			cg->via[NSH_CGROUP_RES_KILL] = NSH_CGROUP_VIA_V2;
			cg->res_dir[NSH_CGROUP_RES_KILL] = path;
		}
		if (!h->v2 && (h->ctrls & CG_FREEZER)) {
			cg->via[NSH_CGROUP_RES_FREEZE] = NSH_CGROUP_VIA_V1;
			cg->res_dir[NSH_CGROUP_RES_FREEZE] = path;
		}
	}
	if (cg->via[NSH_CGROUP_RES_KILL] == NSH_CGROUP_VIA_NONE)
		cg->via[NSH_CGROUP_RES_KILL] = NSH_CGROUP_VIA_SIGNALS;
	return cg;
}

/* The owner pid of a sandbox directory "<pid>.<name>", or 0. */
static pid_t owner_of(const char *entry)
{
	uint64_t v = 0;
	const char *dot = strchr(entry, '.');

	if (!dot || dot == entry || strspn(entry, "0123456789") != (size_t)(dot - entry))
		return 0;
	errno = 0;
	v = strtoull(entry, NULL, 10);
	return errno || v > INT32_MAX ? 0 : (pid_t)v;
}

int nsh_cgroup_cleanup_stale(unsigned *ret_removed, struct nsh_err *err)
{
	struct nsh_strvec names = NSH_STRVEC_INIT;
	const char *name;
	unsigned removed = 0;
	struct cg_probe pr;
	int ret;

	ret = probe(&pr, false, err);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < pr.nr; i++) {
		struct nsh_strvec subs = NSH_STRVEC_INIT;
		const char *sub;

		ret = list_subdirs(pr.h[i].base, &subs, err);
		nsh_vec_foreach(sub, &subs) {
			const char *entry = strrchr(sub, '/') + 1;
			pid_t pid = owner_of(entry);

			if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
				continue;
			if (nsh_strvec_find(&names, entry) < 0)
				nsh_strvec_push(&names, entry);
		}
		nsh_strvec_release(&subs);
		if (ret < 0)
			goto out;
	}
	nsh_vec_foreach(name, &names) {
		struct nsh_cgroup *cg = adopt(&pr, name);
		struct nsh_err e2 = NSH_ERR_INIT;
		bool foreign = false;
		int r;

		/* an owner in another pid namespace only looks dead from here */
		for (size_t i = 0; i < cg->nr && !foreign; i++)
			foreign = has_foreign(cg->dirs[i].path, 0);
		if (foreign) {
			cg_free(cg);
			continue;
		}
		r = cg_teardown(cg, ret < 0 ? &e2 : err);
		cg_free(cg);
		if (r == 0)
			removed++;
		else if (ret == 0)
			ret = r;
	}
	/* leave no empty "nightshift" behind in the owner's cgroups (EBUSY while in use) */
	for (size_t i = 0; i < pr.nr; i++)
		rmdir(pr.h[i].base);
	if (ret == 0 && ret_removed)
		*ret_removed = removed;
out:
	nsh_strvec_release(&names);
	probe_release(&pr);
	return ret;
}

enum nsh_cgroup_via nsh_cgroup_via(const struct nsh_cgroup *cg, enum nsh_cgroup_res res,
				   const char **ret_dir)
{
	if ((unsigned)res >= NSH_CGROUP_RES_NR) {
		if (ret_dir)
			*ret_dir = NULL;
		return NSH_CGROUP_VIA_NONE;
	}
	if (ret_dir)
		*ret_dir = cg->res_dir[res];
	return cg->via[res];
}

const char *nsh_cgroup_describe(const struct nsh_cgroup *cg)
{
	return cg->desc ? cg->desc : "";
}
