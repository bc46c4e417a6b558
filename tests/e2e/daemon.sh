# Start and stop a "nightshift serve" for a test (sourced by
# tests/integ/t07*.sh). Needs NSH_BIN and NIGHTSHIFT_HOME.
#
#   nsh_daemon_start [SERVE-ARGS...]  listen on a free loopback port; sets
#                                     NSH_URL, NSH_TOKEN and NSH_DAEMON_PID
#   nsh_daemon_stop                   SIGTERM, and wait for it to exit

nsh_daemon_start() {
	"$NSH_BIN" serve --listen 127.0.0.1:0 "$@" >"$NIGHTSHIFT_HOME/daemon.log" 2>&1 &
	NSH_DAEMON_PID=$!
	n=0
	while [ ! -s "$NIGHTSHIFT_HOME/serve.json" ]; do
		n=$((n + 1))
		if [ "$n" -gt 600 ] || ! kill -0 "$NSH_DAEMON_PID" 2>/dev/null; then
			echo "daemon did not start:" >&2
			cat "$NIGHTSHIFT_HOME/daemon.log" >&2
			return 1
		fi
		sleep 0.05
	done
	NSH_URL=$(jq -r .url "$NIGHTSHIFT_HOME/serve.json")
	NSH_TOKEN=$(cat "$NIGHTSHIFT_HOME/token")
	export NSH_URL NSH_TOKEN NSH_DAEMON_PID
}

nsh_daemon_stop() {
	[ -n "${NSH_DAEMON_PID:-}" ] || return 0
	kill -TERM "$NSH_DAEMON_PID" 2>/dev/null
	wait "$NSH_DAEMON_PID"
	rc=$?
	NSH_DAEMON_PID=
	return $rc
}
