/*
 * nightshift web UI. Plain JavaScript, no framework, no external host.
 *
 * Everything shown is built with DOM calls that set text (never
 * innerHTML), so a task text or a comment that contains HTML or a script
 * is shown as text. The API token travels in the Authorization header
 * only; it is kept in localStorage and arrives once through the URL
 * fragment (#token=...), which the browser never sends to a server.
 */
'use strict';

const TOKEN_KEY = 'nightshift.token';
const main = () => document.getElementById('main');
/*
 * Where a page renders: the main element while its route is the current
 * one; once the user has gone on (@signal aborted), a detached element, so
 * that a page whose requests answer late cannot cover the newer page.
 */
const view = (signal) => (signal.aborted ? document.createElement('main') : main());
let pageAbort = null; /* aborts the streams and timers of the current page */

/* ---- DOM helpers ---- */

function h(tag, attrs, ...kids) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false) continue;
		if (k === 'class') el.className = v;
		else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
		else if (k === 'text') el.textContent = v;
		else if (k in el && typeof v !== 'string') el[k] = v;
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const kid of kids.flat()) {
		if (kid === null || kid === undefined || kid === false) continue;
		el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
	}
	return el;
}

function badge(state) {
	return h('span', {class: 'badge s-' + String(state).replace(/[^a-z_]/g, '')}, state);
}

function when(iso) {
	if (!iso) return '';
	const d = new Date(iso);
	return d.toLocaleString();
}

function ago(iso) {
	if (!iso) return '';
	const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
	if (s < 90) return Math.round(s) + 's ago';
	if (s < 5400) return Math.round(s / 60) + 'm ago';
	if (s < 172800) return Math.round(s / 3600) + 'h ago';
	return Math.round(s / 86400) + 'd ago';
}

function duration(ms) {
	if (ms < 1000) return ms + ' ms';
	if (ms < 120000) return (ms / 1000).toFixed(1) + ' s';
	return Math.round(ms / 60000) + ' min';
}

function say(msg, error) {
	const st = document.getElementById('status');
	st.replaceChildren(msg ? h('span', {class: error ? 'error' : ''}, msg) : '');
}

/* ---- the API ---- */

function token() {
	return localStorage.getItem(TOKEN_KEY) || '';
}

class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

async function api(method, path, body) {
	const opts = {method, headers: {Authorization: 'Bearer ' + token()}};
	if (body !== undefined) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	const res = await fetch(path, opts);
	let data = null;
	try {
		data = await res.json();
	} catch (e) {
		data = null;
	}
	if (res.status === 401) {
		showSignIn('The token was refused; paste the current one.');
		throw new ApiError(401, 'unauthorized', 'not signed in');
	}
	if (!res.ok) {
		const err = (data && data.error) || {};
		throw new ApiError(res.status, err.code || 'failed', err.message || res.statusText);
	}
	return data;
}

function enc(s) {
	return encodeURIComponent(s);
}

/*
 * Server-Sent Events over fetch (EventSource cannot send the token in a
 * header). Reconnects after a drop and resumes with Last-Event-ID.
 */
async function stream(path, onEvent, signal) {
	let last = null;
	while (!signal.aborted) {
		try {
			const headers = {Authorization: 'Bearer ' + token()};
			if (last !== null) headers['Last-Event-ID'] = last;
			const res = await fetch(path, {headers, signal});
			if (!res.ok || !res.body) throw new Error('stream failed: ' + res.status);
			const reader = res.body.getReader();
			const dec = new TextDecoder();
			let buf = '';
			for (;;) {
				const {value, done} = await reader.read();
				if (done) break;
				buf += dec.decode(value, {stream: true});
				let at;
				while ((at = buf.indexOf('\n\n')) >= 0) {
					const frame = buf.slice(0, at);
					buf = buf.slice(at + 2);
					let id = null, data = '';
					for (const line of frame.split('\n')) {
						if (line.startsWith('id: ')) id = line.slice(4);
						else if (line.startsWith('data: ')) data += line.slice(6);
					}
					if (id !== null) last = id;
					if (data) {
						try {
							onEvent(JSON.parse(data));
						} catch (e) {
							/* a malformed frame is skipped */
						}
					}
				}
			}
		} catch (e) {
			if (signal.aborted) return;
		}
		await new Promise((r) => setTimeout(r, 2000));
	}
}

/* Run @fn at most once per @ms. */
function debounce(fn, ms) {
	let t = null;
	return () => {
		if (t) return;
		t = setTimeout(() => {
			t = null;
			fn();
		}, ms);
	};
}

/* ---- Markdown, safely: a small subset rendered with text nodes ---- */

