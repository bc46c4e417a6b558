#!/bin/sh
# nightshift agent run: the rate-limiting task on a small Node service, from
# plan to green verification, against the scripted provider in both wire
# formats (OpenAI without streaming, Anthropic streamed); recording a real
# exchange and replaying it.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/agent/lib.sh"

CHECK="node --test --test-reporter=tap"

test_expect_success 'the rate-limiting task: plan, edits, a failing test, the fix, green verification' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" &&
	nsh agent run --workspace ws --check "$CHECK" "$TASK_TEXT" >out 2>err &&
	grep -q "^job j-[0-9a-f]* (local/ws): needs_human_review: verified" out &&
	grep -q "^## What changed" out &&
	grep -q "^Passed: The checks pass" out &&
	grep -q "^| research | done | 4 | 10450 |" out &&
	grep -q "^| code | done | 7 | 26770 |" out &&
	grep -q "^| verify | done | 2 | 8390 |" out &&
	grep -q "^| \*\*whole task\*\* | | | 45610 |" out &&
	test "$(logq "l.length")" = 13 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	test "$(logq "l.every(e => e.path === \"/v1/chat/completions\")")" = true &&
	test "$(logq "l[0].headers.authorization")" = "Bearer sk-test-123" &&
	logq "newest(l[8])" | grep -q "not ok" &&
	logq "newest(l[10])" | grep -q "# fail 0" &&
	test -f ws/src/middleware/rateLimit.js &&
	grep -q "rateLimit(options.rateLimit), login(" ws/src/app.js &&
	grep -q "entry.count > max)" ws/src/middleware/rateLimit.js &&
	(cd ws && node --test --test-reporter=tap) >tap &&
	grep -q "^# fail 0" tap &&
	grep -q "^# pass 6" tap &&
	nsh_sql \
		"select body from specs order by version desc limit 1" >spec &&
	grep -q "^## Plan" spec &&
	grep -q "rateLimit({ max, windowMs, now })" spec
'

test_expect_success 'the same task over the Anthropic Messages API, streamed, with prices' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" anthropic &&
	NIGHTSHIFT_LLM_STREAM=true NIGHTSHIFT_LLM_PRICE_INPUT=3 NIGHTSHIFT_LLM_PRICE_OUTPUT=15 \
		nsh agent run --json --workspace ws --check "$CHECK" "$TASK_TEXT" >out 2>err &&
	node -e "
		const o = JSON.parse(require(\"fs\").readFileSync(\"out\", \"utf8\"));
		if (!o.ok || o.state !== \"completed\") throw new Error(\"not ok\");
		if (o.agents.verify.passed !== true) throw new Error(\"verify did not pass\");
		if (o.usage.tokens !== 45610) throw new Error(\"tokens \" + o.usage.tokens);
		if (!(o.usage.cost > 0.09 && o.usage.cost < 0.11)) throw new Error(\"cost \" + o.usage.cost);
		if (!o.pr_body.includes(\"## Language model usage\")) throw new Error(\"pr body\");
	" &&
	test "$(logq "l.length")" = 13 &&
	test "$(logq "l.every(e => e.path === \"/v1/messages\" && e.body.stream === true)")" = true &&
	test "$(logq "l[0].headers[\"anthropic-version\"]")" = 2023-06-01 &&
	test "$(logq "l[0].headers[\"x-api-key\"]")" = sk-test-123 &&
	test "$(logq "l[0].body.system[0].cache_control.type")" = ephemeral &&
	(cd ws && node --test) >/dev/null
'

test_expect_success 'usage and cost of every turn are in the status stream' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" &&
	nsh agent run --workspace ws --check "$CHECK" "$TASK_TEXT" >out 2>err &&
	task=$(task_of err) &&
	nsh follow "$task" --json >events &&
	test "$(grep -c "\"kind\": *\"agent.turn\"" events)" = 13 &&
	grep "\"kind\": *\"agent.turn\"" events | tail -n 1 >last &&
	grep -q "\"tokens\": *45610" last &&
	grep -q "\"kind\": *\"agent.tool\"" events
'

test_expect_success 'a recorded session replays as a regression test' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" &&
	NIGHTSHIFT_LLM_RECORD=$PWD/rec nsh agent run --role research --workspace ws "$TASK_TEXT" \
		>out 2>err &&
	ls rec/*-research-0.json >recorded &&
	test "$(wc -l <recorded)" = 1 &&
	! grep -q sk-test-123 rec/*.json &&
	kill "$(cat server.pid)" &&
	fixture ws2 &&
	start_llm "$(cat recorded)" &&
	nsh agent run --role research --workspace ws2 "$TASK_TEXT" >out2 2>err2 &&
	test "$(logq "l.length")" = 4 &&
	test "$(logq "l.filter(e => e.error).length")" = 0
'

test_done
