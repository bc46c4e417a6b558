#!/bin/sh
# Run every unit test binary and integration script against one build and
# print one summed line last: "N passed, N failed".
#
# usage: tests/run.sh BUILD_DIR [NAME...]    (e.g. build/asan)
#
# NAMEs (such as t0650 or test_store) pick programs by substring; none runs
# them all. NSH_TEST_JOBS programs run at once (default: the number of CPUs),
# each with its own home and ports; the slow ones listed in tests/slow.txt
# start first so that the last to finish is a short one.
set -u
build=${1:?usage: tests/run.sh BUILD_DIR [NAME...]}
shift
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
logs=$build/test-logs
# One run per build directory: a second would delete the first's logs and
# claims under it. A lock left by a run that died is taken over.
lock=$build/test-logs.lock
if ! mkdir "$lock" 2>/dev/null; then
	owner=$(cat "$lock/pid" 2>/dev/null)
	if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then
		echo "tests/run.sh: another run (pid $owner) is using $build; wait for it or test another build directory" >&2
		exit 2
	fi
	rm -rf "$lock"
	mkdir "$lock" || exit 2
fi
echo $$ >"$lock/pid"
trap 'rm -rf "$lock"' EXIT
trap 'exit 130' INT TERM
rm -rf "$logs"
mkdir -p "$logs/claim" "$logs/result" "$logs/failed"

NSH_BIN=$build/nightshift
NSH_HELPERS=$build/tests/helpers
NSH_TOP=$top
export NSH_BIN NSH_HELPERS NSH_TOP
# Leaks are failures; a failing sanitizer exits the test with an error.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS
jobs=${NSH_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
# the longest one program may run, in seconds (the slowest take about 2 minutes)
limit=${NSH_TEST_TIMEOUT:-900}
case $limit in '' | *[!0-9]* | 0) echo "tests/run.sh: NSH_TEST_TIMEOUT must be a positive number of seconds" >&2; exit 2 ;; esac
case $jobs in '' | *[!0-9]* | 0) echo "tests/run.sh: NSH_TEST_JOBS must be a positive number" >&2; exit 2 ;; esac

# wanted NAME: true when no filter was given or NAME matches one.
wanted() {
	[ -z "$filter" ] && return 0
	for pat in $filter; do
		case $1 in *"$pat"*) return 0 ;; esac
	done
	return 1
}
filter="$*"

# The list, one "NAME<TAB>PATH" per line: the slow ones first, in the order
# of tests/slow.txt, then the rest.
list=$logs/list
{
	for t in "$build"/tests/unit/test_*; do
		[ -x "$t" ] && printf 'unit/%s\t%s\n' "${t##*/}" "$t"
	done
	for t in "$top"/tests/integ/t[0-9]*.sh; do
		[ -f "$t" ] && printf 'integ/%s\t%s\n' "${t##*/}" "$t"
	done
} >"$list.all"
: >"$list"
if [ -f "$top/tests/slow.txt" ]; then
	grep -v '^#' "$top/tests/slow.txt" | while read -r slow; do
		[ -n "$slow" ] && grep -F "/$slow	" "$list.all" | head -n 1
	done >>"$list"
fi
grep -v -x -F -f "$list" "$list.all" >>"$list" || true

# run_one N NAME PATH: run a test program; its result goes to result/N as
# "PASSED FAILED", and a report is printed at once.
run_one() {
	n=$1 name=$2 path=$3
	log=$logs/$(echo "$name" | tr '/' '_').log
	start=$(date +%s)
	# a program that hangs (a download that never ends, say) fails, and
	# the rest still run: timeout signals its whole process group
	case $path in
	*.sh) timeout -k 10 "$limit" sh "$path" >"$log" 2>&1 </dev/null ;;
	*) timeout -k 10 "$limit" "$path" >"$log" 2>&1 </dev/null ;;
	esac
	rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "tests/run.sh: stopped after $limit s (NSH_TEST_TIMEOUT), exit $rc" >>"$log"
	fi
	secs=$(($(date +%s) - start))
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "0 1" >"$logs/result/$n"
		report=$(printf '%s\n%s\n' "$name: no result line (exit $rc, ${secs} s)" \
			"$(tail -n 30 "$log" | sed 's/^/    /')")
		printf '%s\n' "$report" | tee "$logs/failed/$n"
		return
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or leaked after its last check
	fi
	echo "$p $f" >"$logs/result/$n"
	report="$name: $p passed, $f failed (${secs} s)"
	if [ "$f" -ne 0 ]; then
		report="$report
$(awk '/^(not ok|ok |[0-9]+ passed)/ { diag = 0 }
		/^not ok/ { diag = 1 }
		diag || /failed|ERROR|runtime error/' "$log" | head -n 60 | sed 's/^/    /')
    (full log: $log)"
		printf '%s\n' "$report" >"$logs/failed/$n"
	fi
	printf '%s\n' "$report"
}

# lane: take the next unclaimed program from the list until none is left;
# mkdir is the atomic claim.
lane() {
	n=0
	while IFS='	' read -r name path; do
		n=$((n + 1))
		wanted "$name" || continue
		mkdir "$logs/claim/$n" 2>/dev/null || continue
		run_one "$n" "$name" "$path"
	done <"$list"
}

i=0
while [ "$i" -lt "$jobs" ]; do
	lane &
	i=$((i + 1))
done
wait

pass=0
fail=0
for r in "$logs"/result/*; do
	[ -f "$r" ] || continue
	read -r p f <"$r"
	pass=$((pass + p))
	fail=$((fail + f))
done
# The failures again, briefly, just above the last line: a CI log that keeps
# only its tail still names them.
for r in "$logs"/failed/*; do
	[ -f "$r" ] || continue
	echo "FAILED:"
	head -n 12 "$r"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
