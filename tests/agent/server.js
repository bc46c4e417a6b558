#!/usr/bin/env node
// A scripted language-model server for nightshift's tests (Node standard
// library only). It speaks the OpenAI Chat Completions wire format
// (POST .../chat/completions) and the Anthropic Messages wire format
// (POST .../messages), with and without streaming, replays a declarative
// scenario file, checks every request against the providers' documented
// shapes, and keeps every request in a log for assertions.
//
//   node tests/agent/server.js --scenario FILE --port-file FILE --log FILE
//        [--port N] [--latency-ms N]
//
// Scenario file (JSON):
//   {
//     "name": "...",
//     "key": "sk-test",          // optional: the API key every request must carry
//     "mode": "sequence",        // or "turn": step = assistant messages in the request
//     "strict": true,            // check the documented request shapes (default)
//     "steps": [
//       { "name": "...",
//         "repeat": 1,           // serve this step N times
//         "expect": {            // predicates on the request; any failing one -> 400
//           "method": "POST", "path": "/v1/chat/completions",
//           "headers": {"anthropic-version": "2023-06-01"},
//           "json": {...},       // deep subset of the body
//           "contains": ["..."], "not_contains": ["..."],    // raw body
//           "message_count": 5, "last_role": "tool",
//           "last_message_contains": "...",                 // any provider
//           "tools": ["read_file", ...],                     // offered tool names (set)
//           "tools_include": ["edit_file", ...]              // offered, among others
//           // {"$file": "PATH"} anywhere in a scenario is the text of PATH (relative to it)
//         },
//         "reply": {             // rendered in the request's own format (and streaming)
//           "text": "...", "tool_calls": [{"name": "read_file", "args": {...}, "id": "?"}],
//           "stop": "end_turn|tool_use|max_tokens|...", "usage": {"input": 10, "output": 5,
//           "cache_read": 0, "cache_write": 0}, "delay_ms": 0 },
//         "response": {          // or a raw response
//           "status": 429, "headers": {...}, "json": {...} | "body": "..." |
//           "sse": [{"event": "x", "data": {...} | "text"}] | "sse_raw": "...",
//           "delay_ms": 0, "close": true, "chunk_delay_ms": 0, "cut_after": N }
//       } ]
//   }
//
// GET /__status answers {"served", "steps", "mismatches": [...], "done"}.

'use strict';

const fs = require('fs');
const http = require('http');

function parseArgs(argv) {
	const o = {port: 0, latencyMs: 0};
	for (let i = 2; i < argv.length; i++) {
		const a = argv[i], v = argv[i + 1];
		if (a === '--scenario') o.scenario = v, i++;
		else if (a === '--port-file') o.portFile = v, i++;
		else if (a === '--log') o.log = v, i++;
		else if (a === '--port') o.port = Number(v), i++;
		else if (a === '--latency-ms') o.latencyMs = Number(v), i++;
		else throw new Error(`unknown argument ${a}`);
	}
	if (!o.scenario) throw new Error('--scenario FILE is required');
	return o;
}

const opts = parseArgs(process.argv);
const path = require('path');

// {"$file": "x"} anywhere in a scenario stands for the text of x (relative to the scenario)
function resolveFiles(v, dir) {
	if (Array.isArray(v)) return v.map(x => resolveFiles(x, dir));
	if (v === null || typeof v !== 'object') return v;
	if (typeof v.$file === 'string' && Object.keys(v).length === 1)
		return fs.readFileSync(path.resolve(dir, v.$file), 'utf8');
	const o = {};
	for (const [k, x] of Object.entries(v)) o[k] = resolveFiles(x, dir);
	return o;
}

const scenario = resolveFiles(JSON.parse(fs.readFileSync(opts.scenario, 'utf8')), path.dirname(opts.scenario));
const strict = scenario.strict !== false;
const steps = [];
for (const s of scenario.steps || [])
	for (let i = 0; i < (s.repeat || 1); i++) steps.push(s);