function inline(text) {
	const out = [];
	const re = /(`[^`]+`|\*\*[^*]+\*\*)/g;
	let at = 0, m;
	while ((m = re.exec(text))) {
		if (m.index > at) out.push(text.slice(at, m.index));
		const t = m[0];
		out.push(t[0] === '`' ? h('code', {}, t.slice(1, -1)) : h('strong', {}, t.slice(2, -2)));
		at = m.index + t.length;
	}
	if (at < text.length) out.push(text.slice(at));
	return out;
}

/* The cells of a Markdown table row "| a | b |" (an escaped \\| stays in its cell). */
function cells(line) {
	let t = line.trim();
	if (t.startsWith('|')) t = t.slice(1);
	if (t.endsWith('|') && !t.endsWith('\\|')) t = t.slice(0, -1);
	return t.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

const TABLE_ROW = /^\s*\|.*\|\s*$/;
const TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

function markdown(src) {
	const root = h('div', {class: 'md'});
	const lines = String(src || '').split('\n');
	let list = null, para = [];
	const flush = () => {
		if (para.length) root.append(h('p', {}, inline(para.join(' '))));
		para = [];
	};
	for (let i = 0; i < lines.length; i++) {
		const line = lines[i];
		let m;
		if (line.startsWith('```')) {
			flush();
			list = null;
			const code = [];
			while (++i < lines.length && !lines[i].startsWith('```')) code.push(lines[i]);
			root.append(h('pre', {}, h('code', {}, code.join('\n'))));
		} else if (TABLE_ROW.test(line) && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
			flush();
			list = null;
			const head = cells(line), rows = [];
			for (i += 2; i < lines.length && TABLE_ROW.test(lines[i]); i++) rows.push(cells(lines[i]));
			i--;
			root.append(h('table', {class: 'md-table'},
				h('thead', {}, h('tr', {}, head.map((c) => h('th', {scope: 'col'}, inline(c))))),
				h('tbody', {}, rows.map((r) => h('tr', {}, head.map((_, k) => h('td', {}, inline(r[k] || ''))))))));
		} else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
			flush();
			list = null;
			root.append(h(m[1].length <= 2 ? 'h3' : 'h4', {}, inline(m[2])));
		} else if ((m = /^\s*(?:[-*]|\d+\.)\s+(.*)$/.exec(line))) {
			flush();
			if (!list) {
				list = h(/^\s*\d/.test(line) ? 'ol' : 'ul');
				root.append(list);
			}
			list.append(h('li', {}, inline(m[1].replace(/^\[( |x)\]\s*/, (s, x) => (x === 'x' ? '☑ ' : '☐ ')))));
		} else if (!line.trim()) {
			flush();
			list = null;
		} else {
			list = null;
			para.push(line.trim());
		}
	}
	flush();
	return root;
}

/* ---- sign-in ---- */

function showSignIn(msg) {
	const input = h('input', {type: 'text', id: 'token', autocomplete: 'off', spellcheck: 'false', required: true});
	const form = h('form', {class: 'card signin', onsubmit: (e) => {
		e.preventDefault();
		localStorage.setItem(TOKEN_KEY, input.value.trim());
		route();
	}},
	h('h1', {}, 'Sign in'),
	h('p', {}, msg || 'Paste the API token of this nightshift daemon. It is in $NIGHTSHIFT_HOME/token on the host.'),
	h('div', {class: 'field'}, h('label', {for: 'token'}, 'API token'), input),
	h('button', {type: 'submit', class: 'primary'}, 'Sign in'));
	main().replaceChildren(form);
	document.getElementById('signout').hidden = true;
	input.focus();
}

/* ---- pages ---- */

