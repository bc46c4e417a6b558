/*
 * The egress policy: which host names a network level allows, the check of
 * allow patterns, the registries named by the host's package manager
 * configuration, and the address ranges that are never reached.
 *
 * Matching works on normalised names (lower case, one trailing dot
 * stripped). Entries that callers put into the lists directly are
 * normalised on the fly, so "GitHub.com." in forge_hosts still matches.
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/str.h"
#include "core/vec.h"

#include "core/banned.h"

#define HOST_MAX	253	      /* bytes of a host name without the trailing dot */
#define LABEL_MAX	63	      /* bytes of one label */
#define CONFIG_FILE_MAX (1024 * 1024) /* largest npmrc or pip.conf read */

static const char *const default_forge[] = {
	"github.com",
	"api.github.com",
	"codeload.github.com",
	"objects.githubusercontent.com",
};

static const char *const default_registries[] = {
	"registry.npmjs.org",	 "pypi.org",	   "files.pythonhosted.org", "repo1.maven.org",
	"repo.maven.apache.org", "crates.io",	   "static.crates.io",	     "index.crates.io",
	"proxy.golang.org",	 "sum.golang.org",
};

void nsh_net_policy_init(struct nsh_net_policy *p, enum nsh_net_level level)
{
	p->level = level;
	nsh_strvec_init(&p->forge_hosts);
	nsh_strvec_init(&p->registry_hosts);
	nsh_strvec_init(&p->allow);
	nsh_strvec_init(&p->allow_private);
	for (size_t i = 0; i < sizeof(default_forge) / sizeof(default_forge[0]); i++)
		nsh_strvec_push(&p->forge_hosts, default_forge[i]);
	for (size_t i = 0; i < sizeof(default_registries) / sizeof(default_registries[0]); i++)
		nsh_strvec_push(&p->registry_hosts, default_registries[i]);
}

void nsh_net_policy_release(struct nsh_net_policy *p)
{
	if (!p)
		return;
	nsh_strvec_release(&p->forge_hosts);
	nsh_strvec_release(&p->registry_hosts);
	nsh_strvec_release(&p->allow);
	nsh_strvec_release(&p->allow_private);
}

static void copy_vec(struct nsh_strvec *dst, const struct nsh_strvec *src)
{
	nsh_strvec_init(dst);
	for (size_t i = 0; i < src->nr; i++)
		nsh_strvec_push(dst, src->v[i]);
}

void nsh_net_policy_copy(struct nsh_net_policy *dst, const struct nsh_net_policy *src)
{
	dst->level = src->level;
	copy_vec(&dst->forge_hosts, &src->forge_hosts);
	copy_vec(&dst->registry_hosts, &src->registry_hosts);
	copy_vec(&dst->allow, &src->allow);
	copy_vec(&dst->allow_private, &src->allow_private);
}

/* ------------------------------------------------------------ host names */

/* @s without one trailing dot. */
static struct nsh_str strip_dot(struct nsh_str s)
{
	if (s.len && s.p[s.len - 1] == '.')
		s.len--;
	return s;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * True when @label reads as a number to inet_aton() or a URL parser:
 * decimal or octal digits, or "0x" followed by hex digits (also none).
 */
static bool numeric_label(struct nsh_str label)
{
	size_t i = 0;

	if (!label.len)
		return false;
	if (label.len >= 2 && label.p[0] == '0' && (label.p[1] == 'x' || label.p[1] == 'X')) {
		for (i = 2; i < label.len; i++)
			if (!is_hex(label.p[i]))
				return false;
		return true;
	}
	for (; i < label.len; i++)
		if (!is_digit(label.p[i]))
			return false;
	return true;
}

static bool str_is_ip_literal(struct nsh_str h)
{
	const char *dot;

	h = strip_dot(h);
	if (!h.len)
		return false;
	if (h.p[0] == '[' || memchr(h.p, ':', h.len))
		return true; /* IPv6, bracketed or not; a name never holds ':' */
	/* the last label decides, as in the WHATWG URL parser: "x.0x7f" too */
	dot = NULL;
	for (size_t i = h.len; i > 0; i--) {
		if (h.p[i - 1] == '.') {
			dot = h.p + i - 1;
			break;
		}
	}
	if (dot)
		h = nsh_str_make(dot + 1, h.len - (size_t)(dot + 1 - h.p));
	return numeric_label(h);
}

bool nsh_net_is_ip_literal(const char *host)
{
	return str_is_ip_literal(nsh_str_from(host));
}

/*
 * Why @h (trailing dot already stripped) is not a valid host name, or NULL.
 */
static const char *host_problem(struct nsh_str h)
{
	size_t label = 0;

	if (!h.len)
		return "empty host name";
	if (str_is_ip_literal(h))
		return "ip literal";
	if (h.len > HOST_MAX)
		return "host name longer than 253 bytes";
	for (size_t i = 0; i < h.len; i++) {
		char c = h.p[i];

		if (c == '.') {
			if (!label)
				return "empty label";
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
		      c == '_'))
			return "invalid character";
		if (++label > LABEL_MAX)
			return "label longer than 63 bytes";
	}
	if (!label)
		return "empty label";
	return NULL;
}

