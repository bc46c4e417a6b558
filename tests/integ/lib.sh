# Shared set-up for integration scripts (after git's test-lib.sh).
#
#   . "$(dirname "$0")/lib.sh"
#   test_expect_success 'what the user relies on' '
#       nsh tasks >out &&
#       grep -q "no tasks" out
#   '
#   test_done
#
# Each test runs in a subshell inside a fresh directory, with a fresh
# NIGHTSHIFT_HOME. "nsh" runs the binary under test ($NSH_BIN).

set -u
: "${NSH_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${NSH_BIN:=$NSH_TOP/build/asan/nightshift}"
: "${NSH_HELPERS:=$NSH_TOP/build/asan/tests/helpers}"

T_TRASH=$(mktemp -d "${TMPDIR:-/tmp}/nsh-integ-XXXXXX")
trap 'rm -rf "$T_TRASH"' EXIT
t_count=0
t_pass=0
t_fail=0

nsh() {
	"$NSH_BIN" "$@"
}

# expect_code N CMD...: run CMD, succeed only when it exits with N.
expect_code() {
	want=$1
	shift
	"$@"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "expected exit $want, got $got: $*" >&2
		return 1
	fi
	return 0
}

test_expect_success() {
	t_count=$((t_count + 1))
	dir=$T_TRASH/t$t_count
	mkdir -p "$dir/home"
	(
		cd "$dir" || exit 1
		NIGHTSHIFT_HOME=$dir/home
		export NIGHTSHIFT_HOME
		eval "$2"
	) >"$T_TRASH/out" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		t_pass=$((t_pass + 1))
		echo "ok $t_count - $1"
	else
		t_fail=$((t_fail + 1))
		echo "not ok $t_count - $1"
		sed 's/^/#   /' "$T_TRASH/out"
	fi
}

# test_skip TITLE REASON: a check that could not run here (say a registry
# that cannot be reached); reported, and counted neither passed nor failed.
t_skip=0
test_skip() {
	t_count=$((t_count + 1))
	t_skip=$((t_skip + 1))
	echo "ok $t_count # skip $1 ($2)"
}

test_done() {
	[ "$t_skip" -eq 0 ] || echo "# $t_skip skipped"
	echo "$t_pass passed, $t_fail failed"
	[ "$t_fail" -eq 0 ]
}