async function pageTasks(signal, params) {
	const state = params.get('state') || '';
	const q = params.get('q') || '';
	const states = ['', 'queued', 'analyzing', 'running', 'waiting_input', 'paused', 'completed', 'failed', 'cancelled', 'expired'];
	const sel = h('select', {id: 'f-state', name: 'state'}, states.map((s) => h('option', {value: s, selected: s === state}, s || 'any')));
	const search = h('input', {type: 'search', id: 'f-q', name: 'q', value: q});
	const body = h('tbody');
	const filter = h('form', {class: 'row', role: 'search', onsubmit: (e) => {
		e.preventDefault();
		const p = new URLSearchParams();
		if (sel.value) p.set('state', sel.value);
		if (search.value) p.set('q', search.value);
		location.hash = '#/tasks' + (p.toString() ? '?' + p : '');
	}},
	h('div', {}, h('label', {for: 'f-state'}, 'State'), sel),
	h('div', {}, h('label', {for: 'f-q'}, 'Text'), search),
	h('button', {type: 'submit'}, 'Filter'));
	view(signal).replaceChildren(
		h('div', {class: 'row'}, h('h1', {tabindex: '-1'}, 'Tasks'), h('a', {href: '#/new', class: 'button'}, 'New task')),
		filter, h('p'),
		h('table', {id: 'tasks'}, h('caption', {class: 'muted left'}, 'Newest first'),
			h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Task'), h('th', {scope: 'col'}, 'State'),
				h('th', {scope: 'col'}, 'Progress'), h('th', {scope: 'col'}, 'Org'), h('th', {scope: 'col'}, 'Created'))),
			body));
	const load = async () => {
		const p = new URLSearchParams({limit: '100'});
		if (state) p.set('state', state);
		if (q) p.set('q', q);
		const data = await api('GET', '/api/tasks?' + p);
		body.replaceChildren(...data.tasks.map((t) => {
			const pr = t.progress;
			return h('tr', {'data-task': t.id},
				h('td', {class: 'title'}, h('a', {href: '#/tasks/' + t.id}, t.title), h('div', {class: 'muted'}, t.id)),
				h('td', {}, badge(t.state)),
				h('td', {}, pr.jobs ? [h('progress', {max: pr.jobs, value: pr.settled, 'aria-label': 'jobs settled'}), `${pr.settled}/${pr.jobs} jobs` + (pr.failed ? `, ${pr.failed} failed` : '')] : h('span', {class: 'muted'}, 'no jobs yet')),
				h('td', {}, t.org || ''),
				h('td', {}, h('time', {datetime: t.created_at, title: when(t.created_at)}, ago(t.created_at))));
		}));
		if (!data.tasks.length) body.append(h('tr', {}, h('td', {colspan: 5, class: 'empty'}, 'No tasks.')));
	};
	await load();
	const again = debounce(() => load().catch(() => {}), 500);
	stream('/api/events/stream', (ev) => {
		if (ev.kind.startsWith('task.') || ev.kind.startsWith('job.')) again();
	}, signal);
}

async function pageNew(signal) {
	const orgs = (await api('GET', '/api/orgs')).orgs;
	const text = h('textarea', {id: 'n-text', name: 'text', required: true, rows: 4, placeholder: 'Upgrade lodash 3 to 4 across every service, run the tests, open one PR per service'});
	const org = h('select', {id: 'n-org', name: 'org'}, h('option', {value: ''}, '(choose)'), orgs.map((o) => h('option', {value: o.name}, o.name)));
	const repos = h('div', {class: 'checks', id: 'n-repos'});
	const recipe = h('input', {type: 'text', id: 'n-recipe', name: 'recipe', placeholder: 'e.g. lodash-3-to-4'});
	const levels = ['integration', 'common', 'open', 'custom', 'none'];
	/* common, as "nightshift run": jobs install their dependencies from the registries */
	const network = h('select', {id: 'n-network', name: 'network'}, levels.map((l) => h('option', l === 'common' ? {value: l, selected: true} : {value: l}, l)));
	const fillRepos = () => {
		const o = orgs.find((x) => x.name === org.value);
		repos.replaceChildren(...(o ? o.repos : []).map((r, i) =>
			h('label', {}, h('input', {type: 'checkbox', name: 'repo', value: o.name + '/' + r, id: 'repo-' + i}), r)));
		if (!o) repos.append(h('span', {class: 'empty'}, 'Choose an org to pick repositories (none picked: the whole org).'));
	};
	org.addEventListener('change', fillRepos);
	if (orgs.length === 1) org.value = orgs[0].name;
	fillRepos();
	const submit = h('button', {type: 'submit', class: 'primary'}, 'Start task');
	const form = h('form', {class: 'card', id: 'new-task', onsubmit: async (e) => {
		e.preventDefault();
		const picked = [...repos.querySelectorAll('input:checked')].map((c) => c.value);
		const body = {text: text.value, network: network.value};
		if (org.value) body.org = org.value;
		if (picked.length) body.repos = picked;
		if (recipe.value.trim()) body.recipe = recipe.value.trim();
		submit.disabled = true;
		try {
			const res = await api('POST', '/api/tasks', body);
			say('Task ' + res.task.id + ' created.');
			location.hash = '#/tasks/' + res.task.id;
		} catch (err) {
			say(err.message, true);
			submit.disabled = false;
		}
	}},
	h('div', {class: 'field'}, h('label', {for: 'n-text'}, 'What should be done?'), text),
	h('div', {class: 'row'},
		h('div', {class: 'field'}, h('label', {for: 'n-org'}, 'Organisation'), org),
		h('div', {class: 'field'}, h('label', {for: 'n-recipe'}, 'Recipe ', h('span', {class: 'hint'}, '(optional)')), recipe),
		h('div', {class: 'field'}, h('label', {for: 'n-network'}, 'Network level'), network)),
	h('fieldset', {}, h('legend', {}, 'Repositories'), repos),
	submit);
	view(signal).replaceChildren(h('h1', {tabindex: '-1'}, 'New task'), form);
}

