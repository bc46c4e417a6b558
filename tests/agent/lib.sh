# Helpers for the agent integration scripts (tests/integ/t08*-agent*.sh),
# sourced after tests/integ/lib.sh. The scripted provider is
# tests/agent/server.js on 127.0.0.1; each test starts its own.

AGENT_DIR=$NSH_TOP/tests/agent
TASK_TEXT="Implement rate limiting on /api/login using the existing middleware pattern; add tests for the normal flow, exceeded limit and reset after the window"

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_until() {
	limit=$(($1 * 10))
	shift
	n=0
	until "$@" 2>/dev/null; do
		n=$((n + 1))
		if [ "$n" -ge "$limit" ]; then
			echo "timed out waiting for: $*" >&2
			return 1
		fi
		sleep 0.1
	done
}

# start_llm SCENARIO [API]: start the scripted server on a free port and point
# NIGHTSHIFT_LLM_* at it (API openai by default). The server is stopped when
# the test's shell exits.
start_llm() {
	rm -f port requests.jsonl
	node "$AGENT_DIR/server.js" --scenario "$1" --port-file port --log requests.jsonl \
		>server.log 2>&1 &
	echo $! >server.pid
	trap 'stop_all' EXIT
	wait_until 10 test -s port || return 1
	NIGHTSHIFT_LLM_API=${2:-openai}
	NIGHTSHIFT_LLM_URL=http://127.0.0.1:$(cat port)/v1
	NIGHTSHIFT_LLM_MODEL=test-model
	NIGHTSHIFT_LLM_KEY=sk-test-123
	NIGHTSHIFT_LLM_RETRY_BASE_MS=10
	export NIGHTSHIFT_LLM_API NIGHTSHIFT_LLM_URL NIGHTSHIFT_LLM_MODEL NIGHTSHIFT_LLM_KEY
	export NIGHTSHIFT_LLM_RETRY_BASE_MS
}

# stop_all: stop the server and a background agent run, if any (at exit).
stop_all() {
	test -f agent.pid && kill "$(cat agent.pid)" 2>/dev/null
	test -f server.pid && kill "$(cat server.pid)" 2>/dev/null
	return 0
}

# agent_bg ARGS...: start "nightshift agent run ARGS" in the background
# (stdout to out, stderr to err) and wait until it printed its task id, which
# goes to the file "task". "wait $(cat agent.pid)" gives its exit code.
agent_bg() {
	nsh agent run "$@" >out 2>err &
	echo $! >agent.pid
	wait_until 30 grep -q "^task t-" err || return 1
	task_of err >task
}

# fixture DIR: a fresh git checkout of the login-service fixture.
fixture() {
	cp -r "$AGENT_DIR/fixtures/login-service" "$1" &&
	git -C "$1" init -q &&
	git -C "$1" add -A &&
	git -C "$1" -c user.name=t -c user.email=t@example.com commit -qm base
}

# logq EXPR: evaluate a JavaScript expression over the request log, with
# l = the logged requests (parsed), and print the result.
logq() {
	node "$AGENT_DIR/logq.js" requests.jsonl "$1"
}

# task_of FILE: the task id "nightshift agent run" printed on stderr.
task_of() {
	sed -n 's/^task \(t-[0-9a-f]*\)$/\1/p' "$1" | head -n 1
}

# task_state TASK: its state.
task_state() {
	nsh show "$1" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).task.state))'
}

# state_is TASK STATE: whether the task is in STATE (for wait_until).
state_is() {
	test "$(task_state "$1")" = "$2"
}
