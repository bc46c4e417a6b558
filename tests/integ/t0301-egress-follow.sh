#!/bin/sh
# Every decision of the egress proxy becomes an event of the job's log
# (through the network journal), and "nightshift follow" shows each refused
# host once per job. The commands run in a real sandbox (nsh-test-netjob);
# upstreams are loopback servers.
. "$(dirname "$0")/lib.sh"

NETJOB=$NSH_HELPERS/nsh-test-netjob

# A loopback web server; its port goes to ./port, each request it serves
# appends a line to ./hits.
web_start() {
	mkdir -p www && printf 'hello from the host\n' >www/index.html
	python3 -c '
import http.server, socketserver, os
os.chdir("www")
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        with open("../hits", "a") as f: f.write("hit\n")
s = socketserver.TCPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()' >port &
	web_pid=$!
	for i in $(seq 50); do test -s port && break; sleep 0.1; done
	test -s port
}

# netjob LEVEL [OPTIONS] -- CMD...: run CMD in a sandbox of a new task; the task id goes to ./task.
netjob() {
	"$NETJOB" "${NIGHTSHIFT_DB:-$NIGHTSHIFT_HOME/nightshift.db}" "$@" >netjob.out 2>netjob.err ||
		{ cat netjob.err; return 1; }
	head -1 netjob.out >task
}

# Events of KIND (net.blocked, ...) of the task in ./task, one JSON object per line.
events() {
	nsh follow --json "$(cat task)" | jq -c "select(.kind == \"$1\") | .data"
}

test_expect_success 'follow shows each blocked host once per job, with port and level' '
	web_start || exit 1
	port=$(cat port)
	netjob integration -- sh -c "
		curl -s -m 5 https://registry.npmjs.org/a; curl -s -m 5 https://registry.npmjs.org/b
		curl -s -m 5 http://localhost:$port/; curl -s -m 5 http://localhost:$port/
		curl -s -m 5 http://localhost:$port/index.html" &&
	kill $web_pid &&
	nsh follow "$(cat task)" >out &&
	cat out &&
	test "$(grep -c "blocked registry.npmjs.org:443 (level integration)$" out)" -eq 1 &&
	test "$(grep -c "demo/net: blocked localhost:$port (level integration)$" out)" -eq 1 &&
	test "$(grep -c blocked out)" -eq 2 &&
	! test -e hits &&
	events net.blocked >ev &&
	test "$(jq -s "map(.count) | add" ev)" -eq 5 &&
	jq -s -e "map(select(.host == \"registry.npmjs.org\")) | length > 0 and
		all(.port == 443 and .connect and .status == 403 and
		.level == \"integration\" and .reason == \"not in the allowlist\")" ev >/dev/null
'

test_expect_success 'a real npm install at level integration: the registry is reported blocked' '
	printf "{\"name\":\"t\",\"version\":\"1.0.0\",\"dependencies\":{\"is-number\":\"7.0.0\"}}\n" \
		>package.json &&
	mkdir -p netjob-ws && cp package.json netjob-ws/ &&
	netjob integration -- env npm_config_fetch_retries=0 npm_config_cache=/tmp/npm-cache \
		npm install --no-audit --no-fund --prefer-online &&
	nsh follow "$(cat task)" >out &&
	cat out &&
	test "$(grep -c "blocked registry.npmjs.org:443 (level integration)$" out)" -eq 1 &&
	! test -d netjob-ws/node_modules/is-number
'

test_expect_success 'an allowed connection is one event with its bytes, and follow stays quiet' '
	web_start || exit 1
	port=$(cat port)
	netjob open --allow-private localhost:$port -- \
		curl -s -m 5 -D /workspace/head -o /workspace/body http://localhost:$port/ &&
	kill $web_pid &&
	test "$(cat netjob-ws/body)" = "hello from the host" &&
	want=$(cat netjob-ws/head netjob-ws/body | wc -c) &&
	events net.allowed >ev &&
	cat ev &&
	test "$(wc -l <ev)" -eq 1 &&
	jq -e ".host == \"localhost\" and .port == $port and .level == \"open\" and
		.addr == \"127.0.0.1\" and .private_allowed and (.connect | not) and
		.bytes_down == $want and .bytes_up > 0 and .reason == \"closed\"" ev &&
	nsh follow "$(cat task)" >out &&
	! grep -q "localhost" out
'

test_expect_success 'a secret in a requested host name is redacted everywhere' '
	netjob integration --secret TOKEN=s3cr3t-host-4242 -- \
		curl -s -m 5 http://s3cr3t-host-4242.example.invalid/ &&
	nsh follow "$(cat task)" >out &&
	grep -q "blocked \[secret:TOKEN\].example.invalid:80 (level integration)" out &&
	! grep -q s3cr3t-host out &&
	! nsh_dump | grep -q s3cr3t-host
'

test_expect_success 'a flood of refusals is counted in full, and follow shows it once' '
	urls=$(for i in $(seq 300); do printf "http://flood.example/%s " $i; done) &&
	netjob integration -- sh -c "curl -s -m 30 $urls >/dev/null" &&
	events net.blocked >ev &&
	test "$(jq -s "map(.count) | add" ev)" -eq 300 &&
	nsh follow "$(cat task)" >out &&
	test "$(grep -c "blocked flood.example:80" out)" -eq 1
'

test_done