let next = 0, served = 0, seq = 0;
const mismatches = [];

function log(entry) {
	if (opts.log) fs.appendFileSync(opts.log, JSON.stringify(entry) + '\n');
}

// ---- the documented request shapes ----

const OPENAI_TOP = new Set(['model', 'messages', 'tools', 'tool_choice', 'stream',
	'stream_options', 'max_completion_tokens', 'max_tokens', 'temperature', 'top_p',
	'parallel_tool_calls', 'stop', 'seed', 'user', 'response_format', 'n', 'metadata',
	'reasoning_effort', 'store']);
const OPENAI_MSG = {
	system: new Set(['role', 'content', 'name']),
	developer: new Set(['role', 'content', 'name']),
	user: new Set(['role', 'content', 'name']),
	assistant: new Set(['role', 'content', 'tool_calls', 'name', 'refusal']),
	tool: new Set(['role', 'tool_call_id', 'content']),
};
const ANTHROPIC_TOP = new Set(['model', 'max_tokens', 'messages', 'system', 'tools',
	'tool_choice', 'stream', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'metadata',
	'thinking', 'service_tier']);
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function isObj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }

function checkOpenAI(body, headers) {
	const p = [];
	if (scenario.key && headers.authorization !== `Bearer ${scenario.key}`)
		p.push('missing or wrong Authorization: Bearer header');
	for (const k of Object.keys(body)) if (!OPENAI_TOP.has(k)) p.push(`unknown field '${k}'`);
	if (typeof body.model !== 'string' || !body.model) p.push("'model' must be a string");
	if (!Array.isArray(body.messages) || !body.messages.length) {
		p.push("'messages' must be a non-empty array");
		return p;
	}
	if (body.stream_options !== undefined && body.stream !== true)
		p.push("'stream_options' is only allowed with stream: true");
	if (body.max_tokens !== undefined && body.max_completion_tokens !== undefined)
		p.push("both 'max_tokens' and 'max_completion_tokens'");
	let pending = null; // ids of the newest tool_calls still to be answered
	body.messages.forEach((m, i) => {
		const where = `messages[${i}]`;
		if (!isObj(m) || !OPENAI_MSG[m.role]) {
			p.push(`${where}: unknown role '${m && m.role}'`);
			return;
		}
		for (const k of Object.keys(m))
			if (!OPENAI_MSG[m.role].has(k)) p.push(`${where}: unknown field '${k}' for role ${m.role}`);
		if (m.role === 'tool') {
			if (!pending || !pending.has(m.tool_call_id))
				p.push(`${where}: tool message for '${m.tool_call_id}', which no open tool call has`);
			else pending.delete(m.tool_call_id);
			if (typeof m.content !== 'string') p.push(`${where}: tool content must be a string`);
			return;
		}
		if (pending && pending.size)
			p.push(`${where}: tool calls ${[...pending].join(', ')} were not answered before this ${m.role} message`);
		pending = null;
		if (m.role === 'assistant' && m.tool_calls !== undefined) {
			if (!Array.isArray(m.tool_calls) || !m.tool_calls.length) {
				p.push(`${where}: tool_calls must be a non-empty array`);
				return;
			}
			if (!(m.content === null || typeof m.content === 'string'))
				p.push(`${where}: content must be a string or null`);
			pending = new Set();
			m.tool_calls.forEach((c, k) => {
				if (!isObj(c) || typeof c.id !== 'string' || c.type !== 'function' || !isObj(c.function))
					p.push(`${where}.tool_calls[${k}]: needs id, type 'function' and function`);
				else if (!TOOL_NAME.test(c.function.name || ''))
					p.push(`${where}.tool_calls[${k}]: bad function name`);
				else if (typeof c.function.arguments !== 'string')
					p.push(`${where}.tool_calls[${k}]: arguments must be a JSON string`);
				else pending.add(c.id);
			});
		} else if (typeof m.content !== 'string' && !Array.isArray(m.content)) {
			p.push(`${where}: content must be a string`);
		}
	});
	if (pending && pending.size) p.push(`tool calls ${[...pending].join(', ')} were never answered`);
	if (body.tools !== undefined) {
		if (!Array.isArray(body.tools)) p.push("'tools' must be an array");
		else body.tools.forEach((t, i) => {
			if (!isObj(t) || t.type !== 'function' || !isObj(t.function) || !TOOL_NAME.test(t.function.name || '') || !isObj(t.function.parameters))
				p.push(`tools[${i}]: needs type 'function' and function {name, parameters}`);
		});
	}
	return p;
}

