/*
 * Copying a workspace's loose objects into the forge's bare repository,
 * for pushes (local.c): the files are taken as they are (zlib streams, no
 * recompression), each checked on the way as git would write it, so that
 * no object lands in the forge under a name that is not its hash.
 */
#include "forge/forge_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/vec.h"

#include "core/banned.h"

static bool all_hex(const char *s, size_t len)
{
	return len && strspn(s, "0123456789abcdef") == len && s[len] == '\0';
}

/*
 * The size in a loose object's header "TYPE SIZE" (@head, NUL-terminated),
 * or -1 when the type is not one of git's four or the size is not a plain
 * decimal number.
 */
static long long head_size(const char *head)
{
	static const char *const types[] = {"blob", "tree", "commit", "tag"};
	const char *sp = strchr(head, ' ');
	char *end = NULL;
	unsigned long long size;
	bool known = false;

	if (!sp || sp[1] < '0' || sp[1] > '9' || (sp[1] == '0' && sp[2] != '\0'))
		return -1;
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		known = known || ((size_t)(sp - head) == strlen(types[t]) &&
				  !strncmp(head, types[t], strlen(types[t])));
	errno = 0;
	size = strtoull(sp + 1, &end, 10);
	if (!known || errno || *end != '\0' || size > LLONG_MAX)
		return -1;
	return (long long)size;
}

bool nsh_forge_loose_check(const unsigned char *data, size_t len, const char *name)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char out[16384], digest[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1], head[64];
	size_t hlen = 0, body = 0, nlen = strlen(name);
	long long size = -1;
	unsigned int dlen = 0;
	bool ok = false;
	z_stream z;
	int zr = Z_OK;

	memset(&z, 0, sizeof(z));
	if (!md || (nlen != 40 && nlen != 64) || len > UINT_MAX || inflateInit(&z) != Z_OK)
		goto out_md;
	if (EVP_DigestInit_ex(md, nlen == 64 ? EVP_sha256() : EVP_sha1(), NULL) != 1)
		goto out;
	z.next_in = (unsigned char *)data;
	z.avail_in = (unsigned int)len;
	while (zr != Z_STREAM_END) {
		size_t n, i = 0;

		z.next_out = out;
		z.avail_out = sizeof(out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END)
			goto out;
		n = sizeof(out) - z.avail_out;
		if (!n && zr == Z_OK && !z.avail_in)
			goto out; /* truncated */
		EVP_DigestUpdate(md, out, n);
		/* the header: "TYPE SIZE\0", at most sizeof(head) bytes */
		for (; size < 0 && i < n; i++) {
			if (hlen == sizeof(head) - 1)
				goto out;
			head[hlen++] = (char)out[i];
			if (out[i] == '\0' && (size = head_size(head)) < 0)
				goto out;
		}
		body += n - i;
		/* more than the header says: stop now, not after inflating all of it */
		if (size >= 0 && body > (unsigned long long)size)
			goto out;
	}
	if (z.avail_in || size < 0 || body != (unsigned long long)size)
		goto out; /* data after the stream, no header, or short */
	if (EVP_DigestFinal_ex(md, digest, &dlen) != 1)
		goto out;
	for (unsigned int k = 0; k < dlen; k++)
		snprintf(hex + 2 * k, 3, "%02x", digest[k]);
	ok = nlen == 2 * (size_t)dlen && !memcmp(hex, name, nlen);
out:
	inflateEnd(&z);
out_md:
	EVP_MD_CTX_free(md);
	return ok;
}

/* The start of a commit that names its first parent: the header, the tree line, a parent line. */
#define PARENT_HEAD_MAX (64 + 6 + NSH_FORGE_SHA_MAX + 1 + 8 + NSH_FORGE_SHA_MAX + 1)

/* Whether @p starts with @word, a space, @idlen hex digits and a newline. */
static bool id_line(const char *p, size_t n, const char *word, size_t idlen)
{
	size_t w = strlen(word);

	return n >= w + 1 + idlen + 1 && !memcmp(p, word, w) && p[w] == ' ' &&
	       strspn(p + w + 1, "0123456789abcdef") >= idlen && p[w + 1 + idlen] == '\n';
}

bool nsh_forge_loose_parent_of(const unsigned char *data, size_t len, size_t idlen,
			       char out[NSH_FORGE_SHA_MAX + 1])
{
	char buf[PARENT_HEAD_MAX + 1];
	const char *nul, *p;
	size_t n, left;
	z_stream z;
	int zr;

	if ((idlen != 40 && idlen != 64) || len > UINT_MAX)
		return false;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return false;
	z.next_in = (unsigned char *)data;
	z.avail_in = (unsigned int)len;
	z.next_out = (unsigned char *)buf;
	z.avail_out = PARENT_HEAD_MAX;
	zr = inflate(&z, Z_SYNC_FLUSH);
	n = PARENT_HEAD_MAX - z.avail_out;
	inflateEnd(&z);
	if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
		return false;
	buf[n] = '\0'; /* strspn() in id_line() stops here at the latest */
	nul = memchr(buf, '\0', n);
	if (!nul || strncmp(buf, "commit ", 7) || head_size(buf) < 0)
		return false;
	p = nul + 1;
	left = n - (size_t)(p - buf);
	if (!id_line(p, left, "tree", idlen))
		return false;
	p += 5 + idlen + 1;
	left -= 5 + idlen + 1;
	if (!id_line(p, left, "parent", idlen))
		return false;
	memcpy(out, p + 7, idlen);
	out[idlen] = '\0';
	return true;
}

