/*
 * Tests for the egress policy: what each network level lets a sandbox
 * reach, how allow patterns match and are checked, that IP literals in any
 * spelling are refused, which addresses are never connected to, and which
 * registries the host's npm and pip configuration add.
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "core/err.h"
#include "core/fs.h"
#include "core/vec.h"
#include "test.h"

#include "core/banned.h"

static void test_levels(void)
{
	struct nsh_net_policy p;

	nsh_net_policy_init(&p, NSH_NET_NONE);
	CHECK(!nsh_net_policy_allows(&p, "github.com"));
	CHECK_STR(nsh_net_policy_refusal(&p, "github.com"), "network level none");

	p.level = NSH_NET_INTEGRATION;
	CHECK(nsh_net_policy_allows(&p, "github.com"));
	CHECK(nsh_net_policy_allows(&p, "api.github.com"));
	CHECK(nsh_net_policy_allows(&p, "codeload.github.com"));
	CHECK(nsh_net_policy_allows(&p, "objects.githubusercontent.com"));
	CHECK(!nsh_net_policy_allows(&p, "registry.npmjs.org"));
	CHECK(!nsh_net_policy_allows(&p, "gist.github.com")); /* exact names, no wildcard */
	CHECK(!nsh_net_policy_allows(&p, "evilgithub.com"));
	CHECK(!nsh_net_policy_allows(&p, "github.com.evil.example"));
	CHECK_STR(nsh_net_policy_refusal(&p, "evil.example"), "not in the allowlist");

	p.level = NSH_NET_COMMON;
	CHECK(nsh_net_policy_allows(&p, "github.com"));
	const char *const regs[] = {
		"registry.npmjs.org",	  "pypi.org",
		"files.pythonhosted.org", "repo1.maven.org",
		"repo.maven.apache.org",  "crates.io",
		"static.crates.io",	  "index.crates.io",
		"proxy.golang.org",	  "sum.golang.org",
	};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		CHECK(nsh_net_policy_allows(&p, regs[i]));
	CHECK(!nsh_net_policy_allows(&p, "evil.example"));
	CHECK(!nsh_net_policy_allows(&p, "npmjs.org"));

	p.level = NSH_NET_OPEN;
	CHECK(nsh_net_policy_allows(&p, "evil.example"));
	CHECK(nsh_net_policy_allows(&p, "localhost")); /* the address check refuses it later */
	CHECK(!nsh_net_policy_allows(&p, "127.0.0.1"));
	CHECK(!nsh_net_policy_allows(&p, "bad host"));
	CHECK(!nsh_net_policy_allows(&p, ""));
	CHECK_STR(nsh_net_policy_refusal(&p, "a..b"), "invalid host name");

	p.level = NSH_NET_CUSTOM;
	CHECK(!nsh_net_policy_allows(&p, "github.com")); /* custom is the allowlist alone */
	CHECK(nsh_net_policy_add_allow(&p, "example.com", NULL) == 0);
	CHECK(nsh_net_policy_allows(&p, "example.com"));
	CHECK(!nsh_net_policy_allows(&p, "www.example.com"));
	nsh_net_policy_release(&p);
}

