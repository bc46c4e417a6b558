#!/bin/sh
# The shared job queue on PostgreSQL (src/store/pgqueue.c) with several
# worker processes (tests/helpers/nsh-test-pgq.c) against a real server this
# script starts on loopback (tests/integ/pgcluster.sh) and removes at the end:
# three workers share one queue and do every job exactly once; a worker
# killed with SIGKILL while holding a lease loses the job to another worker
# after the lease runs out, which resumes after the last completed step;
# a worker asleep on LISTEN wakes when a job is enqueued.
#
# Without the PostgreSQL server binaries every check is reported as
# skipped, never as passed.
nsh_own_pg=1 # starts its own clusters, whatever NSH_TEST_DB says
. "$(dirname "$0")/lib.sh"

PGQ=$NSH_HELPERS/nsh-test-pgq
PGDIR=$(mktemp -u "${TMPDIR:-/tmp}/nsh-pg-XXXXXX")
trap 'sh "$NSH_TOP/tests/integ/pgcluster.sh" stop "$PGDIR"; t_cleanup' EXIT

URL=$(sh "$NSH_TOP/tests/integ/pgcluster.sh" start "$PGDIR" 2>"$T_TRASH/pg.err")
case $? in
0) ;;
3)
	why=$(sed 's/^skip: //' "$T_TRASH/pg.err")
	test_skip 'three workers do every job of one queue exactly once' "$why"
	test_skip 'a killed worker'"'"'s job resumes on another after its lease' "$why"
	test_skip 'LISTEN/NOTIFY wakes a waiting worker' "$why"
	test_done
	exit $?
	;;
*)
	cat "$T_TRASH/pg.err" >&2
	echo "postgresql did not start" >&2
	exit 1
	;;
esac
export URL PGQ

# wait_for FILE PATTERN: until a line of FILE matches PATTERN (30 s at most).
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 300 ] || { echo "timed out waiting for '$2' in $1" >&2; return 1; }
		sleep 0.1
	done
}

test_expect_success 'three workers do every job of one queue exactly once' '
	"$PGQ" "$URL" enqueue b 300 || exit 1
	"$PGQ" "$URL" work b w1 2 30000 >out.1 &
	p1=$!
	"$PGQ" "$URL" work b w2 2 30000 >out.2 &
	p2=$!
	"$PGQ" "$URL" work b w3 2 30000 >out.3 &
	p3=$!
	wait $p1 && wait $p2 && wait $p3 &&
	cat out.1 out.2 out.3 | grep "^did " >did &&
	test "$(wc -l <did)" -eq 600 &&
	awk "{ print \$2, \$3 }" did | sort | uniq -d >dups &&
	test ! -s dups &&
	"$PGQ" "$URL" jobs b >jobs &&
	test "$(wc -l <jobs)" -eq 300 &&
	awk "\$2 != \"done\" || \$3 != \"s2\" || \$4 != 1" jobs >bad &&
	test ! -s bad &&
	"$PGQ" "$URL" events b | awk "\$2 == \"done\"" >done &&
	test "$(wc -l <done)" -eq 300 &&
	# the work was shared: at least two workers completed jobs
	test "$(awk "{ print \$4 }" done | sort -u | wc -l)" -ge 2 &&
	for w in w1 w2 w3; do echo "$w: $(grep -c " $w\$" done) jobs"; done
'

test_expect_success 'a killed worker'"'"'s job resumes on another after its lease' '
	"$PGQ" "$URL" enqueue c 12 || exit 1
	"$PGQ" "$URL" work c wA 3 1000 1 >out.A 2>err.A &
	pa=$!
	wait_for out.A "^stalled " &&
	job=$(awk "/^stalled/ { print \$2 }" out.A) &&
	kill -9 $pa && { wait $pa; test $? -eq 137; } &&
	# the dead worker still holds its lease for up to a second
	"$PGQ" "$URL" jobs c | awk -v j=$job "\$1 == j" >held &&
	grep -q " running s1 1 wA\$" held || exit 1
	"$PGQ" "$URL" work c wB 3 1000 >out.B &
	pb=$!
	"$PGQ" "$URL" work c wC 3 1000 >out.C &
	pc=$!
	wait $pb && wait $pc &&
	"$PGQ" "$URL" jobs c >jobs &&
	test "$(awk "\$2 == \"done\" && \$3 == \"s3\"" jobs | wc -l)" -eq 12 &&
	# the stalled job was claimed twice and finished by another worker
	awk -v j=$job "\$1 == j" jobs >mine &&
	grep -Eq " done s3 2 w[BC]\$" mine &&
	# nothing done twice: 3 steps of 12 jobs, each once, s1 of that job by wA
	cat out.A out.B out.C | grep "^did " >did &&
	test "$(wc -l <did)" -eq 36 &&
	awk "{ print \$2, \$3 }" did | sort | uniq -d >dups &&
	test ! -s dups &&
	grep -q "^did $job s1 wA\$" did &&
	grep -Eq "^did $job s2 w[BC]\$" did &&
	"$PGQ" "$URL" events c | awk -v j=$job "\$1 == j" >ev &&
	cat ev &&
	test "$(awk "\$2 == \"step\"" ev | wc -l)" -eq 3 &&
	test "$(awk "\$2 == \"done\"" ev | wc -l)" -eq 1
'

test_expect_success 'LISTEN/NOTIFY wakes a waiting worker' '
	"$PGQ" "$URL" listen d wL 30000 >out.L &
	pl=$!
	wait_for out.L "^listening" &&
	"$PGQ" "$URL" enqueue d 1 &&
	wait $pl &&
	cat out.L &&
	ms=$(awk "/^woken d / { print \$3 }" out.L) &&
	# woken by the notification, well before its 30 s timeout
	test -n "$ms" && test "$ms" -lt 10000 &&
	grep -q "^done " out.L &&
	"$PGQ" "$URL" jobs d | grep -q " done - 1 wL\$"
'

test_done