function specSection(spec) {
	const sec = h('section', {id: 'spec', 'aria-labelledby': 'spec-h'}, h('h2', {id: 'spec-h'}, 'Spec'));
	if (!spec) {
		sec.append(h('p', {class: 'empty'}, 'No spec yet: it is written during analysis.'));
		return sec;
	}
	const item = (v) => {
		if (typeof v !== 'object' || v === null) return String(v);
		const parts = [];
		for (const [k, x] of Object.entries(v)) parts.push(k + ': ' + (typeof x === 'object' ? JSON.stringify(x) : String(x)));
		return parts.join(' · ');
	};
	if (spec.spec) {
		const s = spec.spec;
		for (const [key, title] of [['requirements', 'Requirements'], ['acceptance_criteria', 'Acceptance criteria'], ['plan', 'Plan']]) {
			const v = s[key];
			sec.append(h('h3', {}, title));
			if (Array.isArray(v) && v.length) sec.append(h(key === 'plan' ? 'ol' : 'ul', {class: 'spec-' + key}, v.map((x) => h('li', {}, item(x)))));
			else if (typeof v === 'string') sec.append(markdown(v));
			else sec.append(h('p', {class: 'empty'}, 'none'));
		}
	} else {
		sec.append(markdown(spec.body));
	}
	sec.append(h('p', {class: 'muted'}, 'Version ' + spec.version));
	return sec;
}

function jobCard(j) {
	const risk = j.risk === null || j.risk === undefined ? null : typeof j.risk === 'object' ? (j.risk.score !== undefined ? j.risk.score : JSON.stringify(j.risk)) : j.risk;
	return h('article', {class: 'card job', 'data-job': j.id, 'aria-label': 'job ' + j.repo},
		h('h3', {}, j.repo),
		h('div', {class: 'row'}, badge(j.state), risk !== null ? h('span', {class: 'risk'}, 'risk ' + risk) : null,
			j.attempt ? h('span', {class: 'muted'}, 'attempt ' + (j.attempt + 1)) : null),
		j.progress !== null && j.progress !== undefined ? h('progress', {max: 1, value: j.progress, 'aria-label': 'progress of ' + j.repo}) : null,
		j.error ? h('p', {class: 'error'}, j.error) : null,
		j.pr ? h('p', {}, h('a', {href: `#/prs/${j.pr.org}/${j.pr.repo}/${j.pr.number}`}, `PR ${j.pr.org}/${j.pr.repo}#${j.pr.number}`), ' ', badge(j.pr.state)) : null,
		j.steps.length ? h('ul', {class: 'steps', 'aria-label': 'steps'}, j.steps.map((s) => h('li', {}, h('span', {}, s.name), h('span', {class: 'muted'}, duration(s.duration_ms))))) : h('p', {class: 'muted'}, j.step ? 'last step: ' + j.step : 'not started'));
}

function eventLine(ev) {
	const d = ev.data || {};
	let what = '';
	if (d.from || d.to) what = (d.from ? d.from + ' → ' : '') + (d.to || '');
	if (d.repo) what += (what ? ' ' : '') + d.repo + (d.number ? '#' + d.number : '');
	if (d.text) what += (what ? ': ' : '') + d.text;
	else if (d.reason) what += (what ? ': ' : '') + d.reason;
	else if (d.message) what += (what ? ': ' : '') + d.message;
	else if (d.title && !what) what = d.title;
	return h('li', {'data-event': ev.id}, h('time', {datetime: ev.time}, new Date(ev.time).toLocaleTimeString()),
		h('span', {class: 'kind'}, ev.kind), ' ', what);
}