function countCache(v) {
	if (Array.isArray(v)) return v.reduce((n, x) => n + countCache(x), 0);
	if (!isObj(v)) return 0;
	let n = 0;
	for (const [k, x] of Object.entries(v)) n += k === 'cache_control' ? 1 : countCache(x);
	return n;
}

function checkAnthropic(body, headers) {
	const p = [];
	if (headers['anthropic-version'] !== '2023-06-01')
		p.push(`anthropic-version header is '${headers['anthropic-version']}', expected the pinned 2023-06-01`);
	if (scenario.key && headers['x-api-key'] !== scenario.key) p.push('missing or wrong x-api-key header');
	if (headers.authorization) p.push('Authorization header sent to the Messages API (the key goes in x-api-key)');
	for (const k of Object.keys(body)) if (!ANTHROPIC_TOP.has(k)) p.push(`unknown field '${k}'`);
	if (typeof body.model !== 'string') p.push("'model' must be a string");
	if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) p.push("'max_tokens' is required");
	if (body.system !== undefined && typeof body.system !== 'string' &&
	    !(Array.isArray(body.system) && body.system.every(b => isObj(b) && b.type === 'text' && typeof b.text === 'string' && b.text)))
		p.push("'system' must be a string or text blocks");
	if (countCache(body) > 4) p.push(`${countCache(body)} cache_control breakpoints, at most 4 allowed`);
	if (!Array.isArray(body.messages) || !body.messages.length) {
		p.push("'messages' must be a non-empty array");
		return p;
	}
	let prevRole = null, open = null;
	body.messages.forEach((m, i) => {
		const where = `messages[${i}]`;
		if (!isObj(m) || (m.role !== 'user' && m.role !== 'assistant')) {
			p.push(`${where}: role must be user or assistant`);
			return;
		}
		if (i === 0 && m.role !== 'user') p.push('the first message must be from the user');
		if (m.role === prevRole) p.push(`${where}: two ${m.role} messages in a row (roles must alternate)`);
		prevRole = m.role;
		const blocks = typeof m.content === 'string' ? [{type: 'text', text: m.content}] : m.content;
		if (!Array.isArray(blocks) || !blocks.length) {
			p.push(`${where}: content must be a string or a non-empty array`);
			return;
		}
		if (m.role === 'user') {
			let seenOther = false;
			const answered = new Set();
			blocks.forEach((b, k) => {
				if (!isObj(b)) return p.push(`${where}.content[${k}]: not a block`);
				if (b.type === 'tool_result') {
					if (seenOther) p.push(`${where}.content[${k}]: tool_result after other content (tool results must come first)`);
					if (!open || !open.has(b.tool_use_id)) p.push(`${where}.content[${k}]: tool_result for '${b.tool_use_id}', not a tool_use of the previous turn`);
					answered.add(b.tool_use_id);
					if (typeof b.content !== 'string' && !Array.isArray(b.content)) p.push(`${where}.content[${k}]: tool_result content must be a string or blocks`);
					if (b.is_error !== undefined && typeof b.is_error !== 'boolean') p.push(`${where}.content[${k}]: is_error must be a boolean`);
				} else if (b.type === 'text') {
					seenOther = true;
					if (typeof b.text !== 'string' || !b.text) p.push(`${where}.content[${k}]: text blocks must not be empty`);
				} else if (b.type !== 'image' && b.type !== 'document') {
					p.push(`${where}.content[${k}]: unknown user block type '${b.type}'`);
				}
			});
			if (open) for (const id of open) if (!answered.has(id)) p.push(`${where}: tool_use '${id}' is not answered in this message`);
			open = null;
		} else {
			if (open && open.size) p.push(`${where}: tool uses of the previous turn were not answered`);
			open = new Set();
			blocks.forEach((b, k) => {
				if (!isObj(b)) return p.push(`${where}.content[${k}]: not a block`);
				if (b.type === 'tool_use') {
					if (typeof b.id !== 'string' || !TOOL_NAME.test(b.name || '')) p.push(`${where}.content[${k}]: tool_use needs id and name`);
					if (!isObj(b.input)) p.push(`${where}.content[${k}]: tool_use input must be an object`);
					open.add(b.id);
				} else if (b.type === 'text') {
					if (typeof b.text !== 'string' || !b.text) p.push(`${where}.content[${k}]: text blocks must not be empty`);
				} else if (b.type !== 'thinking' && b.type !== 'redacted_thinking') {
					p.push(`${where}.content[${k}]: unknown assistant block type '${b.type}'`);
				}
			});
		}
	});
	if (open && open.size && prevRole === 'assistant') p.push('the last message is an assistant turn with unanswered tool uses');
	if (prevRole !== 'user') p.push('the last message must be from the user');
	if (body.tools !== undefined) {
		if (!Array.isArray(body.tools)) p.push("'tools' must be an array");
		else body.tools.forEach((t, i) => {
			if (!isObj(t) || !TOOL_NAME.test(t.name || '') || !isObj(t.input_schema))
				p.push(`tools[${i}]: needs name and input_schema`);
			for (const k of Object.keys(t || {}))
				if (!['name', 'description', 'input_schema', 'cache_control', 'type'].includes(k)) p.push(`tools[${i}]: unknown field '${k}'`);
		});
	}
	return p;
}