static void test_wildcards_case_dots(void)
{
	struct nsh_net_policy p;

	nsh_net_policy_init(&p, NSH_NET_CUSTOM);
	CHECK(nsh_net_policy_add_allow(&p, "*.Example.COM.", NULL) == 0);
	CHECK_STR(p.allow.v[0], "*.example.com"); /* normalised on the way in */
	CHECK(nsh_net_policy_allows(&p, "sub.example.com"));
	CHECK(nsh_net_policy_allows(&p, "a.b.example.com"));
	CHECK(nsh_net_policy_allows(&p, "A.B.EXAMPLE.COM."));
	CHECK(!nsh_net_policy_allows(&p, "example.com"));
	CHECK(!nsh_net_policy_allows(&p, "badexample.com"));
	CHECK(!nsh_net_policy_allows(&p, "example.com.evil"));
	CHECK(!nsh_net_policy_allows(&p, ".example.com"));
	CHECK(!nsh_net_policy_allows(&p, "sub.example.com.."));

	CHECK(nsh_net_policy_add_allow(&p, "Pkg.Dev", NULL) == 0);
	CHECK(nsh_net_policy_allows(&p, "pkg.dev"));
	CHECK(nsh_net_policy_allows(&p, "PKG.DEV."));
	CHECK(!nsh_net_policy_allows(&p, "x.pkg.dev"));

	/* entries pushed directly are matched the same way */
	nsh_strvec_push(&p.forge_hosts, "Git.Example.ORG.");
	p.level = NSH_NET_INTEGRATION;
	CHECK(nsh_net_policy_allows(&p, "git.example.org"));
	CHECK(nsh_net_policy_allows(&p, "GIT.example.org."));
	nsh_net_policy_release(&p);
}

static void test_bad_patterns(void)
{
	static const char *const bad[] = {
		"",
		"*",
		"*.",
		"**.example.com",
		"a.*.com",
		"*example.com",
		"example.*",
		"1.2.3.4",
		"[::1]",
		"::1",
		"example.com:443",
		"a..b",
		"-bad\x01",
		"with space.com",
		"x/y",
		"*.10",
		"2130706433",
		"0x7f.1",
	};
	struct nsh_net_policy p;
	struct nsh_err err = NSH_ERR_INIT;

	nsh_net_policy_init(&p, NSH_NET_CUSTOM);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[128];

		snprintf(want, sizeof(want), "invalid allow pattern '%s'", bad[i]);
		CHECK_INT(nsh_net_policy_add_allow(&p, bad[i], &err), NSH_EINVAL);
		if (strncmp(err.msg, want, strlen(want)))
			fprintf(stderr, "pattern '%s': message '%s'\n", bad[i], err.msg);
		CHECK(!strncmp(err.msg, want, strlen(want)));
	}
	CHECK_INT(p.allow.nr, 0);
	CHECK_INT(nsh_net_policy_add_allow(&p, "example.com:443", &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "ports are not part of a pattern") != NULL);
	CHECK_INT(nsh_net_policy_add_allow(&p, "10.0.0.1", &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "ip literal") != NULL);

	/* directly pushed bad entries are caught by validate */
	nsh_strvec_push(&p.allow, "a.*.b");
	CHECK_INT(nsh_net_policy_validate(&p, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "invalid allow pattern 'a.*.b': '*' is only allowed as a leading '*.'");
	nsh_strvec_pop(&p.allow);
	CHECK_INT(nsh_net_policy_validate(&p, &err), 0);
	nsh_strvec_push(&p.allow_private, "localhost");
	CHECK_INT(nsh_net_policy_validate(&p, &err), NSH_EINVAL);
	CHECK(!strncmp(err.msg, "invalid allow_private entry 'localhost'", 39));
	nsh_net_policy_release(&p);
}

static void test_ip_literals(void)
{
	static const char *const lits[] = {
		"127.0.0.1",
		"127.0.0.1.",
		"2130706433",
		"0x7f000001",
		"0x7f.1",
		"127.1",
		"017700000001",
		"0177.0.0.1",
		"[::1]",
		"::1",
		"[::ffff:127.0.0.1]",
		"::ffff:7f00:1",
		"1.2.3.4",
		"0",
		"0x",
		"foo.0x10",
		"foo.123",
		"169.254.169.254",
		"[fe80::1%25eth0]",
	};
	static const char *const names[] = {
		"example.com", "1password.com", "x1.y2",     "0x.example",
		"a.b.c1",      "123abc.com",	"localhost",
	};
	enum nsh_net_level levels[] = {NSH_NET_NONE, NSH_NET_INTEGRATION, NSH_NET_COMMON,
				       NSH_NET_OPEN, NSH_NET_CUSTOM};
	struct nsh_net_policy p;

	nsh_net_policy_init(&p, NSH_NET_OPEN);
	nsh_strvec_push(&p.allow, "*.0x10"); /* even a bad entry cannot let one through */
	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		if (!nsh_net_is_ip_literal(lits[i]))
			fprintf(stderr, "not seen as an IP literal: '%s'\n", lits[i]);
		CHECK(nsh_net_is_ip_literal(lits[i]));
		for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
			p.level = levels[l];
			CHECK(!nsh_net_policy_allows(&p, lits[i]));
		}
		p.level = NSH_NET_OPEN;
		CHECK_STR(nsh_net_policy_refusal(&p, lits[i]), "ip literal");
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		CHECK(!nsh_net_is_ip_literal(names[i]));
		CHECK(nsh_net_policy_allows(&p, names[i]));
	}
	nsh_net_policy_release(&p);
}

