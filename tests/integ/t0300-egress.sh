#!/bin/sh
# The egress proxy driven by real clients: curl reaches an HTTPS server
# (openssl s_server with a certificate made here) through CONNECT when the
# policy allows it, and meets the proxy's refusals otherwise. Every server
# is started on 127.0.0.1 by the test and stopped by it.
. "$(dirname "$0")/lib.sh"
PROXY=$NSH_HELPERS/nsh-test-proxy
q="'"

# A missing tool is a failure, not a skip: these are on every Debian base.
for tool in curl openssl od; do
	command -v $tool >/dev/null || {
		echo "t0300: '$tool' is required"
		exit 1
	}
done

# start_tls: a self-signed certificate for localhost and an s_server on a
# free port; sets tls_port and tls_pid.
start_tls() {
	openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost -days 1 \
		-keyout key.pem -out cert.pem >openssl.log 2>&1 || return 1
	for try in 1 2 3 4 5 6 7 8 9 10; do
		tls_port=$(($(od -An -N2 -tu2 /dev/urandom) % 20000 + 30000))
		openssl s_server -accept 127.0.0.1:$tls_port -cert cert.pem -key key.pem -www \
			</dev/null >tls.out 2>&1 &
		tls_pid=$!
		for i in $(seq 1 50); do
			grep -q '^ACCEPT' tls.out && return 0
			kill -0 $tls_pid 2>/dev/null || break
			sleep 0.05
		done
		kill $tls_pid 2>/dev/null
		wait $tls_pid 2>/dev/null
	done
	echo "s_server did not start"
	cat tls.out
	return 1
}

# start_proxy LEVEL ARGS...: the proxy helper in the background, its events
# in the file "events"; sets proxy_port and proxy_pid.
start_proxy() {
	"$PROXY" "$@" >events 2>proxy.err &
	proxy_pid=$!
	for i in $(seq 1 100); do
		proxy_port=$(head -n 1 events)
		[ -n "$proxy_port" ] && return 0
		kill -0 $proxy_pid 2>/dev/null || break
		sleep 0.05
	done
	echo "proxy did not start"
	cat proxy.err
	return 1
}

# wait_end: wait (up to 10 s) for the end event of a tunnel, which comes once
# both sides have closed; the server may close a moment after curl returns.
wait_end() {
	for i in $(seq 1 200); do
		grep -q "^end" events && return 0
		sleep 0.05
	done
	return 0 # the checks that follow say what is missing
}

# stop_proxy: SIGTERM, then its exit status must be 0 (clean shutdown).
stop_proxy() {
	kill $proxy_pid && wait $proxy_pid
}

cleanup() {
	kill ${proxy_pid:-} ${tls_pid:-} 2>/dev/null
	wait 2>/dev/null
}

# pcurl ARGS...: curl through the proxy, never bypassing it for localhost.
pcurl() {
	curl -sS --max-time 10 --noproxy '' --proxy "http://127.0.0.1:$proxy_port" "$@"
}

test_expect_success 'HTTPS through CONNECT reaches an allowed host, certificate checked' '
	trap cleanup EXIT &&
	start_tls &&
	start_proxy custom --allow localhost --allow-private localhost:$tls_port &&
	pcurl --cacert cert.pem -o page "https://localhost:$tls_port/" &&
	grep -q "s_server -accept 127.0.0.1:$tls_port" page &&
	wait_end &&
	stop_proxy &&
	cat events &&
	grep -q "^decision allowed localhost $tls_port 0 127.0.0.1 private allowed (allow_private)\$" events &&
	grep -Eq "^end localhost $tls_port [1-9][0-9]* [1-9][0-9]* closed\$" events
'

test_expect_success 'without an allow_private entry localhost is refused as a private address' '
	trap cleanup EXIT &&
	start_tls &&
	start_proxy custom --allow localhost &&
	code=$(pcurl --cacert cert.pem -o /dev/null -w "%{http_connect}" \
		"https://localhost:$tls_port/" 2>curl.err; true) &&
	test "$code" = 403 &&
	stop_proxy &&
	cat events &&
	grep -q "^decision refused localhost $tls_port 403 127.0.0.1 - private address\$" events &&
	! grep -q "^end" events
'

test_expect_success 'a host outside the level gets 403 naming the host and the level' '
	trap cleanup EXIT &&
	start_proxy integration &&
	code=$(pcurl -o body -w "%{http_code}" http://evil.example/x) &&
	test "$code" = 403 &&
	echo "nightshift: ${q}evil.example${q} is not allowed at network level ${q}integration${q}" >want &&
	cmp body want &&
	code=$(pcurl -o /dev/null -w "%{http_connect}" https://evil.example/ 2>/dev/null; true) &&
	test "$code" = 403 &&
	stop_proxy &&
	test "$(grep -c "^decision refused evil.example .* not in the allowlist\$" events)" = 2
'

test_expect_success 'an IP literal is refused even at level open' '
	trap cleanup EXIT &&
	start_tls &&
	start_proxy open --allow-private localhost:$tls_port &&
	code=$(pcurl -k -o /dev/null -w "%{http_connect}" "https://127.0.0.1:$tls_port/" \
		2>/dev/null; true) &&
	test "$code" = 403 &&
	code=$(pcurl -o body -w "%{http_code}" "http://2130706433:$tls_port/") &&
	test "$code" = 403 &&
	grep -q "is an IP address" body &&
	pcurl --cacert cert.pem -o page "https://localhost:$tls_port/" &&
	stop_proxy &&
	test "$(grep -c " ip literal\$" events)" = 2
'

test_done
