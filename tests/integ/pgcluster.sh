#!/bin/sh
# A throw-away PostgreSQL cluster for the queue tests and benchmark.
#
#   pgcluster.sh start DIR   initdb a cluster in DIR (which must not exist),
#                            start it on a free loopback port with its unix
#                            socket in DIR/sock, print the URL on stdout
#   pgcluster.sh stop DIR    stop the cluster and remove DIR
#
# The URL names the user 'nsh' with the password 'nsh-test-pw' and the
# database 'nightshift'; TCP connections need the password (scram-sha-256),
# so a wrong one fails as it would on a real server.
#
# Exit 3 with "skip: REASON" on stderr when no PostgreSQL server binaries are
# installed (/usr/lib/postgresql/*/bin), so callers can skip honestly. As
# root the server runs as 'nobody': postgres refuses to run as root.
set -u
cmd=${1:?usage: pgcluster.sh start|stop DIR}
dir=${2:?usage: pgcluster.sh start|stop DIR}

bin=
for d in /usr/lib/postgresql/*/bin; do
	[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && bin=$d
done

# as_pg CMD...: run CMD as the cluster's owner.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

case $cmd in
start)
	if [ -z "$bin" ]; then
		echo "skip: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2
		exit 3
	fi
	if [ -e "$dir" ]; then
		echo "pgcluster: '$dir' exists already" >&2
		exit 1
	fi
	mkdir -p "$dir/sock" || exit 1
	echo "nsh-test-pw" >"$dir/pw"
	[ "$(id -u)" = 0 ] && chown -R nobody "$dir"
	if ! as_pg "$bin/initdb" -D "$dir/data" -U nsh --pwfile="$dir/pw" \
		--no-sync --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
		>"$dir/initdb.log" 2>&1; then
		echo "pgcluster: initdb failed:" >&2
		tail -n 20 "$dir/initdb.log" >&2
		exit 1
	fi
	# Try a few random ports: another program may hold the first one.
	tries=0
	while :; do
		port=$(( ($(od -An -N2 -tu2 /dev/urandom) % 30000) + 20000 ))
		if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
			-o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c max_connections=60 ${PGCLUSTER_OPTS:-}" \
			>/dev/null 2>&1; then
			break
		fi
		tries=$((tries + 1))
		if [ "$tries" -ge 5 ]; then
			echo "pgcluster: postgres did not start:" >&2
			tail -n 20 "$dir/server.log" >&2
			exit 1
		fi
	done
	echo "$port" >"$dir/port"
	if ! "$bin/psql" -q -h "$dir/sock" -p "$port" -U nsh -d postgres \
		-c "CREATE DATABASE nightshift" >/dev/null 2>"$dir/psql.err"; then
		echo "pgcluster: creating the database failed:" >&2
		cat "$dir/psql.err" >&2
		exit 1
	fi
	echo "postgres://nsh:nsh-test-pw@127.0.0.1:$port/nightshift"
	;;
stop)
	if [ -n "$bin" ] && [ -d "$dir/data" ]; then
		as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: pgcluster.sh start|stop DIR" >&2
	exit 2
	;;
esac
