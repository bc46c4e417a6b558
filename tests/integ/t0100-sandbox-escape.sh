#!/bin/sh
# The sandbox escape suite: every attack must meet its specific denial (an
# errno, a signal or the absence of any effect on the host), and every
# positive twin must work, so that a sandbox that denies everything fails.
. "$(dirname "$0")/lib.sh"

ATTACK=$NSH_TOP/build/plain/tests/sandbox/nsh-attack

# A workspace holding the attack program, in the test's directory.
ws_init() {
	mkdir -p ws && cp "$ATTACK" ws/nsh-attack
}

# attack WANT NAME [ARG] [-- sandbox options]: run one attack, compare its word.
attack() {
	want=$1
	shift
	name=$1
	arg=${2:-}
	got=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack "$name" "$arg") || {
		echo "attack '$name' did not run (exit $?)"
		return 1
	}
	if [ "$got" != "$want" ]; then
		echo "attack '$name $arg': got '$got', want '$want'"
		return 1
	fi
}

# --- the nightshift home, keys and other jobs ---

test_skip_pg "reads the home's SQLite file from the sandbox"
test_expect_success 'the store and keys under NIGHTSHIFT_HOME are out of reach' '
	ws_init &&
	home=$(mktemp -d /var/tmp/nsh-home-XXXXXX) &&
	trap "rm -rf $home" EXIT &&
	NIGHTSHIFT_HOME=$home nsh tasks >/dev/null &&
	echo secret >"$home/master.key" &&
	test -f "$home/nightshift.db" &&
	out=$(NIGHTSHIFT_HOME=$home nsh sandbox run --workspace "$PWD/ws" -- \
		/workspace/nsh-attack read "$home/nightshift.db") &&
	test "$out" = EACCES -o "$out" = ENOENT &&
	out=$(NIGHTSHIFT_HOME=$home nsh sandbox run --workspace "$PWD/ws" -- \
		/workspace/nsh-attack read "$home/master.key") &&
	test "$out" = EACCES -o "$out" = ENOENT
'

test_expect_success 'another job'"'"'s workspace is invisible' '
	ws_init &&
	mkdir -p "$NIGHTSHIFT_HOME/work/j-other/workspace" &&
	echo private >"$NIGHTSHIFT_HOME/work/j-other/workspace/file" &&
	attack ENOENT read "$NIGHTSHIFT_HOME/work/j-other/workspace/file" &&
	attack ENOENT read "$PWD/ws/nsh-attack"
'

# --- the file system ---

test_expect_success 'writes to /usr and /etc fail read-only' '
	ws_init &&
	attack EROFS write /usr/pwned &&
	attack EROFS write /etc/pwned &&
	! test -e /usr/pwned && ! test -e /etc/pwned
'

test_expect_success 'writes to /tmp stay in the sandbox' '
	ws_init &&
	name=nsh-escape-$$-$(date +%s) &&
	attack ok write "/tmp/$name" &&
	! test -e "/tmp/$name"
'

test_expect_success '/root and /home are not there' '
	ws_init &&
	attack ENOENT read /root/.ssh/id_rsa &&
	attack ENOENT read /root/.bashrc &&
	attack ENOENT read /home
'

test_expect_success '/etc/shadow stays unreadable (root inside is not host root)' '
	ws_init &&
	attack EACCES read /etc/shadow
'

test_expect_success 'no host /sys' '
	ws_init &&
	attack ENOENT read /sys/class/net/lo/address
'

test_expect_success 'symlinks out of the workspace resolve inside the sandbox' '
	ws_init &&
	ln -s /root ws/to-root &&
	ln -s "$NIGHTSHIFT_HOME" ws/to-home &&
	nsh tasks >/dev/null &&
	attack ENOENT read /workspace/to-root/.bashrc &&
	attack ENOENT read /workspace/to-home/nightshift.db
'