// ---- predicates ----

function subset(want, got, path) {
	if (isObj(want)) {
		if (!isObj(got)) return `${path || 'body'} is not an object`;
		for (const [k, v] of Object.entries(want)) {
			const e = subset(v, got[k], path ? `${path}.${k}` : k);
			if (e) return e;
		}
		return null;
	}
	if (Array.isArray(want)) {
		if (!Array.isArray(got) || got.length !== want.length) return `${path} has ${Array.isArray(got) ? got.length : 'no'} elements, expected ${want.length}`;
		for (let i = 0; i < want.length; i++) {
			const e = subset(want[i], got[i], `${path}[${i}]`);
			if (e) return e;
		}
		return null;
	}
	return want === got ? null : `${path} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`;
}

function messageText(m) {
	if (!m) return '';
	const parts = [];
	const walk = v => {
		if (typeof v === 'string') parts.push(v);
		else if (Array.isArray(v)) v.forEach(walk);
		else if (isObj(v)) ['text', 'content'].forEach(k => v[k] !== undefined && walk(v[k]));
	};
	walk(m.content);
	return parts.join('\n');
}

function toolNames(body) {
	return (body.tools || []).map(t => t.name || (t.function && t.function.name)).sort();
}

function check(expect, req, body, raw) {
	if (!expect) return null;
	const msgs = body.messages || [];
	const last = msgs[msgs.length - 1];
	if (expect.method && expect.method !== req.method) return `method is ${req.method}`;
	if (expect.path && expect.path !== req.url) return `path is ${req.url}, expected ${expect.path}`;
	for (const [h, v] of Object.entries(expect.headers || {}))
		if (req.headers[h.toLowerCase()] !== v) return `header ${h} is '${req.headers[h.toLowerCase()]}', expected '${v}'`;
	if (expect.json) {
		const e = subset(expect.json, body, '');
		if (e) return e;
	}
	for (const s of expect.contains || []) if (!raw.includes(s)) return `the body does not contain '${s}'`;
	for (const s of expect.not_contains || []) if (raw.includes(s)) return `the body contains '${s}'`;
	if (expect.message_count !== undefined && msgs.length !== expect.message_count)
		return `${msgs.length} messages, expected ${expect.message_count}`;
	if (expect.last_role !== undefined && (!last || last.role !== expect.last_role))
		return `the last message has role ${last && last.role}, expected ${expect.last_role}`;
	if (expect.last_message_contains !== undefined) {
		// OpenAI sends one message per tool result: the last turn is every message after the last assistant one
		let from = msgs.length - 1;
		while (from > 0 && msgs[from - 1].role !== 'assistant') from--;
		const text = msgs.slice(from).map(messageText).join('\n');
		if (!text.includes(expect.last_message_contains))
			return `the newest turn does not contain '${expect.last_message_contains}': ${JSON.stringify(text.slice(0, 300))}`;
	}
	for (const t of expect.tools_include || [])
		if (!toolNames(body).includes(t)) return `tool '${t}' is not offered (${toolNames(body).join(',')})`;
	if (expect.tools !== undefined) {
		const got = toolNames(body), want = [...expect.tools].sort();
		if (JSON.stringify(got) !== JSON.stringify(want)) return `tools offered are ${got.join(',')}, expected ${want.join(',')}`;
	}
	return null;
}

