#!/bin/sh
# Network levels from inside a real sandbox: traffic leaves only through
# nightshift's egress proxy, which decides on the host name, resolves it
# itself and refuses private targets; everything else fails closed.
. "$(dirname "$0")/lib.sh"

# A loopback web server on the host; its port goes to ./port.
web_start() {
	mkdir -p www && echo "hello from the host" >www/index.html
	python3 -c '
import http.server, socketserver, sys, os
os.chdir("www")
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
s = socketserver.TCPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()' >port &
	web_pid=$!
	for i in $(seq 50); do test -s port && break; sleep 0.1; done
	test -s port
}

# Run a command in a sandbox that reaches "localhost" through the proxy (the
# sandbox's own NO_PROXY would otherwise keep localhost on its loopback).
inside() {
	nsh sandbox run --env NO_PROXY= --env no_proxy= "$@"
}

test_expect_success 'an allowed host is reached through the proxy' '
	web_start || exit 1
	port=$(cat port)
	out=$(NIGHTSHIFT_NET_ALLOW_PRIVATE=localhost:$port inside --allow localhost -- \
		curl -sS http://localhost:$port/ 2>err)
	rc=$?
	kill $web_pid
	test $rc -eq 0 && test "$out" = "hello from the host" &&
	grep -q "private addresses allowed for .localhost:$port." err
'

test_expect_success 'a host outside the level gets a 403 naming the host and the level' '
	out=$(inside --network integration -- curl -sS -w " %{http_code}" http://example.org/ 2>err) &&
	test "$out" = "nightshift: '"'"'example.org'"'"' is not allowed at network level '"'"'integration'"'"'
 403" &&
	grep -q "blocked .example.org:80. at level .integration. (not in the allowlist)" err
'

test_expect_success 'an allowed name that resolves to a private address is refused (rebinding)' '
	web_start || exit 1
	port=$(cat port)
	out=$(inside --allow localhost -- curl -sS -w " %{http_code}" http://localhost:$port/ 2>err)
	kill $web_pid
	case "$out" in *"private address"*" 403") true ;; *) echo "got: $out"; false ;; esac
'

test_expect_success 'IP literals are refused at every level, open included' '
	for level in integration common open; do
		out=$(inside --network $level -- curl -sS -o /dev/null -w "%{http_code}" \
			http://93.184.216.34/ 2>/dev/null)
		test "$out" = 403 || { echo "$level: $out"; exit 1; }
	done
'

test_expect_success 'a CONNECT target that differs from the Host header is refused' '
	out=$(inside --network open -- python3 -c "
import socket
s = socket.create_connection((\"127.0.0.1\", 3128))
s.sendall(b\"CONNECT example.org:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n\")
print(s.recv(200).split(b\"\r\n\")[0].decode())") &&
	test "$out" = "HTTP/1.1 403 Forbidden"
'

test_expect_success 'direct connections, UDP DNS and IPv6 reach nothing at level open' '
	web_start || exit 1
	port=$(cat port)
	out=$(inside --network open -- python3 -c "
import socket, errno
def attempt(f):
    try:
        f(); return \"ok\"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print(attempt(lambda: socket.create_connection((\"127.0.0.1\", $port), timeout=2)))
print(attempt(lambda: socket.create_connection((\"93.184.216.34\", 80), timeout=2)))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print(attempt(lambda: u.sendto(b\"x\" * 12, (\"8.8.8.8\", 53))))
print(attempt(lambda: socket.create_connection((\"2001:db8::1\", 80), timeout=2)))
")
	kill $web_pid
	test "$(echo $out)" = "ECONNREFUSED ENETUNREACH ENETUNREACH ENETUNREACH" || { echo "got: $out"; false; }
'

test_expect_success 'npm install works at level common and is blocked at integration' '
	mkdir ws1 ws2 &&
	nsh sandbox run --network common --workspace "$PWD/ws1" -- sh -c \
		"npm init -y >/dev/null && npm install --no-audit --no-fund is-number@7.0.0 >/dev/null 2>&1" &&
	test -f ws1/node_modules/is-number/package.json &&
	! nsh sandbox run --network integration --workspace "$PWD/ws2" -- sh -c \
		"npm init -y >/dev/null && npm install --fetch-retries=0 is-number@7.0.0 >/dev/null 2>&1" 2>err &&
	! test -e ws2/node_modules/is-number &&
	grep -q "blocked .registry.npmjs.org:443. at level .integration." err
'

test_expect_success '--allow goes with custom only' '
	expect_code 2 nsh sandbox run --network common --allow x.org -- true 2>err &&
	grep -q "goes with network level .custom." err
'

test_done