async function pageTask(signal, id) {
	const header = h('div');
	const controls = h('section', {'aria-labelledby': 'ctl-h'});
	const jobs = h('div', {class: 'grid', id: 'jobs'});
	const specBox = h('div');
	const log = h('ol', {class: 'log', id: 'log', 'aria-live': 'polite', 'aria-label': 'event log'});
	view(signal).replaceChildren(header, controls,
		h('div', {class: 'two'},
			h('div', {}, h('h2', {}, 'Jobs'), jobs, specBox),
			h('section', {'aria-labelledby': 'log-h'}, h('h2', {id: 'log-h'}, 'Live events'), h('div', {class: 'card'}, log))));
	let specVersion = undefined;
	const control = async (kind, body) => {
		try {
			const res = await api('POST', `/api/tasks/${id}/${kind}`, body || {});
			say(res.control.message);
		} catch (err) {
			say(err.message, true);
		}
		await load();
	};
	const textForm = (kind, label, field, placeholder) => {
		const inp = h('input', {type: 'text', id: 'c-' + kind, name: field, placeholder, required: true});
		return h('form', {onsubmit: (e) => {
			e.preventDefault();
			control(kind, {[field]: inp.value}).then(() => { inp.value = ''; });
		}}, h('div', {}, h('label', {for: 'c-' + kind}, label), inp), h('button', {type: 'submit'}, label));
	};
	const load = async () => {
		const data = await api('GET', '/api/tasks/' + id);
		const t = data.task;
		const o = t.options || {};
		header.replaceChildren(
			h('h1', {tabindex: '-1'}, t.title),
			h('dl', {class: 'meta'},
				h('div', {}, h('dt', {}, 'State'), h('dd', {id: 'task-state'}, badge(t.state))),
				h('div', {}, h('dt', {}, 'Task'), h('dd', {}, t.id)),
				h('div', {}, h('dt', {}, 'Org'), h('dd', {}, t.org || '—')),
				o.repos ? h('div', {}, h('dt', {}, 'Repositories'), h('dd', {}, o.repos.join(', '))) : null,
				h('div', {}, h('dt', {}, 'Brain'), h('dd', {}, t.brain || '—')),
				h('div', {}, h('dt', {}, 'Recipe'), h('dd', {}, t.recipe || o.recipe || '—')),
				h('div', {}, h('dt', {}, 'Network'), h('dd', {}, t.network)),
				t.deadline ? h('div', {}, h('dt', {}, 'Deadline'), h('dd', {}, when(t.deadline))) : null,
				t.error ? h('div', {}, h('dt', {}, 'Error'), h('dd', {class: 'error'}, t.error)) : null));
		/*
		 * The controls are built once and only updated here, so that an
		 * event arriving while someone types does not wipe their text.
		 */
		const final = ['completed', 'failed', 'cancelled'].includes(t.state);
		if (!controls.firstChild) {
			controls.append(h('h2', {id: 'ctl-h', class: 'sr'}, 'Controls'),
				h('div', {class: 'controls'},
					h('button', {type: 'button', id: 'c-pause', onclick: () => control('pause')}, 'Pause'),
					h('button', {type: 'button', id: 'c-resume', onclick: () => control('resume')}, 'Resume'),
					h('button', {type: 'button', id: 'c-cancel', class: 'danger', onclick: () => {
						if (confirm('Cancel this task? Running jobs are stopped.')) control('cancel');
					}}, 'Cancel'),
					textForm('extend', 'Extend', 'duration', 'e.g. 2h'),
					textForm('steer', 'Steer', 'text', 'an instruction for the agents')),
				h('div', {id: 'question', class: 'card', hidden: true},
					h('p', {}, h('strong', {}, 'Question: '), h('span', {id: 'question-text'})),
					textForm('answer', 'Answer', 'text', 'your answer')));
		}
		controls.querySelector('#c-pause').disabled = final || t.state === 'paused';
		controls.querySelector('#c-resume').disabled = t.state !== 'paused';
		controls.querySelector('#c-cancel').disabled = final;
		for (const b of controls.querySelectorAll('form button')) b.disabled = final;
		controls.querySelector('#question').hidden = t.state !== 'waiting_input';
		controls.querySelector('#question-text').textContent =
			(data.question && (data.question.text || data.question.question)) || 'the task waits for your answer';
		jobs.replaceChildren(...data.jobs.map(jobCard));
		if (!data.jobs.length) jobs.append(h('p', {class: 'empty'}, 'No jobs yet: analysis creates one per repository.'));
		if (data.spec_version !== specVersion) {
			specVersion = data.spec_version;
			let spec = null;
			if (specVersion) spec = await api('GET', `/api/tasks/${id}/spec`).catch(() => null);
			specBox.replaceChildren(specSection(spec));
		}
	};
	await load();
	const again = debounce(() => load().catch(() => {}), 300);
	stream(`/api/tasks/${id}/stream`, (ev) => {
		log.append(eventLine(ev));
		log.scrollTop = log.scrollHeight;
		if (!ev.kind.startsWith('job.log')) again();
	}, signal);
}