static char *lower_dup(struct nsh_str s)
{
	char *d = nsh_str_dup(s);

	for (char *c = d; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return d;
}

int nsh_net_host_normalize(struct nsh_str host, char **ret, struct nsh_err *err)
{
	struct nsh_str h = strip_dot(host);
	const char *why = host_problem(h);

	if (why)
		return nsh_err_set(err, NSH_EINVAL, "invalid host name '%.*s': %s",
				   (int)(host.len > 300 ? 300 : host.len), host.p ? host.p : "",
				   why);
	*ret = lower_dup(h);
	return 0;
}

/* ------------------------------------------------------------- patterns */

/* Why @pat is not a valid pattern, or NULL. */
static const char *pattern_problem(const char *pat)
{
	struct nsh_str s = strip_dot(nsh_str_from(pat));

	if (s.len >= 2 && s.p[0] == '*' && s.p[1] == '.') {
		s.p += 2;
		s.len -= 2;
		if (!s.len)
			return "nothing after '*.'";
	}
	if (s.len && memchr(s.p, '*', s.len))
		return "'*' is only allowed as a leading '*.'";
	if (s.len && s.p[0] != '[' && memchr(s.p, ':', s.len) == memrchr(s.p, ':', s.len)) {
		const char *colon = memchr(s.p, ':', s.len);

		if (colon &&
		    numeric_label(nsh_str_make(colon + 1, s.len - (size_t)(colon + 1 - s.p))))
			return "ports are not part of a pattern";
	}
	return host_problem(s);
}

/* True when @pat (exact name or "*.suffix", any case, maybe a trailing dot) matches @host
 * (normalised). */
static bool pattern_match(const char *pat, const char *host)
{
	struct nsh_str p = strip_dot(nsh_str_from(pat));
	size_t hl = strlen(host);

	if (p.len >= 2 && p.p[0] == '*' && p.p[1] == '.') {
		/* the suffix including its dot; at least one byte must precede it */
		size_t sl = p.len - 1;

		return sl > 1 && hl > sl && !strncasecmp(host + hl - sl, p.p + 1, sl);
	}
	return p.len == hl && !strncasecmp(host, p.p, hl);
}

static bool list_match(const struct nsh_strvec *v, const char *host)
{
	for (size_t i = 0; i < v->nr; i++)
		if (pattern_match(v->v[i], host))
			return true;
	return false;
}

int nsh_net_policy_add_allow(struct nsh_net_policy *p, const char *pattern, struct nsh_err *err)
{
	const char *why = pattern_problem(pattern);

	if (why)
		return nsh_err_set(err, NSH_EINVAL, "invalid allow pattern '%s': %s", pattern, why);
	char *norm = lower_dup(strip_dot(nsh_str_from(pattern)));

	if (nsh_strvec_find(&p->allow, norm) < 0)
		nsh_strvec_push(&p->allow, norm);
	free(norm);
	return 0;
}

/* Split "host:port"; false when it is not one. */
static bool split_hostport(const char *s, struct nsh_str *ret_host, int *ret_port)
{
	const char *colon = strrchr(s, ':');
	long port = 0;

	if (!colon || !colon[1] || colon[1] == '0' || strlen(colon + 1) > 5)
		return false;
	for (const char *c = colon + 1; *c; c++) {
		if (!is_digit(*c))
			return false;
		port = port * 10 + (*c - '0');
	}
	if (port < 1 || port > 65535)
		return false;
	*ret_host = nsh_str_make(s, (size_t)(colon - s));
	*ret_port = (int)port;
	return true;
}

static const char *private_problem(const char *entry)
{
	struct nsh_str h;
	int port;

	if (!split_hostport(entry, &h, &port))
		return "expected host:port with a port from 1 to 65535";
	if (memchr(h.p, '*', h.len))
		return "patterns are not allowed here";
	return host_problem(strip_dot(h));
}

int nsh_net_policy_add_allow_private(struct nsh_net_policy *p, const char *hostport,
				     struct nsh_err *err)
{
	const char *why = private_problem(hostport);
	struct nsh_str h;
	char *host;
	int port;

	if (why)
		return nsh_err_set(err, NSH_EINVAL, "invalid allow_private entry '%s': %s",
				   hostport, why);
	split_hostport(hostport, &h, &port);
	host = lower_dup(strip_dot(h));
	if (!nsh_net_policy_private_ok(p, host, port))
		nsh_strvec_pushf(&p->allow_private, "%s:%d", host, port);
	free(host);
	return 0;
}

int nsh_net_policy_validate(const struct nsh_net_policy *p, struct nsh_err *err)
{
	static const struct {
		size_t off;
		const char *what;
	} lists[] = {
		{offsetof(struct nsh_net_policy, forge_hosts), "forge host"},
		{offsetof(struct nsh_net_policy, registry_hosts), "registry host"},
		{offsetof(struct nsh_net_policy, allow), "allow pattern"},
	};

	if ((unsigned)p->level > NSH_NET_CUSTOM)
		return nsh_err_set(err, NSH_EINVAL, "invalid network level %d", (int)p->level);
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		const struct nsh_strvec *v =
			(const struct nsh_strvec *)((const char *)p + lists[l].off);

		for (size_t i = 0; i < v->nr; i++) {
			const char *why = pattern_problem(v->v[i]);

			if (why)
				return nsh_err_set(err, NSH_EINVAL, "invalid %s '%s': %s",
						   lists[l].what, v->v[i], why);
		}
	}
	for (size_t i = 0; i < p->allow_private.nr; i++) {
		const char *why = private_problem(p->allow_private.v[i]);

		if (why)
			return nsh_err_set(err, NSH_EINVAL, "invalid allow_private entry '%s': %s",
					   p->allow_private.v[i], why);
	}
	return 0;
}