// ---- rendering replies ----

function usageOf(r) {
	const u = r.usage || {};
	return {input: u.input || 0, output: u.output || 0, cache_read: u.cache_read || 0, cache_write: u.cache_write || 0};
}

function pieces(s, n) {
	const out = [];
	for (let i = 0; i < s.length; i += n) out.push(s.slice(i, i + n));
	return out.length ? out : [''];
}

function renderOpenAI(r, body, stepNo) {
	const calls = (r.tool_calls || []).map((c, i) => ({id: c.id || `call_${stepNo}_${i}`, name: c.name,
		args: typeof c.args === 'string' ? c.args : JSON.stringify(c.args || {})}));
	const finish = r.stop || (calls.length ? 'tool_calls' : 'stop');
	const u = usageOf(r);
	const usage = {prompt_tokens: u.input + u.cache_read + u.cache_write, completion_tokens: u.output,
		total_tokens: u.input + u.cache_read + u.cache_write + u.output,
		prompt_tokens_details: {cached_tokens: u.cache_read, cache_write_tokens: u.cache_write}};
	const id = `chatcmpl-scripted-${stepNo}`;
	if (!body.stream) {
		const message = {role: 'assistant', content: r.text === undefined ? null : r.text, refusal: null};
		if (calls.length) message.tool_calls = calls.map(c => ({id: c.id, type: 'function', function: {name: c.name, arguments: c.args}}));
		return {json: {id, object: 'chat.completion', created: 1731000000, model: body.model,
			choices: [{index: 0, finish_reason: finish, logprobs: null, message}], usage}};
	}
	const chunk = (delta, fin) => ({data: {id, object: 'chat.completion.chunk', created: 1731000000, model: body.model,
		choices: [{index: 0, delta, finish_reason: fin === undefined ? null : fin}]}});
	const ev = [chunk({role: 'assistant', content: ''})];
	if (r.text) for (const t of pieces(r.text, 5)) ev.push(chunk({content: t}));
	calls.forEach((c, i) => {
		ev.push(chunk({tool_calls: [{index: i, id: c.id, type: 'function', function: {name: c.name, arguments: ''}}]}));
		for (const a of pieces(c.args, 7)) ev.push(chunk({tool_calls: [{index: i, function: {arguments: a}}]}));
	});
	ev.push(chunk({}, finish));
	if (body.stream_options && body.stream_options.include_usage)
		ev.push({data: {id, object: 'chat.completion.chunk', created: 1731000000, model: body.model, choices: [], usage}});
	ev.push({data: '[DONE]'});
	return {sse: ev};
}