async function pagePrs(signal, params) {
	const state = params.get('state') || '';
	const sel = h('select', {id: 'p-state'}, ['', 'open', 'draft', 'merged', 'closed'].map((s) => h('option', {value: s, selected: s === state}, s || 'any')));
	sel.addEventListener('change', () => { location.hash = '#/prs' + (sel.value ? '?state=' + sel.value : ''); });
	const data = await api('GET', '/api/prs' + (state ? '?state=' + enc(state) : ''));
	view(signal).replaceChildren(h('h1', {tabindex: '-1'}, 'Pull requests'),
		h('div', {class: 'row'}, h('div', {}, h('label', {for: 'p-state'}, 'State'), sel)), h('p'),
		h('table', {}, h('thead', {}, h('tr', {}, ['Pull request', 'State', 'Task', 'Updated'].map((x) => h('th', {scope: 'col'}, x)))),
			h('tbody', {}, data.prs.length ? data.prs.map((p) => h('tr', {},
				h('td', {class: 'title'}, h('a', {href: `#/prs/${p.org}/${p.repo}/${p.number}`}, p.title), h('div', {class: 'muted'}, p.ref)),
				h('td', {}, badge(p.state)),
				h('td', {}, p.task ? h('a', {href: '#/tasks/' + p.task}, p.task) : ''),
				h('td', {}, ago(p.updated_at)))) : h('tr', {}, h('td', {colspan: 4, class: 'empty'}, 'No pull requests.')))));
}

/* The diff as a table; lines of the new side get a button for an inline comment. */
function diffTable(text, onComment) {
	const body = h('tbody');
	let file = null, oldN = 0, newN = 0;
	for (const line of text.split('\n')) {
		let m;
		if (line.startsWith('diff --git ')) {
			m = / b\/(.*)$/.exec(line);
			file = m ? m[1] : null;
			body.append(h('tr', {class: 'file'}, h('td', {colspan: 4}, file || line)));
		} else if ((m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line))) {
			oldN = +m[1];
			newN = +m[2];
			body.append(h('tr', {class: 'hunk'}, h('td', {colspan: 4}, line)));
		} else if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('index ') || line.startsWith('new file') || line.startsWith('deleted file')) {
			continue;
		} else if (file && (line[0] === '+' || line[0] === ' ' || line[0] === '-')) {
			const kind = line[0] === '+' ? 'add' : line[0] === '-' ? 'del' : 'ctx';
			const o = kind === 'add' ? '' : oldN++;
			const n = kind === 'del' ? '' : newN++;
			const path = file, lineNo = n;
			const row = h('tr', {class: kind},
				h('td', {class: 'n'}, o), h('td', {class: 'n'}, n),
				h('td', {class: 'b'}, n !== '' ? h('button', {type: 'button', 'aria-label': `add a comment on ${path} line ${lineNo}`, title: 'Comment on this line', onclick: () => onComment(row, path, lineNo)}, '+') : ''),
				h('td', {class: 't'}, line));
			body.append(row);
		}
	}
	return h('table', {class: 'diff', 'aria-label': 'diff'}, body);
}

