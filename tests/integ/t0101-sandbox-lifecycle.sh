#!/bin/sh
# Nothing survives its supervisor: when nightshift dies mid-command, the
# sandbox's processes die with it, and what the crash left on the host
# (cgroups, the quota image's mount and loop device) is removed by the
# next start.
. "$(dirname "$0")/lib.sh"

# wait_for COMMAND...: up to 5 s for COMMAND to succeed.
wait_for() {
	for i in $(seq 50); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# The host pid of the process running "sleep 3<TAG>" inside a sandbox.
sleeper() {
	pgrep -f "^sleep $1\$" | head -n 1 | grep .
}

# Cgroup directories left for sandboxes of owner $1 in any hierarchy.
cgroups_of() {
	find /sys/fs/cgroup -maxdepth 6 -type d -path "*/nightshift/$1.*" 2>/dev/null
}

test_expect_success 'killing nightshift kills the sandbox; the next start removes its cgroups' '
	tag=$$$(date +%N | cut -c1-4)
	"$NSH_BIN" sandbox run --pids 32 -- sleep 3$tag &
	nsh_pid=$!
	wait_for sleeper 3$tag || exit 1
	victim=$(sleeper 3$tag)
	test -n "$(cgroups_of $nsh_pid)" || { echo "no cgroup for $nsh_pid"; exit 1; }
	kill -9 $nsh_pid
	wait $nsh_pid 2>/dev/null
	wait_for sh -c "! kill -0 $victim 2>/dev/null" || { echo "sandbox survived"; exit 1; }
	# A dead process removes nothing: when the cgroups are already gone,
	# the start-up of a nightshift run by another test program (tests/run.sh
	# runs several at once) took them, which is what this checks.
	nsh sandbox run -- true &&
	test -z "$(cgroups_of $nsh_pid)"
'

test_expect_success 'a crash leaves the quota image mounted; the next start unmounts it' '
	tag=$$$(date +%N | cut -c1-4)
	"$NSH_BIN" sandbox run --disk 16M -- sleep 4$tag &
	nsh_pid=$!
	wait_for sleeper 4$tag || exit 1
	kill -9 $nsh_pid
	wait $nsh_pid 2>/dev/null
	grep -q "$NIGHTSHIFT_HOME/work" /proc/self/mountinfo || { echo "no stale mount (test proves nothing)"; exit 1; }
	nsh sandbox run -- true &&
	! grep -q "$NIGHTSHIFT_HOME/work" /proc/self/mountinfo &&
	! grep -qs "$NIGHTSHIFT_HOME/work" /sys/block/loop*/loop/backing_file
'

test_expect_success 'a finished run leaves no cgroup, mount or loop device behind' '
	"$NSH_BIN" sandbox run --memory 64M --pids 32 --disk 16M -- sh -c "echo hi >/workspace/x" &
	pid=$! &&
	wait $pid &&
	test -z "$(cgroups_of $pid)" &&
	! grep -q "$NIGHTSHIFT_HOME/work" /proc/self/mountinfo &&
	! grep -qs "$NIGHTSHIFT_HOME/work" /sys/block/loop*/loop/backing_file &&
	test -z "$(ls "$NIGHTSHIFT_HOME/work")"
'

# --- the pool of prepared sandboxes (NSH_SANDBOX_POOL asks the CLI for one) ---

test_expect_success 'a sandbox from the pool gets its workspace and limits, and leaves nothing' '
	mkdir -p ws &&
	NSH_SANDBOX_POOL=2 "$NSH_BIN" --log-level debug sandbox run --memory 64M --pids 16 \
		--workspace "$PWD/ws" -- sh -c "echo hi >/workspace/x && cat /workspace/x &&
		for i in \$(seq 40); do sleep 3 & done 2>/dev/null; echo forked" >out 2>err &
	pid=$!
	# the pids limit stops the loop: the shell cannot fork and fails
	wait $pid
	test $? -ne 0 &&
	grep -q "taken from the pool" err &&
	test "$(cat ws/x)" = hi && test "$(cat out)" = hi &&
	test -z "$(cgroups_of $pid)" &&
	test -z "$(ls "$NIGHTSHIFT_HOME/work")"
'

test_expect_success 'a pooled sandbox that cannot finish says so at its first command' '
	mkdir -p ws &&
	# FINISH goes without waiting for READY: the failure comes with the command
	NSH_SANDBOX_POOL=2 NIGHTSHIFT_FAULT=sandbox.finish "$NSH_BIN" --log-level debug \
		sandbox run --workspace "$PWD/ws" -- sh -c "echo ran >/workspace/ran" >out 2>err
	test $? -ne 0 &&
	grep -q "taken from the pool" err &&
	grep -q "cannot build the sandbox: mounting /workspace: Bad file descriptor" err &&
	test ! -e ws/ran &&
	test -z "$(ls "$NIGHTSHIFT_HOME/work")"
'

test_expect_success 'killing nightshift kills its pooled sandboxes, in use and prepared' '
	tag=$$$(date +%N | cut -c1-4)
	NSH_SANDBOX_POOL=2 "$NSH_BIN" sandbox run -- sleep 6$tag &
	nsh_pid=$!
	wait_for sleeper 6$tag || exit 1
	victim=$(sleeper 6$tag)
	# the one in use and the refilled ones
	wait_for sh -c "test \$(find /sys/fs/cgroup/unified -maxdepth 4 -type d \
		-path \"*/nightshift/$nsh_pid.pool-*\" | wc -l) -ge 3" || { echo "pool not refilled"; exit 1; }
	inits=$(cat $(find /sys/fs/cgroup/unified -maxdepth 4 -type d \
		-path "*/nightshift/$nsh_pid.pool-*" | sed "s,\$,/cgroup.procs,"))
	test -n "$inits" || { echo "no pooled init"; exit 1; }
	kill -9 $nsh_pid
	wait $nsh_pid 2>/dev/null
	wait_for sh -c "! kill -0 $victim 2>/dev/null" || { echo "sandbox survived"; exit 1; }
	for p in $inits; do
		wait_for sh -c "! kill -0 $p 2>/dev/null" || { echo "pooled init $p survived"; exit 1; }
	done
	nsh sandbox run -- true &&
	test -z "$(cgroups_of $nsh_pid)"
'

test_expect_success 'sandbox probe reports this host and the guarantees that follow' '
	nsh sandbox probe >out &&
	grep -q "^userns *yes" out && grep -q "^  memory_limit *enforced" out &&
	nsh sandbox probe --json >out.json &&
	grep -q "\"guarantees\"" out.json &&
	grep -q "\"landlock_abi\": *[1-9]" out.json &&
	grep -q "\"memory_limit\": \"enforced" out.json
'

test_done