function renderAnthropic(r, body, stepNo) {
	const calls = (r.tool_calls || []).map((c, i) => ({id: c.id || `toolu_${stepNo}_${i}`, name: c.name,
		input: typeof c.args === 'string' ? JSON.parse(c.args) : (c.args || {})}));
	const stop = r.stop || (calls.length ? 'tool_use' : 'end_turn');
	const u = usageOf(r);
	const id = `msg_scripted_${stepNo}`;
	const content = [];
	if (r.text) content.push({type: 'text', text: r.text});
	for (const c of calls) content.push({type: 'tool_use', id: c.id, name: c.name, input: c.input});
	const usage = {input_tokens: u.input, cache_creation_input_tokens: u.cache_write,
		cache_read_input_tokens: u.cache_read, output_tokens: u.output};
	if (!body.stream)
		return {json: {id, type: 'message', role: 'assistant', model: body.model, content,
			stop_reason: stop, stop_sequence: null, usage}};
	const ev = [{event: 'message_start', data: {type: 'message_start', message: {id, type: 'message', role: 'assistant',
		model: body.model, content: [], stop_reason: null, stop_sequence: null,
		usage: {input_tokens: u.input, cache_creation_input_tokens: u.cache_write, cache_read_input_tokens: u.cache_read, output_tokens: 1}}}},
	{event: 'ping', data: {type: 'ping'}}];
	content.forEach((b, index) => {
		if (b.type === 'text') {
			ev.push({event: 'content_block_start', data: {type: 'content_block_start', index, content_block: {type: 'text', text: ''}}});
			for (const t of pieces(b.text, 5))
				ev.push({event: 'content_block_delta', data: {type: 'content_block_delta', index, delta: {type: 'text_delta', text: t}}});
		} else {
			ev.push({event: 'content_block_start', data: {type: 'content_block_start', index,
				content_block: {type: 'tool_use', id: b.id, name: b.name, input: {}}}});
			const json = JSON.stringify(b.input);
			if (json !== '{}')
				for (const a of pieces(json, 7))
					ev.push({event: 'content_block_delta', data: {type: 'content_block_delta', index, delta: {type: 'input_json_delta', partial_json: a}}});
		}
		ev.push({event: 'content_block_stop', data: {type: 'content_block_stop', index}});
	});
	ev.push({event: 'message_delta', data: {type: 'message_delta', delta: {stop_reason: stop, stop_sequence: null}, usage: {output_tokens: u.output}}});
	ev.push({event: 'message_stop', data: {type: 'message_stop'}});
	return {sse: ev};
}

function errorBody(api, status, message) {
	if (api === 'anthropic')
		return {type: 'error', error: {type: status === 400 ? 'invalid_request_error' : 'api_error', message}};
	return {error: {message, type: status === 400 ? 'invalid_request_error' : 'server_error', param: null, code: null}};
}

// ---- serving ----

const sleep = ms => new Promise(res => setTimeout(res, ms));

function sseText(events) {
	return events.map(e => {
		const data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data);
		return (e.event ? `event: ${e.event}\n` : '') + `data: ${data}\n\n`;
	}).join('');
}