async function pagePr(signal, org, repo, number) {
	const base = `/api/prs/${enc(org)}/${enc(repo)}/${number}`;
	const [{pr}, {diff}, {comments}] = await Promise.all([api('GET', base), api('GET', base + '/diff'), api('GET', base + '/comments')]);
	const pending = [];
	const pendingList = h('ul', {id: 'pending'});
	const renderPending = () => pendingList.replaceChildren(...pending.map((c, i) =>
		h('li', {}, `${c.path}:${c.line} — `, c.body, ' ', h('button', {type: 'button', class: 'link', onclick: () => { pending.splice(i, 1); renderPending(); }}, 'remove'))));
	const onComment = (row, path, line) => {
		if (row.nextSibling && row.nextSibling.classList && row.nextSibling.classList.contains('inline')) return;
		const id = `inl-${path}-${line}`.replace(/[^a-zA-Z0-9-]/g, '_');
		const ta = h('textarea', {id, rows: 2});
		const box = h('tr', {class: 'inline'}, h('td', {colspan: 4},
			h('label', {for: id}, `Comment on ${path} line ${line}`), ta,
			h('button', {type: 'button', onclick: () => {
				if (!ta.value.trim()) return;
				pending.push({path, line, body: ta.value});
				renderPending();
				box.remove();
				say('Inline comment added to the review.');
			}}, 'Add to review'),
			' ', h('button', {type: 'button', class: 'link', onclick: () => box.remove()}, 'Discard')));
		row.after(box);
		ta.focus();
	};
	const text = h('textarea', {id: 'r-body', rows: 4});
	const verdicts = [['comment', 'Comment'], ['request_changes', 'Request changes'], ['approve', 'Approve']];
	const radios = verdicts.map(([v, l], i) => h('label', {class: 'radio'},
		h('input', {type: 'radio', name: 'verdict', value: v, checked: i === 0}), l));
	const open = pr.state === 'open' || pr.state === 'draft';
	const review = h('form', {class: 'card', id: 'review', onsubmit: async (e) => {
		e.preventDefault();
		const verdict = review.querySelector('input[name=verdict]:checked').value;
		try {
			await api('POST', base + '/review', {verdict, body: text.value, comments: pending});
			say('Review sent: the feedback goes to the task.');
			route();
		} catch (err) {
			say(err.message, true);
		}
	}},
	h('h2', {}, 'Review'),
	h('div', {class: 'field'}, h('label', {for: 'r-body'}, 'Your review'), text),
	h('fieldset', {}, h('legend', {}, 'Verdict'), radios),
	h('p', {class: 'muted'}, 'Inline comments (use + next to a diff line):'), pendingList,
	h('button', {type: 'submit', class: 'primary'}, 'Send review'));
	const act = async (what) => {
		try {
			await api('POST', `${base}/${what}`, {});
			say(`Pull request ${what === 'merge' ? 'merged' : 'closed'}.`);
			route();
		} catch (err) {
			say(err.message, true);
		}
	};
	view(signal).replaceChildren(
		h('h1', {tabindex: '-1'}, pr.title),
		h('dl', {class: 'meta'},
			h('div', {}, h('dt', {}, 'Pull request'), h('dd', {}, pr.ref)),
			h('div', {}, h('dt', {}, 'State'), h('dd', {id: 'pr-state'}, badge(pr.state))),
			h('div', {}, h('dt', {}, 'Branch'), h('dd', {}, `${pr.head} → ${pr.base}`)),
			h('div', {}, h('dt', {}, 'Author'), h('dd', {}, pr.author)),
			pr.task ? h('div', {}, h('dt', {}, 'Task'), h('dd', {}, h('a', {href: '#/tasks/' + pr.task}, pr.task))) : null),
		open ? h('div', {class: 'controls'},
			h('button', {type: 'button', id: 'pr-merge', onclick: () => act('merge')}, 'Merge'),
			h('button', {type: 'button', id: 'pr-close', class: 'danger', onclick: () => act('close')}, 'Close')) : null,
		h('section', {class: 'card', id: 'pr-body', 'aria-label': 'description'}, markdown(pr.body || '_no description_')),
		h('h2', {}, 'Conversation'),
		h('ul', {class: 'comments', id: 'comments'}, comments.length ? comments.map((c) => h('li', {class: 'card'},
			h('div', {class: 'muted'}, `${c.author} · ${c.kind.replace('_', ' ')}` + (c.path ? ` · ${c.path}:${c.line}` : '') + ' · ' + ago(c.created_at)),
			markdown(c.body))) : h('li', {class: 'empty'}, 'No comments yet.')),
		review,
		h('h2', {}, 'Changes'),
		h('div', {class: 'card'}, diff ? diffTable(diff, onComment) : h('p', {class: 'empty'}, 'No changes.')));
}

async function pageMemory(signal) {
	const list = h('tbody');
	const showAll = h('input', {type: 'checkbox', id: 'memory-all'});
	/* Forget or promote rule @m, after a confirmation. */
	const act = async (m, what, question, done) => {
		if (!confirm(question)) return;
		try {
			await api('POST', `/api/memories/${m.id}/${what}`, {});
			say(done);
		} catch (err) {
			say(err.message, true);
		}
		load();
	};
	/* Where a rule came from: each source's reviewer, pull request, comment, task and date. */
	const provenance = (m) => {
		const srcs = m.sources && m.sources.length ? m.sources : [Object.assign({reviewer: (m.source || {}).author}, m.source || {})];
		return h('ul', {class: 'plain'}, srcs.map((s) => h('li', {},
			s.reviewer ? String(s.reviewer) : '',
			s.pr ? ' · ' + String(s.pr) : '',
			s.comment ? ' comment ' + s.comment : '',
			s.task ? [' · ', h('a', {href: '#/tasks/' + s.task}, s.task)] : '',
			s.at ? ' · ' + when(s.at) : '')));
	};
	const load = async () => {
		const data = await api('GET', '/api/memories?limit=500');
		const rows = data.memories.filter((m) => showAll.checked || m.state === 'active' || m.state === 'proposed');
		list.replaceChildren(...rows.map((m) => {
			const conflicts = (m.conflicts || []).map((c) => h('div', {class: 'muted'}, c.reason));
			const kind = m.kind === 'preference' ? `${m.recipe}: ${m.choice} = ${m.alt}` : 'text';
			const live = m.state !== 'forgotten';
			return h('tr', {'data-memory': m.id},
				h('td', {class: 'title'}, m.rule, h('div', {class: 'muted'}, kind), conflicts),
				h('td', {}, m.why || (m.scope + (m.scope_value ? ': ' + m.scope_value : ''))),
				h('td', {}, badge(m.state), m.superseded_by ? h('div', {class: 'muted'}, 'by rule ' + m.superseded_by) : null),
				h('td', {}, provenance(m)),
				h('td', {}, String(m.uses), m.last_used_at ? h('div', {class: 'muted'}, ago(m.last_used_at)) : null),
				h('td', {class: 'actions'},
					live && m.scope !== 'org' ? h('button', {type: 'button', 'aria-label': 'promote rule ' + m.id,
						onclick: () => act(m, 'promote', 'Apply this rule to the whole organisation?', 'Rule promoted.')}, 'Promote') : null,
					live ? h('button', {type: 'button', class: 'danger', 'aria-label': 'forget rule ' + m.id,
						onclick: () => act(m, 'forget', 'Forget this rule? It will no longer be applied.', 'Rule forgotten.')}, 'Forget') : null));
		}));
		if (!rows.length) list.append(h('tr', {}, h('td', {colspan: 6, class: 'empty'}, 'No learned rules yet.')));
	};
	showAll.addEventListener('change', load);
	view(signal).replaceChildren(h('h1', {tabindex: '-1'}, 'Memory'),
		h('p', {class: 'muted'}, 'Rules learned from review feedback: where they apply, who gave them, and how often they were used.'),
		h('p', {class: 'check'}, showAll, ' ', h('label', {for: 'memory-all'}, 'Show forgotten, expired and superseded rules')),
		h('table', {}, h('thead', {}, h('tr', {}, ['Rule', 'Scope', 'State', 'Provenance', 'Uses', ''].map((x) => h('th', {scope: 'col'}, x)))), list));
	await load();
}

