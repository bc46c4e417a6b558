#!/bin/sh
# The provider misbehaves (429, 500, a timeout, malformed JSON, an exhausted
# quota, a bad key) and the agent misbehaves (a stuck loop, paths outside the
# workspace): retried as the SDKs retry, or stopped with an error that says
# what was wrong.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/agent/lib.sh"

test_expect_success '429, 500, a timeout and malformed JSON are retried and the turn goes through' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/provider-faults.json" &&
	NIGHTSHIFT_LLM_TIMEOUT=1s NIGHTSHIFT_LLM_RETRIES=5 \
		nsh agent run --role research --workspace ws "$TASK_TEXT" >out 2>err &&
	grep -q "^| research | done | 2 |" out &&
	test "$(logq "l.length")" = 6 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	test "$(logq "new Set(l.slice(0, 5).map(e => JSON.stringify(e.body))).size")" = 1
'

test_expect_success 'a malformed reply that persists is an error naming what was wrong' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/malformed-always.json" &&
	NIGHTSHIFT_LLM_RETRIES=2 expect_code 1 \
		nsh agent run --role research --workspace ws "$TASK_TEXT" >out 2>err &&
	grep -q "^job .*: failed: openai: gave up after 3 attempts: malformed response: tool call 0: missing field .function.name." out &&
	test "$(logq "l.length")" = 3
'

test_expect_success 'an exhausted quota is not retried' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/quota.json" &&
	expect_code 1 nsh agent run --role research --workspace ws "$TASK_TEXT" >out 2>err &&
	grep -q "failed: openai: quota exhausted (insufficient_quota): You exceeded your current quota" out &&
	test "$(logq "l.length")" = 1
'

test_expect_success 'a bad key is not retried and the error says so' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/unauthorized.json" anthropic &&
	expect_code 1 nsh agent run --role research --workspace ws "$TASK_TEXT" >out 2>err &&
	grep -q "failed: anthropic: HTTP 401 provider error (authentication_error): invalid x-api-key" out &&
	test "$(logq "l.length")" = 1
'

test_expect_success 'a response past the size cap is refused, not retried' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/too-big.json" &&
	NIGHTSHIFT_LLM_RESPONSE_MAX=4K expect_code 1 \
		nsh agent run --role research --workspace ws "$TASK_TEXT" >out 2>err &&
	grep -q "failed: openai: response larger than 4096 bytes" out &&
	test "$(logq "l.length")" = 1
'

test_expect_success 'a server that cannot be reached is retried, then named' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/quota.json" &&
	kill "$(cat server.pid)" && wait_until 10 sh -c "! kill -0 $(cat server.pid)" &&
	NIGHTSHIFT_LLM_RETRIES=2 expect_code 1 \
		nsh agent run --role research --workspace ws "$TASK_TEXT" >out 2>err &&
	grep -q "failed: openai: gave up after 3 attempts: cannot reach .http://127.0.0.1:[0-9]*/v1/chat/completions.: Couldn.t connect to server" out
'

test_expect_success 'without a configured model the error names every variable to set' '
	fixture ws &&
	expect_code 1 nsh agent run --workspace ws "$TASK_TEXT" >out 2>err &&
	test "$(wc -l <err)" = 1 &&
	grep -q "^nightshift: error: no language model configured: set NIGHTSHIFT_LLM_API" err &&
	grep -q "NIGHTSHIFT_LLM_URL" err && grep -q "NIGHTSHIFT_LLM_MODEL" err &&
	grep -q "NIGHTSHIFT_LLM_KEY" err
'

test_expect_success 'a stuck loop is detected, warned about, then stopped' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/stuck.json" &&
	expect_code 1 nsh agent run --role code --workspace ws "$TASK_TEXT" >out 2>err &&
	grep -q "needs_human_review: the code agent ended: stuck: the same call to .read_file. returned the same result 3 times in a row" out &&
	test "$(logq "l.length")" = 6 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	task=$(task_of err) &&
	nsh follow "$task" --json >events &&
	grep -q "\"action\": *\"warned\"" events &&
	grep -q "\"action\": *\"stopped\"" events
'

test_expect_success 'a tool call that reads outside the workspace is refused' '
	fixture ws &&
	ln -s /etc ws/escape &&
	start_llm "$AGENT_DIR/scenarios/outside.json" &&
	nsh agent run --role research --workspace ws "$TASK_TEXT" >out 2>err &&
	test "$(logq "l.length")" = 2 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	logq "newest(l[1])" >turn &&
	test "$(grep -o "outside the workspace" turn | wc -l)" -ge 4 &&
	! grep -q "root:" requests.jsonl
'

test_done
