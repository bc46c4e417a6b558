#!/bin/sh
# Run every unit test binary and integration script against one build and
# print one summed line last: "N passed, N failed".
#
# usage: tests/run.sh BUILD_DIR     (e.g. build/asan)
set -u
build=${1:?usage: tests/run.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
logs=$build/test-logs
mkdir -p "$logs"

NSH_BIN=$build/nightshift
NSH_HELPERS=$build/tests/helpers
NSH_TOP=$top
export NSH_BIN NSH_HELPERS NSH_TOP
# Leaks are failures; a failing sanitizer exits the test with an error.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

pass=0
fail=0

# run_one NAME CMD...: run a test program, add its "N passed, N failed".
run_one() {
	name=$1
	shift
	log=$logs/$(echo "$name" | tr '/' '_').log
	start=$(date +%s)
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(($(date +%s) - start))
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$name: no result line (exit $rc, ${secs} s)"
		tail -n 30 "$log" | sed 's/^/    /'
		fail=$((fail + 1))
		return
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or leaked after its last check
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	echo "$name: $p passed, $f failed (${secs} s)"
	if [ "$f" -ne 0 ]; then
		grep -E 'failed|not ok|ERROR|runtime error' "$log" | head -n 20 | sed 's/^/    /'
		echo "    (full log: $log)"
	fi
}

for t in "$build"/tests/unit/test_*; do
	[ -x "$t" ] || continue
	run_one "unit/${t##*/}" "$t"
done
for t in "$top"/tests/integ/t[0-9]*.sh; do
	[ -f "$t" ] || continue
	run_one "integ/${t##*/}" sh "$t"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