# nightshift runs git in the workspace on the host (add, commit, diff), and
# git runs commands that the repository's own config names (a clean filter
# here); the workspace's .git is read-only inside and cannot be swapped.
test_expect_success 'the workspace .git is read-only: no git config for the host to run' '
	ws_init &&
	git init -q ws &&
	echo one >ws/a &&
	cat >ws/evil.sh <<-EOF &&
	mv /workspace/.git /workspace/g
	printf "[filter \\"x\\"]\\n\\tclean = touch $PWD/pwned\\n" >>/workspace/.git/config
	echo "* filter=x" >/workspace/.gitattributes
	EOF
	attack EROFS write /workspace/.git/config &&
	attack EROFS write /workspace/.git/hooks/pre-commit &&
	nsh sandbox run --workspace "$PWD/ws" -- sh /workspace/evil.sh >evil.out 2>&1;
	cat evil.out &&
	grep -q "Device or resource busy" evil.out &&
	grep -q "Read-only file system" evil.out &&
	! grep -q filter ws/.git/config &&
	git -C ws -c core.hooksPath=/dev/null add --all &&
	test ! -e pwned &&
	git -C ws ls-files | grep -q "^a$"
'

test_expect_success 'a chroot climb finds no host root' '
	ws_init &&
	attack ENOENT chroot-escape /root/.bashrc
'

test_expect_success 'mknod of a device is refused' '
	ws_init &&
	out=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack mknod /workspace/null) &&
	test "$out" = EACCES -o "$out" = EPERM &&
	! test -e ws/null
'

test_expect_success 'mount and umount are refused' '
	ws_init &&
	attack EPERM mount &&
	attack EPERM umount
'

# --- processes and the kernel ---

test_expect_success 'host processes are invisible and cannot be signalled' '
	ws_init || exit 1
	sleep 30 &
	victim=$!
	out=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack kill $victim)
	alive=$(kill -0 $victim 2>/dev/null && echo yes)
	kill $victim
	test "$out" = ESRCH && test "$alive" = yes &&
	n=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack pids) &&
	test "$n" -lt 5
'

test_expect_success 'the init'"'"'s fds, environment and memory are out of reach' '
	ws_init &&
	attack EACCES read /proc/1/environ &&
	attack EACCES read /proc/1/mem &&
	attack EACCES read /proc/1/fd/3 &&
	attack EACCES read /proc/1/root/etc/hostname
'

test_expect_success 'ptrace is refused' '
	ws_init &&
	attack EPERM ptrace-traceme &&
	attack EPERM ptrace-attach 1
'

test_expect_success 'process_vm_readv is refused' '
	ws_init &&
	attack EPERM process-vm
'

test_expect_success 'TIOCSTI injection is refused, also with the high bits set' '
	ws_init &&
	attack EPERM tiocsti &&
	attack EPERM tiocsti-high &&
	attack EPERM tioclinux
'

test_expect_success 'keyrings are refused' '
	ws_init &&
	attack EPERM keyctl &&
	attack EPERM add-key
'

test_expect_success 'new user namespaces and setns are refused' '
	ws_init &&
	attack EPERM userns &&
	attack EPERM setns
'

test_expect_success 'io_uring, bpf, perf_event_open, userfaultfd are refused' '
	ws_init &&
	attack EPERM io-uring &&
	attack EPERM bpf &&
	attack EPERM perf &&
	attack EPERM userfaultfd
'

test_expect_success 'open_by_handle_at is refused' '
	ws_init &&
	attack EPERM open-by-handle
'

test_expect_success 'hostname and clock changes do not reach the host' '
	ws_init &&
	before=$(hostname) &&
	attack ok hostname evil-sandbox &&
	test "$(hostname)" = "$before" &&
	attack EPERM clock
'

test_expect_success 'a setuid binary gains nothing' '
	ws_init &&
	cp "$ATTACK" ws/suid && chmod 4755 ws/suid &&
	out=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack setuid /workspace/suid) &&
	test "$out" = 1000 &&
	out=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack setuid /usr/bin/su; echo "rc=$?") &&
	case "$out" in *rc=0*) false ;; *) true ;; esac
'

# --- sockets and the network ---

test_expect_success 'a host unix socket (path) is unreachable' '
	ws_init || exit 1
	sock=/run/nsh-test-$$.sock
	python3 -c "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); time.sleep(30)" "$sock" &
	pid=$!
	for i in 1 2 3 4 5 6 7 8 9 10; do test -S "$sock" && break; sleep 0.1; done
	out=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack unix "$sock")
	kill $pid; rm -f "$sock"
	test "$out" = ENOENT