static void test_normalize(void)
{
	struct nsh_err err = NSH_ERR_INIT;
	char *n = NULL;

	CHECK_INT(nsh_net_host_normalize(nsh_str_from("WWW.Example.COM."), &n, &err), 0);
	CHECK_STR(n, "www.example.com");
	free(n);
	CHECK_INT(nsh_net_host_normalize(nsh_str_from("0x7f.1"), &n, &err), NSH_EINVAL);
	CHECK_STR(err.msg, "invalid host name '0x7f.1': ip literal");
	CHECK_INT(nsh_net_host_normalize(nsh_str_from("a_b.example"), &n, &err), 0);
	free(n);
	char longlabel[80];

	memset(longlabel, 'a', 64);
	memcpy(longlabel + 64, ".com", 5);
	CHECK_INT(nsh_net_host_normalize(nsh_str_from(longlabel), &n, &err), NSH_EINVAL);
	CHECK(strstr(err.msg, "label longer than 63 bytes") != NULL);
}

static void test_allow_private(void)
{
	struct nsh_net_policy p;
	struct nsh_err err = NSH_ERR_INIT;

	nsh_net_policy_init(&p, NSH_NET_CUSTOM);
	CHECK_INT(p.allow_private.nr, 0); /* off by default */
	CHECK(!nsh_net_policy_private_ok(&p, "localhost", 8080));
	CHECK_INT(nsh_net_policy_add_allow_private(&p, "LocalHost.:8080", &err), 0);
	CHECK_STR(p.allow_private.v[0], "localhost:8080");
	CHECK(nsh_net_policy_private_ok(&p, "localhost", 8080));
	CHECK(nsh_net_policy_private_ok(&p, "LOCALHOST.", 8080));
	CHECK(!nsh_net_policy_private_ok(&p, "localhost", 8081));
	CHECK(!nsh_net_policy_private_ok(&p, "localhost.example", 8080));
	static const char *const bad[] = {
		"localhost",	"localhost:", "localhost:0", "localhost:65536", ":80",
		"127.0.0.1:80", "*.x.com:80", "a b:1",	     "localhost:08x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(nsh_net_policy_add_allow_private(&p, bad[i], &err), NSH_EINVAL);
		CHECK(strstr(err.msg, "invalid allow_private entry") != NULL);
	}
	CHECK_INT(p.allow_private.nr, 1);

	struct nsh_net_policy q;

	nsh_net_policy_copy(&q, &p);
	nsh_net_policy_release(&p);
	CHECK(nsh_net_policy_private_ok(&q, "localhost", 8080));
	CHECK_INT(q.level, NSH_NET_CUSTOM);
	CHECK_INT(q.forge_hosts.nr, 4);
	nsh_net_policy_release(&q);
}

static bool forbidden4(const char *a)
{
	struct sockaddr_in in = {.sin_family = AF_INET};

	if (inet_pton(AF_INET, a, &in.sin_addr) != 1)
		abort();
	return nsh_net_addr_forbidden((struct sockaddr *)&in);
}