const char *nsh_net_policy_refusal(const struct nsh_net_policy *p, const char *host)
{
	struct nsh_str h = strip_dot(nsh_str_from(host));
	const char *why;
	char *norm;
	bool ok = false;

	if (p->level == NSH_NET_NONE)
		return "network level none";
	if (str_is_ip_literal(h))
		return "ip literal";
	why = host_problem(h);
	if (why)
		return "invalid host name";
	norm = lower_dup(h);
	switch (p->level) {
	case NSH_NET_INTEGRATION:
		ok = list_match(&p->forge_hosts, norm);
		break;
	case NSH_NET_COMMON:
		ok = list_match(&p->forge_hosts, norm) || list_match(&p->registry_hosts, norm);
		break;
	case NSH_NET_OPEN:
		ok = true;
		break;
	case NSH_NET_CUSTOM:
		ok = list_match(&p->allow, norm);
		break;
	case NSH_NET_NONE:
		break;
	}
	free(norm);
	return ok ? NULL : "not in the allowlist";
}

bool nsh_net_policy_allows(const struct nsh_net_policy *p, const char *host)
{
	return !nsh_net_policy_refusal(p, host);
}

bool nsh_net_policy_private_ok(const struct nsh_net_policy *p, const char *host, int port)
{
	struct nsh_str want = strip_dot(nsh_str_from(host));

	for (size_t i = 0; i < p->allow_private.nr; i++) {
		struct nsh_str h;
		int pt;

		if (!split_hostport(p->allow_private.v[i], &h, &pt) || pt != port)
			continue;
		h = strip_dot(h);
		if (h.len == want.len && want.len && !strncasecmp(h.p, want.p, h.len))
			return true;
	}
	return false;
}

/* ---------------------------------------------------- host registries */

/*
 * Add the host of @url ("http(s)://[user@]host[:port]/...") to @v, when it
 * is a valid host name not already there.
 */
static void add_url_host(struct nsh_strvec *v, struct nsh_str url)
{
	struct nsh_str rest, host;
	const char *at;
	char *norm = NULL;
	size_t n = 0;

	url = nsh_str_trim(url);
	if (url.len >= 2 && (url.p[0] == '"' || url.p[0] == '\'') && url.p[url.len - 1] == url.p[0])
		url = nsh_str_make(url.p + 1, url.len - 2);
	if (nsh_str_has_prefix(url, "https://"))
		rest = nsh_str_make(url.p + 8, url.len - 8);
	else if (nsh_str_has_prefix(url, "http://"))
		rest = nsh_str_make(url.p + 7, url.len - 7);
	else
		return;
	while (n < rest.len && rest.p[n] != '/' && rest.p[n] != '?' && rest.p[n] != '#')
		n++;
	host = nsh_str_make(rest.p, n);
	at = host.len ? memchr(host.p, '@', host.len) : NULL;
	while (at) { /* userinfo: the host follows the last '@' */
		host = nsh_str_make(at + 1, host.len - (size_t)(at + 1 - host.p));
		at = host.len ? memchr(host.p, '@', host.len) : NULL;
	}
	if (host.len && host.p[0] == '[')
		return; /* an IPv6 literal */
	for (size_t i = 0; i < host.len; i++) {
		if (host.p[i] == ':') {
			host.len = i;
			break;
		}
	}
	if (nsh_net_host_normalize(host, &norm, NULL))
		return;
	if (nsh_strvec_find(v, norm) < 0)
		nsh_strvec_push(v, norm);
	free(norm);
}