bool nsh_forge_loose_parent(const char *bare, const char *sha, char out[NSH_FORGE_SHA_MAX + 1])
{
	size_t idlen = strlen(sha);
	unsigned char data[4096];
	char *path;
	ssize_t n;
	int fd;

	if (!all_hex(sha, idlen) || (idlen != 40 && idlen != 64))
		return false;
	path = nsh_xasprintf("%s/objects/%.2s/%s", bare, sha, sha + 2);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return false;
	/* the start is enough: a commit's first lines deflate to far less */
	n = read(fd, data, sizeof(data));
	close(fd);
	return n > 0 && nsh_forge_loose_parent_of(data, (size_t)n, idlen, out);
}

/*
 * Write @data as the object @dir/@name (@dir: "<bare>/objects/xx") the way
 * git does: a temporary file in @dir, read-only, then linked to its name
 * (an object there already, from another writer, is the same object).
 */
static bool place(const char *dir, const char *name, const void *data, size_t len)
{
	char *tmp = nsh_xasprintf("%s/tmp_obj_XXXXXX", dir);
	char *dst = nsh_xasprintf("%s/%s", dir, name);
	bool ok = false;
	int fd;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		goto out;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto out;
	ok = write(fd, data, len) == (ssize_t)len && fchmod(fd, 0444) == 0;
	ok = close(fd) == 0 && ok;
	if (ok && link(tmp, dst) < 0 && errno != EEXIST)
		ok = false;
	unlink(tmp);
out:
	free(tmp);
	free(dst);
	return ok;
}

int nsh_forge_loose_copy(const char *bare, const char *gitdir, size_t max_objects, size_t max_bytes,
			 size_t *ret_copied)
{
	struct nsh_strvec todo = NSH_STRVEC_INIT; /* "xx/rest" */
	struct nsh_buf data = NSH_BUF_INIT;
	char *objs = nsh_xasprintf("%s/objects", gitdir);
	DIR *top = opendir(objs), *sub;
	struct dirent *de, *e;
	size_t bytes = 0;
	int rc = -1;

	if (!top)
		goto out;
	/* the objects the bare repository lacks, as loose files (a packed one is copied again) */
	while ((de = readdir(top))) {
		char *d;

		if (!all_hex(de->d_name, 2))
			continue;
		d = nsh_xasprintf("%s/%s", objs, de->d_name);
		sub = opendir(d);
		free(d);
		while (sub && (e = readdir(sub))) {
			size_t n = strlen(e->d_name);
			char *have;
			struct stat st;

			if ((n != 38 && n != 62) || !all_hex(e->d_name, n))
				continue;
			have = nsh_xasprintf("%s/objects/%s/%s", bare, de->d_name, e->d_name);
			if (lstat(have, &st) < 0 && errno == ENOENT) {
				char *rel = nsh_xasprintf("%s/%s", de->d_name, e->d_name);

				nsh_strvec_push(&todo, rel);
				free(rel);
			}
			free(have);
		}
		if (sub)
			closedir(sub);
		if (todo.nr > max_objects)
			goto out;
	}
	for (size_t i = 0; i < todo.nr; i++) {
		char *src = nsh_xasprintf("%s/%s", objs, todo.v[i]);
		char *dir = nsh_xasprintf("%s/objects/%.2s", bare, todo.v[i]);
		char name[80];
		bool ok;

		struct stat st;

		snprintf(name, sizeof(name), "%.2s%s", todo.v[i], todo.v[i] + 3);
		nsh_buf_reset(&data);
		/* a file git wrote: a link or a device is nothing to read */
		ok = lstat(src, &st) == 0 && S_ISREG(st.st_mode) &&
		     !nsh_fs_read_file(src, &data, max_bytes - bytes, NULL);
		bytes += data.len;
		ok = ok && nsh_forge_loose_check((const unsigned char *)data.buf, data.len, name) &&
		     place(dir, todo.v[i] + 3, data.buf, data.len);
		free(src);
		free(dir);
		if (!ok)
			goto out;
	}
	*ret_copied = todo.nr;
	rc = 0;
out:
	if (top)
		closedir(top);
	nsh_buf_release(&data);
	nsh_strvec_release(&todo);
	free(objs);
	return rc;
}