async function send(res, out) {
	if (out.delay_ms) await sleep(out.delay_ms);
	if (out.close) {
		res.socket.destroy();
		return;
	}
	const headers = Object.assign({}, out.headers || {});
	let text;
	if (out.sse || out.sse_raw !== undefined) {
		headers['content-type'] = headers['content-type'] || 'text/event-stream';
		text = out.sse_raw !== undefined ? out.sse_raw : sseText(out.sse);
	} else if (out.json !== undefined) {
		headers['content-type'] = headers['content-type'] || 'application/json';
		text = JSON.stringify(out.json);
	} else {
		headers['content-type'] = headers['content-type'] || 'text/plain';
		text = out.body || '';
	}
	if (out.cut_after !== undefined) text = text.slice(0, out.cut_after);
	res.writeHead(out.status || 200, headers);
	if (out.chunk_delay_ms || out.cut_after !== undefined || out.stall_ms) {
		for (const p of pieces(text, 64)) {
			res.write(p);
			if (out.chunk_delay_ms) await sleep(out.chunk_delay_ms);
		}
		if (out.stall_ms) await sleep(out.stall_ms);
		if (out.cut_after !== undefined) {
			res.socket.destroy();
			return;
		}
		res.end();
	} else {
		res.end(text);
	}
}

function countAssistant(body) {
	return (body.messages || []).filter(m => m.role === 'assistant').length;
}

async function handle(req, res, raw) {
	if (req.method === 'GET' && req.url === '/__status') {
		res.writeHead(200, {'content-type': 'application/json'});
		res.end(JSON.stringify({served, steps: steps.length, mismatches, done: next >= steps.length}));
		return;
	}
	const n = ++seq;
	const api = req.url.endsWith('/messages') ? 'anthropic' : req.url.endsWith('/chat/completions') ? 'openai' : null;
	let body = null;
	try { body = JSON.parse(raw); } catch (e) { body = null; }
	const entry = {seq: n, method: req.method, path: req.url, api, headers: req.headers, body: body === null ? raw : body};
	const fail = async (status, message) => {
		entry.error = message;
		mismatches.push({seq: n, message});
		log(entry);
		await send(res, {status, json: errorBody(api, status, `scripted server: ${message}`)});
	};
	if (!api) return fail(404, `no such endpoint ${req.url}`);
	if (!isObj(body)) return fail(400, 'the request body is not a JSON object');
	if ((req.headers['content-type'] || '').split(';')[0] !== 'application/json')
		return fail(400, `content-type is '${req.headers['content-type']}'`);
	if (strict) {
		const problems = api === 'openai' ? checkOpenAI(body, req.headers) : checkAnthropic(body, req.headers);
		if (problems.length) return fail(400, `request does not match the documented ${api} shape: ${problems.join('; ')}`);
	}
	let idx;
	if (scenario.mode === 'turn') idx = Math.min(countAssistant(body), steps.length - 1);
	else idx = next++;
	const step = steps[idx];
	entry.step = idx;
	if (!step) return fail(500, `scenario exhausted: request ${n} has no step (${steps.length} steps)`);
	const e = check(step.expect, req, body, raw);
	if (e) return fail(400, `step ${idx} (${step.name || 'unnamed'}): ${e}`);
	served++;
	log(entry);
	if (opts.latencyMs) await sleep(opts.latencyMs);
	if (step.reply) {
		const out = api === 'anthropic' ? renderAnthropic(step.reply, body, idx) : renderOpenAI(step.reply, body, idx);
		out.delay_ms = step.reply.delay_ms;
		return send(res, out);
	}
	return send(res, step.response || {status: 500, json: errorBody(api, 500, 'step without reply or response')});
}

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', c => chunks.push(c));
	req.on('end', () => {
		handle(req, res, Buffer.concat(chunks).toString('utf8')).catch(err => {
			try {
				res.writeHead(500, {'content-type': 'text/plain'});
				res.end(`scripted server crashed: ${err.stack}`);
			} catch (e) { /* the socket is gone */ }
		});
	});
});
server.keepAliveTimeout = 30000;
server.listen(opts.port, '127.0.0.1', () => {
	const port = server.address().port;
	if (opts.portFile) {
		fs.writeFileSync(opts.portFile + '.tmp', String(port));
		fs.renameSync(opts.portFile + '.tmp', opts.portFile);
	} else {
		console.log(port);
	}
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