/* Add each whitespace-separated URL in @s. */
static void add_url_list(struct nsh_strvec *v, struct nsh_str s)
{
	size_t i = 0;

	while (i < s.len) {
		size_t start;

		while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\t' || s.p[i] == '\r'))
			i++;
		start = i;
		while (i < s.len && s.p[i] != ' ' && s.p[i] != '\t' && s.p[i] != '\r')
			i++;
		if (i > start)
			add_url_host(v, nsh_str_make(s.p + start, i - start));
	}
}

/* Next line of @text from *@pos, without its newline. */
static bool next_line(struct nsh_str text, size_t *pos, struct nsh_str *ret)
{
	const char *nl;

	if (*pos >= text.len)
		return false;
	nl = memchr(text.p + *pos, '\n', text.len - *pos);
	*ret = nsh_str_make(text.p + *pos, nl ? (size_t)(nl - text.p) - *pos : text.len - *pos);
	*pos += ret->len + 1;
	return true;
}

/* npm's ini format: "registry=URL" and "@scope:registry=URL", ';' and '#' comments. */
static void parse_npmrc(struct nsh_strvec *v, struct nsh_str text)
{
	struct nsh_str line, key, val;
	size_t pos = 0;

	while (next_line(text, &pos, &line)) {
		line = nsh_str_trim(line);
		if (!line.len || line.p[0] == ';' || line.p[0] == '#')
			continue;
		if (!nsh_str_split(line, '=', &key, &val))
			continue;
		key = nsh_str_trim(key);
		val = nsh_str_trim(val);
		if (!nsh_str_eq_cstr(key, "registry") &&
		    !(key.len && key.p[0] == '@' && nsh_str_has_suffix(key, ":registry")))
			continue;
		if (val.len && memmem(val.p, val.len, "${", 2))
			continue; /* names an environment variable we cannot see */
		add_url_host(v, val);
	}
}

/*
 * pip's ini format: "index-url" and "extra-index-url" in any section, with
 * '=' or ':', values continued on indented lines.
 */
static void parse_pipconf(struct nsh_strvec *v, struct nsh_str text)
{
	struct nsh_str line, key, val;
	bool in_url = false;
	size_t pos = 0;

	while (next_line(text, &pos, &line)) {
		bool indented = line.len && (line.p[0] == ' ' || line.p[0] == '\t');

		line = nsh_str_trim(line);
		if (!line.len || line.p[0] == ';' || line.p[0] == '#') {
			if (!line.len)
				in_url = false;
			continue;
		}
		if (indented && in_url) {
			add_url_list(v, line);
			continue;
		}
		in_url = false;
		if (line.p[0] == '[')
			continue;
		size_t sep = 0;

		while (sep < line.len && line.p[sep] != '=' && line.p[sep] != ':')
			sep++;
		if (sep == line.len)
			continue;
		key = nsh_str_trim(nsh_str_make(line.p, sep));
		val = nsh_str_trim(nsh_str_make(line.p + sep + 1, line.len - sep - 1));
		/* pip accepts "index_url" and "--index-url" spellings too */
		while (key.len && key.p[0] == '-') {
			key.p++;
			key.len--;
		}
		char *k = lower_dup(key);

		for (char *c = k; *c; c++)
			if (*c == '_')
				*c = '-';
		if (!strcmp(k, "index-url") || !strcmp(k, "extra-index-url")) {
			in_url = true;
			add_url_list(v, val);
		}
		free(k);
	}
}

/* Read @path (missing is fine) and feed it to @parse. */
static int read_config(struct nsh_strvec *v, const char *path,
		       void (*parse)(struct nsh_strvec *, struct nsh_str), struct nsh_err *err)
{
	struct nsh_buf b = NSH_BUF_INIT;
	int ret = nsh_fs_read_file(path, &b, CONFIG_FILE_MAX, err);

	if (ret == NSH_ENOTFOUND) {
		nsh_err_clear(err);
		ret = 0;
		goto out;
	}
	if (ret)
		goto out;
	parse(v, nsh_str_make(b.buf, b.len));
out:
	nsh_buf_release(&b);
	return ret;
}