'

test_expect_success 'a host abstract unix socket is unreachable' '
	ws_init || exit 1
	python3 -c "import socket,time; s=socket.socket(socket.AF_UNIX); s.bind(\"\\0nsh-test-abstract\"); s.listen(); time.sleep(30)" &
	pid=$!
	sleep 0.3
	out=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack unix-abstract nsh-test-abstract)
	kill $pid
	test "$out" = ECONNREFUSED -o "$out" = EPERM
'

test_expect_success 'a host TCP service on loopback is unreachable' '
	ws_init || exit 1
	python3 -c "import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)" >port &
	pid=$!
	for i in 1 2 3 4 5 6 7 8 9 10; do test -s port && break; sleep 0.1; done
	out=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack tcp "$(cat port)")
	kill $pid
	test "$out" = ECONNREFUSED
'

test_expect_success 'no route out, raw and packet sockets refused' '
	ws_init &&
	attack ENETUNREACH tcp-out 192.0.2.1 &&
	attack EPERM raw &&
	attack EPERM packet
'

test_expect_success 'host network interfaces are invisible' '
	ws_init &&
	out=$(nsh sandbox run --workspace "$PWD/ws" -- /workspace/nsh-attack interfaces) &&
	test "$out" = lo
'

# --- resources ---

test_expect_success 'a fork bomb is stopped by the pids limit' '
	ws_init &&
	out=$(nsh sandbox run --pids 64 --workspace "$PWD/ws" -- /workspace/nsh-attack fork-bomb) &&
	test "$out" = EAGAIN
'

test_expect_success 'a memory hog is killed without touching the host' '
	ws_init &&
	expect_code 137 nsh sandbox run --memory 64M --workspace "$PWD/ws" -- \
		/workspace/nsh-attack memory 512 &&
	out=$(nsh sandbox run --memory 64M --workspace "$PWD/ws" -- /workspace/nsh-attack memory 16) &&
	test "$out" = ok
'

test_expect_success 'filling the disk stops at the quota with ENOSPC' '
	out=$(nsh sandbox run --disk 32M -- sh -c \
		"cat >/workspace/a && chmod +x /workspace/a && exec /workspace/a disk-fill /workspace/fill" \
		<"$ATTACK") &&
	test "$out" = ENOSPC
'

test_expect_success 'a wall-clock limit kills the job' '
	start=$(date +%s) &&
	expect_code 137 nsh sandbox run --timeout 1s -- sleep 30 2>err &&
	test $(( $(date +%s) - start )) -lt 10 &&
	grep -q "time limit" err
'

# --- positive twins: a sandbox that denies everything fails these ---

test_expect_success 'writes inside the workspace work and land in the host directory' '
	mkdir ws &&
	nsh sandbox run --workspace "$PWD/ws" -- sh -c "echo hello >/workspace/out && mkdir /workspace/d" &&
	test "$(cat ws/out)" = hello &&
	test -d ws/d &&
	test "$(stat -c %u ws/out)" = "$(id -u)"
'

test_expect_success 'git, node, npm, python3, make and cc run inside' '
	mkdir ws &&
	cat >ws/hello.c <<-\EOF &&
	#include <stdio.h>
	int main(void) { puts("compiled"); return 0; }
	EOF
	printf "all:\n\tcc -o hello hello.c\n" >ws/Makefile &&
	nsh sandbox run --workspace "$PWD/ws" -- sh -c "
		set -e
		git init -q repo && cd repo && git -c user.email=a@b -c user.name=n commit -q --allow-empty -m one && git log --oneline | grep -q one && cd ..
		node -e \"console.log(6*7)\" | grep -qx 42
		npm --version >/dev/null
		python3 -c \"print(\\\"py\\\")\" | grep -qx py
		make -s && ./hello | grep -qx compiled
	" &&
	test -x ws/hello
'

test_expect_success 'the exit status of the command is the exit status of nightshift' '
	expect_code 3 nsh sandbox run -- sh -c "exit 3" &&
	expect_code 0 nsh sandbox run -- true
'

test_expect_success 'an unknown network level is a usage error that says so' '
	expect_code 2 nsh sandbox run --network nope -- true 2>err &&
	grep -q "unknown network level .nope." err
'

test_done