static bool forbidden6(const char *a)
{
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

	if (inet_pton(AF_INET6, a, &in6.sin6_addr) != 1)
		abort();
	return nsh_net_addr_forbidden((struct sockaddr *)&in6);
}

static void test_forbidden_ranges(void)
{
	/* first and last of each range, and the neighbours just outside */
	static const char *const bad4[] = {
		"0.0.0.0",     "0.255.255.255",	  "10.0.0.0",	 "10.255.255.255",
		"100.64.0.0",  "100.127.255.255", "127.0.0.1",	 "127.255.255.254",
		"169.254.0.1", "169.254.169.254", "172.16.0.0",	 "172.31.255.255",
		"192.0.0.0",   "192.0.0.255",	  "192.168.0.1", "192.168.255.255",
		"198.18.0.0",  "198.19.255.255",  "224.0.0.1",	 "239.255.255.255",
		"240.0.0.1",   "255.255.255.255",
	};
	static const char *const ok4[] = {
		"1.1.1.1",	   "9.255.255.255",   "11.0.0.0",	"100.63.255.255",
		"100.128.0.0",	   "126.255.255.255", "128.0.0.0",	"169.253.255.255",
		"169.255.0.0",	   "172.15.255.255",  "172.32.0.0",	"192.0.1.0",
		"192.167.255.255", "192.169.0.0",     "198.17.255.255", "198.20.0.0",
		"223.255.255.255", "203.0.113.80",    "8.8.8.8",
	};
	static const char *const bad6[] = {
		"::",
		"::1",
		"::127.0.0.1",
		"::ffff:127.0.0.1",
		"::ffff:10.1.2.3",
		"::ffff:169.254.169.254",
		"::ffff:0.0.0.0",
		"64:ff9b::7f00:1",
		"64:ff9b::a9fe:a9fe",
		"64:ff9b:1::1",
		"fc00::1",
		"fdff:ffff::1",
		"fe80::1",
		"febf::1",
		"fec0::1",
		"ff02::1",
		"100::1",
		"2002:7f00:1::1",
		"2002:a9fe:a9fe::",
	};
	static const char *const ok6[] = {
		"2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808",
		"2002:808:808::1",	"fbff::1",	  "fe7f::1",
		"2606:4700::1111",
	};
	struct sockaddr_un un = {.sun_family = AF_UNIX};

	for (size_t i = 0; i < sizeof(bad4) / sizeof(bad4[0]); i++) {
		if (!forbidden4(bad4[i]))
			fprintf(stderr, "allowed but forbidden: %s\n", bad4[i]);
		CHECK(forbidden4(bad4[i]));
	}
	for (size_t i = 0; i < sizeof(ok4) / sizeof(ok4[0]); i++) {
		if (forbidden4(ok4[i]))
			fprintf(stderr, "forbidden but public: %s\n", ok4[i]);
		CHECK(!forbidden4(ok4[i]));
	}
	for (size_t i = 0; i < sizeof(bad6) / sizeof(bad6[0]); i++) {
		if (!forbidden6(bad6[i]))
			fprintf(stderr, "allowed but forbidden: %s\n", bad6[i]);
		CHECK(forbidden6(bad6[i]));
	}
	for (size_t i = 0; i < sizeof(ok6) / sizeof(ok6[0]); i++) {
		if (forbidden6(ok6[i]))
			fprintf(stderr, "forbidden but public: %s\n", ok6[i]);
		CHECK(!forbidden6(ok6[i]));
	}
	CHECK(nsh_net_addr_forbidden((struct sockaddr *)&un));
	CHECK(nsh_net_addr_forbidden(NULL));
}

static void put(const char *dir, const char *rel, const char *text)
{
	char *path = NULL, *slash;

	if (asprintf(&path, "%s/%s", dir, rel) < 0)
		abort();
	slash = strrchr(path, '/');
	*slash = '\0';
	if (nsh_fs_mkdir_p(path, 0755, NULL))
		abort();
	*slash = '/';
	if (nsh_fs_write_atomic(path, text, strlen(text), 0644, NULL))
		abort();
	free(path);
}