int nsh_net_policy_add_host_registries(struct nsh_net_policy *p, const char *home, const char *root,
				       struct nsh_err *err)
{
	static const struct {
		bool in_home;
		const char *rel;
		bool npm;
	} files[] = {
		{true, ".npmrc", true},
		{false, "etc/npmrc", true},
		{false, "usr/etc/npmrc", true},
		{true, ".config/pip/pip.conf", false},
		{true, ".pip/pip.conf", false},
		{false, "etc/pip.conf", false},
		{false, "etc/xdg/pip/pip.conf", false},
	};
	int ret = 0;

	if (!home)
		home = getenv("HOME");
	if (!root)
		root = "/";
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && !ret; i++) {
		const char *base = files[i].in_home ? home : root;
		char *path;

		if (!base || !*base)
			continue;
		path = nsh_xasprintf("%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/",
				     files[i].rel);
		ret = read_config(&p->registry_hosts, path,
				  files[i].npm ? parse_npmrc : parse_pipconf, err);
		free(path);
	}
	return ret;
}

/* ------------------------------------------------------ forbidden ranges */

static bool v4_forbidden(uint32_t a)
{
	static const struct {
		uint32_t net;
		int bits;
	} ranges[] = {
		{0x00000000, 8},  /* 0.0.0.0/8 "this network" */
		{0x0a000000, 8},  /* 10/8 */
		{0x64400000, 10}, /* 100.64/10 CGNAT */
		{0x7f000000, 8},  /* 127/8 loopback */
		{0xa9fe0000, 16}, /* 169.254/16 link-local, metadata */
		{0xac100000, 12}, /* 172.16/12 */
		{0xc0000000, 24}, /* 192.0.0.0/24 IETF protocol assignments */
		{0xc0a80000, 16}, /* 192.168/16 */
		{0xc6120000, 15}, /* 198.18/15 benchmarking */
		{0xe0000000, 4},  /* 224/4 multicast */
		{0xf0000000, 4},  /* 240/4 reserved and broadcast */
	};

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		uint32_t mask = ~(uint32_t)0 << (32 - ranges[i].bits);

		if ((a & mask) == ranges[i].net)
			return true;
	}
	return false;
}

static uint32_t v4_at(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool v6_forbidden(const uint8_t *b)
{
	static const uint8_t zero[12] = {0};
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
	static const uint8_t discard[8] = {0x01, 0, 0, 0, 0, 0, 0, 0};

	if (!memcmp(b, zero, 12))
		return true; /* ::, ::1 and deprecated v4-compatible */
	if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12))
		return v4_forbidden(v4_at(b + 12));
	if (!memcmp(b, nat64_local, 6) || !memcmp(b, discard, 8))
		return true;
	if ((b[0] & 0xfe) == 0xfc)
		return true; /* fc00::/7 unique local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return true; /* fe80::/10 link-local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return true; /* fec0::/10 site-local */
	if (b[0] == 0xff)
		return true; /* multicast */
	if (b[0] == 0x20 && b[1] == 0x02)
		return v4_forbidden(v4_at(b + 2)); /* 6to4 */
	return false;
}

bool nsh_net_addr_forbidden(const struct sockaddr *sa)
{
	if (!sa)
		return true;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return v4_forbidden(ntohl(in->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		return v6_forbidden(in6->sin6_addr.s6_addr);
	}
	return true;
}

int nsh_net_policy_build(struct nsh_net_policy *p, enum nsh_net_level level,
			 const struct nsh_strvec *allow, const char *allow_private,
			 struct nsh_err *err)
{
	const char *it;
	int rc;

	nsh_net_policy_release(p);
	nsh_net_policy_init(p, level);
	if (allow) {
		nsh_vec_foreach(it, allow) {
			rc = nsh_net_policy_add_allow(p, it, err);
			if (rc)
				return rc;
		}
	}
	if (level == NSH_NET_COMMON) {
		rc = nsh_net_policy_add_host_registries(p, NULL, NULL, err);
		if (rc)
			return rc;
	}
	if (allow_private && *allow_private) {
		char *list = nsh_xstrdup(allow_private), *save = NULL;

		rc = 0;
		for (char *hp = strtok_r(list, ", ", &save); hp && !rc;
		     hp = strtok_r(NULL, ", ", &save))
			rc = nsh_net_policy_add_allow_private(p, hp, err);
		free(list);
		if (rc)
			return rc;
	}
	return nsh_net_policy_validate(p, err);
}