async function pageOrgs(signal) {
	const {orgs} = await api('GET', '/api/orgs');
	const {secrets} = await api('GET', '/api/secrets');
	view(signal).replaceChildren(h('h1', {tabindex: '-1'}, 'Repositories'),
		orgs.length ? orgs.map((o) => h('section', {class: 'card gap'},
			h('h2', {}, o.name, ' ', h('span', {class: 'muted'}, `(${o.forge}, ${o.repos.length} repositories)`)),
			h('p', {}, o.repos.join(', ')))) : h('p', {class: 'empty'}, 'No organisations: run "nightshift demo init" or "nightshift forge import".'),
		h('h2', {}, 'Secrets'),
		h('p', {class: 'muted'}, 'Names only; values never leave the vault.'),
		secrets.length ? h('ul', {}, secrets.map((s) => h('li', {}, s.name, ' ', h('span', {class: 'muted'}, s.scope)))) : h('p', {class: 'empty'}, 'No secrets.'));
}

/* ---- routing ---- */

async function route() {
	if (pageAbort) pageAbort.abort();
	pageAbort = new AbortController();
	const signal = pageAbort.signal;
	const m0 = /^#token=([A-Za-z0-9._-]+)/.exec(location.hash);
	if (m0) {
		localStorage.setItem(TOKEN_KEY, m0[1]);
		history.replaceState(null, '', location.pathname + '#/tasks');
	}
	if (!token()) return showSignIn();
	document.getElementById('signout').hidden = false;
	const [path, query] = (location.hash.slice(1) || '/tasks').split('?');
	const params = new URLSearchParams(query || '');
	const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
	for (const a of document.querySelectorAll('[data-nav]')) {
		if (a.dataset.nav === (parts[0] || 'tasks')) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
	say('');
	try {
		if (!parts.length || (parts[0] === 'tasks' && parts.length === 1)) await pageTasks(signal, params);
		else if (parts[0] === 'tasks' && parts.length === 2) await pageTask(signal, parts[1]);
		else if (parts[0] === 'new') await pageNew(signal);
		else if (parts[0] === 'prs' && parts.length === 1) await pagePrs(signal, params);
		else if (parts[0] === 'prs' && parts.length === 4) await pagePr(signal, parts[1], parts[2], parts[3]);
		else if (parts[0] === 'memory') await pageMemory(signal);
		else if (parts[0] === 'orgs') await pageOrgs(signal);
		else main().replaceChildren(h('h1', {tabindex: '-1'}, 'Not found'), h('p', {}, h('a', {href: '#/tasks'}, 'Back to the tasks')));
		if (signal.aborted) return;
		const h1 = main().querySelector('h1');
		if (h1 && document.activeElement === document.body) h1.focus();
	} catch (err) {
		if (!signal.aborted && err.status !== 401) {
			main().replaceChildren(h('h1', {tabindex: '-1'}, 'Error'), h('p', {class: 'error'}, err.message));
			say(err.message, true);
		}
	}
}

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
	document.getElementById('signout').addEventListener('click', () => {
		localStorage.removeItem(TOKEN_KEY);
		showSignIn('Signed out.');
	});
	route();
});