static void test_host_registries(void)
{
	char *home = t_tmpdir(), *root = t_tmpdir();
	struct nsh_err err = NSH_ERR_INIT;
	struct nsh_net_policy p;
	size_t before;

	nsh_net_policy_init(&p, NSH_NET_COMMON);
	before = p.registry_hosts.nr;
	/* nothing configured: nothing added */
	CHECK_INT(nsh_net_policy_add_host_registries(&p, home, root, &err), 0);
	CHECK_INT(p.registry_hosts.nr, before);

	put(home, ".npmrc",
	    "; comment\nregistry=https://npm.corp.example/repo/\n"
	    "@acme:registry = \"https://user:pw@Npm.Acme.Example:8443/\"\n"
	    "//npm.corp.example/:_authToken=${TOKEN}\n"
	    "@env:registry=${REG}\nregistry=http://10.0.0.5/\n# registry=https://commented.example/\n");
	put(root, "etc/npmrc", "registry=https://registry.npmjs.org/\n");
	put(root, "usr/etc/npmrc", "registry = https://usr-etc.example/\n");
	put(home, ".config/pip/pip.conf",
	    "[global]\nindex-url = https://pypi.corp.example/simple\n"
	    "extra-index-url =\n    https://extra1.example/simple\n\thttps://extra2.example/s "
	    "https://extra3.example/\ntimeout = 60\n    https://not-a-url-key.example/\n");
	put(home, ".pip/pip.conf", "[install]\nindex_url: https://legacy.example/\n");
	put(root, "etc/pip.conf",
	    "[global]\nextra-index-url=https://[::1]:8080/ ftp://ftp.example/\n");
	put(root, "etc/xdg/pip/pip.conf", "[global]\nindex-url=https://xdg.example/\n");

	CHECK_INT(nsh_net_policy_add_host_registries(&p, home, root, &err), 0);
	static const char *const want[] = {
		"npm.corp.example",  "npm.acme.example", "usr-etc.example",
		"pypi.corp.example", "extra1.example",	 "extra2.example",
		"extra3.example",    "legacy.example",	 "xdg.example",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (nsh_strvec_find(&p.registry_hosts, want[i]) < 0)
			fprintf(stderr, "missing registry '%s'\n", want[i]);
		CHECK(nsh_strvec_find(&p.registry_hosts, want[i]) >= 0);
		CHECK(nsh_net_policy_allows(&p, want[i]));
	}
	CHECK_INT(p.registry_hosts.nr, before + sizeof(want) / sizeof(want[0]));
	CHECK(nsh_strvec_find(&p.registry_hosts, "not-a-url-key.example") < 0);
	CHECK(nsh_strvec_find(&p.registry_hosts, "commented.example") < 0);
	CHECK(nsh_strvec_find(&p.registry_hosts, "ftp.example") < 0);
	CHECK_INT(nsh_net_policy_validate(&p, &err), 0);

	/* an unreadable file is an error naming it (root reads anything: use a directory) */
	put(home, ".pip/x", "");
	char *path = NULL;

	if (asprintf(&path, "%s/.npmrc", home) < 0)
		abort();
	remove(path);
	nsh_fs_mkdir_p(path, 0755, NULL);
	CHECK(nsh_net_policy_add_host_registries(&p, home, root, &err) != 0);
	CHECK(strstr(err.msg, ".npmrc") != NULL);
	free(path);

	nsh_net_policy_release(&p);
	nsh_fs_remove_tree(home, NULL);
	nsh_fs_remove_tree(root, NULL);
	free(home);
	free(root);
}

int main(void)
{
	RUN(test_levels);
	RUN(test_wildcards_case_dots);
	RUN(test_bad_patterns);
	RUN(test_ip_literals);
	RUN(test_normalize);
	RUN(test_allow_private);
	RUN(test_forbidden_ranges);
	RUN(test_host_registries);
	return TEST_DONE();
}
