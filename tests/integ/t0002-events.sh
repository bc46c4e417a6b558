#!/bin/sh
# Four processes append events to one home at once while a fifth follows
# the log: the count is exact, ids strictly increase, no busy error
# escapes, and the follower sees every event exactly once.
. "$(dirname "$0")/lib.sh"
EV=$NSH_HELPERS/nsh-test-events
N=${NSH_TEST_EVENTS:-400}

test_expect_success 'four concurrent writers and a follower in a fifth process' '
	task=$($EV "$NIGHTSHIFT_HOME" create "event storm") || exit 1
	total=$((4 * N))
	$EV "$NIGHTSHIFT_HOME" follow "$task" $total 120000 >seen 2>follow.err &
	fpid=$!
	for w in 1 2 3 4; do
		$EV "$NIGHTSHIFT_HOME" append "$task" w$w $N 2>append$w.err &
		eval "p$w=\$!"
	done
	wait $p1 && wait $p2 && wait $p3 && wait $p4 &&
	wait $fpid &&
	cat append*.err follow.err &&
	test ! -s append1.err && test ! -s append2.err &&
	test ! -s append3.err && test ! -s append4.err &&
	test "$(nsh_sql "SELECT count(*) FROM events WHERE kind = '"'"'test'"'"'")" -eq $total &&
	for w in 1 2 3 4; do
		test "$(nsh_sql "SELECT count(DISTINCT json_extract(data, '"'"'$.seq'"'"')) FROM events WHERE json_extract(data, '"'"'$.writer'"'"') = '"'"'w$w'"'"'")" -eq $N || exit 1
	done &&
	test "$(wc -l <seen)" -eq $total &&
	cut -d" " -f1 seen >ids &&
	sort -n -c ids &&
	test "$(sort -n -u ids | wc -l)" -eq $total &&
	nsh_sql "SELECT id FROM events WHERE kind = '"'"'test'"'"' ORDER BY id" >db-ids &&
	cmp ids db-ids &&
	for w in 1 2 3 4; do
		grep " w$w " seen | cut -d" " -f3 >seq$w &&
		seq 0 $((N - 1)) >want &&
		cmp seq$w want || exit 1
	done
'

test_done
