#!/usr/bin/env node
// A fake GitHub for tests: the REST routes nightshift uses, checked against
// GitHub's published OpenAPI description, git smart HTTP for the
// repositories, and an admin API to seed state and read what was sent.
// See tests/github/README.md. Node 20, no dependencies.
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn, execFileSync } = require('child_process');

// ---- options ----

const opts = { dir: null, openapi: null, tokens: [], log: null };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === '--dir') { opts.dir = v; i++; }
  else if (a === '--openapi') { opts.openapi = v; i++; }
  else if (a === '--token') { opts.tokens.push(v); i++; }
  else if (a === '--log') { opts.log = v; i++; }
  else { console.error(`fake-github: unknown option '${a}'`); process.exit(2); }
}
if (!opts.dir) { console.error('usage: fake-github.js --dir DIR [--openapi FILE] [--token T]... [--log FILE]'); process.exit(2); }
fs.mkdirSync(path.join(opts.dir, 'git'), { recursive: true });
const GIT_ROOT = path.join(opts.dir, 'git');
const LOG = opts.log || path.join(opts.dir, 'requests.jsonl');

// ---- OpenAPI ----

let spec = null;
const templates = []; // {key, re, literals}
if (opts.openapi) {
  spec = JSON.parse(fs.readFileSync(opts.openapi, 'utf8'));
  for (const key of Object.keys(spec.paths)) {
    const segs = key.split('/').slice(1);
    // a trailing {path} (contents) or {ref} (git refs) may hold slashes, as on GitHub
    const re = new RegExp('^/' + segs.map((s, i) => s.startsWith('{') ? (i === segs.length - 1 && (s === '{path}' || s === '{ref}') ? '.+' : '[^/]+') : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('/') + '$');
    templates.push({ key, re, literals: segs.filter(s => !s.startsWith('{')).length, segs: segs.length });
  }
  templates.sort((a, b) => b.literals - a.literals || b.segs - a.segs);
}

function deref(o, depth = 0) {
  while (o && o.$ref && depth++ < 20) {
    o = o.$ref.replace(/^#\//, '').split('/').reduce((x, k) => x[k], spec);
  }
  return o;
}

function typeOk(schema, v) {
  schema = deref(schema);
  if (!schema || v === undefined) return true;
  if (schema.oneOf || schema.anyOf) return true;
  if (v === null) return schema.nullable === true || schema.type === undefined;
  switch (schema.type) {
    case 'string': return typeof v === 'string' && (!schema.enum || schema.enum.includes(v));
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    case 'array': return Array.isArray(v) && v.every(x => typeOk(schema.items, x));
    case 'object': return typeof v === 'object' && !Array.isArray(v);
    default: return true;
  }
}

// The problems of one request against the description; [] when it conforms.
function checkOpenapi(method, pathname, query, body, rawBody) {
  if (!spec) return [];
  const t = templates.find(x => x.re.test(pathname));
  if (!t) return [`no path template matches ${pathname}`];
  const item = spec.paths[t.key];
  const op = item[method.toLowerCase()];
  if (!op) return [`${method} is not a method of ${t.key}`];
  const problems = [];
  const params = [...(item.parameters || []), ...(op.parameters || [])].map(p => deref(p));
  const queryNames = new Set(params.filter(p => p.in === 'query').map(p => p.name));
  for (const k of Object.keys(query)) if (!queryNames.has(k)) problems.push(`unknown query parameter '${k}' for ${method} ${t.key}`);
  for (const p of params) if (p.in === 'query' && p.required && !(p.name in query)) problems.push(`missing query parameter '${p.name}'`);
  const rb = deref(op.requestBody);
  const schema = rb && rb.content && rb.content['application/json'] && deref(rb.content['application/json'].schema);
  if (rawBody.length && body === undefined) problems.push('the body is not JSON');
  if (rb && rb.required && !rawBody.length) problems.push(`${method} ${t.key} needs a body`);
  if (!rb && rawBody.length && rawBody.toString().trim() !== '{}' && rawBody.toString().trim() !== '') problems.push(`${method} ${t.key} takes no body`);
  if (schema && body !== undefined && schema.type === 'object') {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) problems.push('the body is not an object');
    else {
      for (const k of schema.required || []) if (!(k in body)) problems.push(`missing required field '${k}' for ${method} ${t.key}`);
      const props = schema.properties || {};
      for (const [k, v] of Object.entries(body)) {
        if (!(k in props)) {
          if (schema.additionalProperties === false) problems.push(`unknown field '${k}' for ${method} ${t.key}`);
        } else if (!typeOk(props[k], v)) problems.push(`field '${k}' has the wrong type for ${method} ${t.key}`);
      }
    }
  }
  return problems;
}

// ---- state ----

const state = {
  tokens: new Set(opts.tokens),
  owners: new Map(),   // login -> {login, type: 'Organization'|'User', id}
  repos: new Map(),    // "o/r" -> repo
  app: null,           // {app_id, public_key, installation_id}
  faults: { primary: 0, primary_reset_in: 3600, secondary: 0, retry_after: 1, git_delay_ms: 0 },
  remaining: 5000,
  nextId: 1000,
  clock: Date.now() - 60000,
};
const requests = [];
const violations = [];

function now() {
  // strictly increasing timestamps, second resolution like GitHub's
  state.clock = Date.now();
  return new Date(Math.floor(state.clock / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
function newId() { return state.nextId++; }

function git(args, opt = {}) {
  return execFileSync('git', args, { encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LC_ALL: 'C' }, ...opt });
}
function gitTry(args, opt) { try { return git(args, opt).trim(); } catch { return null; } }

function ensureOwner(login, type) {
  if (!state.owners.has(login)) state.owners.set(login, { login, id: newId(), type: type || 'Organization' });
  return state.owners.get(login);
}

function bareOf(r) { return path.join(GIT_ROOT, r.owner, r.name + '.git'); }

function createRepo(o) {
  const owner = ensureOwner(o.owner, o.owner_type);
  const key = `${o.owner}/${o.name}`;
  if (state.repos.has(key)) throw new Error(`repository ${key} exists`);
  const r = {
    id: newId(), owner: o.owner, name: o.name, default_branch: o.default_branch || 'main',
    private: !!o.private, language: o.language || null, created_at: now(),
    issues: new Map(), next: 1, comments: [], review_comments: [], reviews: [],
    collaborators: new Map(Object.entries(o.collaborators || {})), ownerRec: owner,
  };
  const bare = bareOf(r);
  fs.mkdirSync(path.dirname(bare), { recursive: true });
  git(['init', '--bare', '-q', '-b', r.default_branch, bare]);
  git(['-C', bare, 'config', 'http.receivepack', 'true']);
  const files = o.files || { 'README.md': `# ${o.name}\n` };
  const work = fs.mkdtempSync(path.join(opts.dir, 'seed-'));
  git(['init', '-q', '-b', r.default_branch, work]);
  for (const [p, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(work, p)), { recursive: true });
    fs.writeFileSync(path.join(work, p), content);
  }
  git(['-C', work, 'add', '-A']);
  git(['-C', work, '-c', 'user.name=seed', '-c', 'user.email=seed@example.com', 'commit', '-q', '-m', 'initial']);
  git(['-C', work, 'push', '-q', bare, `HEAD:refs/heads/${r.default_branch}`]);
  fs.rmSync(work, { recursive: true, force: true });
  state.repos.set(key, r);
  return r;
}

function user(login) {
  return { login, id: 1, type: login.endsWith('[bot]') ? 'Bot' : 'User' };
}

// ---- JSON forms ----

let BASE = '';
function repoJson(r) {
  return {
    id: r.id, node_id: `R_${r.id}`, name: r.name, full_name: `${r.owner}/${r.name}`, private: r.private,
    owner: { login: r.owner, id: r.ownerRec.id, type: r.ownerRec.type },
    html_url: `${BASE}/${r.owner}/${r.name}`, clone_url: `${BASE}/${r.owner}/${r.name}.git`,
    default_branch: r.default_branch, language: r.language, created_at: r.created_at,
    pushed_at: r.created_at, url: `${BASE}/repos/${r.owner}/${r.name}`,
  };
}
function headSha(r, branch) { return gitTry(['-C', bareOf(r), 'rev-parse', '--verify', '-q', `refs/heads/${branch}`]); }
function issueJson(r, i) {
  const o = {
    id: i.id, node_id: `I_${i.id}`, number: i.number, title: i.title, body: i.body, state: i.state,
    labels: i.labels.map(name => ({ name })), user: user(i.user), created_at: i.created_at,
    updated_at: i.updated_at, html_url: `${BASE}/${r.owner}/${r.name}/issues/${i.number}`,
    url: `${BASE}/repos/${r.owner}/${r.name}/issues/${i.number}`, author_association: 'OWNER',
  };
  if (i.pr) o.pull_request = { url: `${BASE}/repos/${r.owner}/${r.name}/pulls/${i.number}`, html_url: `${BASE}/${r.owner}/${r.name}/pull/${i.number}`, merged_at: i.pr.merged_at || null };
  return o;
}
function prJson(r, i) {
  return {
    id: i.pr.id, node_id: i.pr.node_id, number: i.number, title: i.title, body: i.body,
    state: i.state, draft: i.pr.draft, merged: !!i.pr.merged_at, merged_at: i.pr.merged_at || null,
    labels: i.labels.map(name => ({ name })), user: user(i.user), created_at: i.created_at, updated_at: i.updated_at,
    html_url: `${BASE}/${r.owner}/${r.name}/pull/${i.number}`,
    head: { ref: i.pr.head, sha: headSha(r, i.pr.head) || i.pr.head_sha, repo: repoJson(r) },
    base: { ref: i.pr.base, sha: headSha(r, i.pr.base), repo: repoJson(r) },
  };
}
function commentJson(r, c) {
  return { id: c.id, node_id: `IC_${c.id}`, body: c.body, user: user(c.user), created_at: c.created_at, updated_at: c.updated_at,
    html_url: `${BASE}/${r.owner}/${r.name}/issues/${c.issue}#issuecomment-${c.id}`,
    issue_url: `${BASE}/repos/${r.owner}/${r.name}/issues/${c.issue}`, author_association: c.association || 'OWNER' };
}
function reviewCommentJson(r, c) {
  return { id: c.id, node_id: `RC_${c.id}`, pull_request_review_id: c.review_id || null, body: c.body, path: c.path,
    line: c.line, side: 'RIGHT', commit_id: c.commit_id, in_reply_to_id: c.in_reply_to_id, user: user(c.user),
    created_at: c.created_at, updated_at: c.updated_at, diff_hunk: '@@ -1 +1 @@',
    html_url: `${BASE}/${r.owner}/${r.name}/pull/${c.pull}#discussion_r${c.id}`,
    pull_request_url: `${BASE}/repos/${r.owner}/${r.name}/pulls/${c.pull}`, author_association: 'OWNER' };
}
function reviewJson(r, v) {
  return { id: v.id, node_id: `PRR_${v.id}`, user: user(v.user), body: v.body, state: v.state, commit_id: v.commit_id,
    submitted_at: v.submitted_at, html_url: `${BASE}/${r.owner}/${r.name}/pull/${v.pull}#pullrequestreview-${v.id}`,
    author_association: 'OWNER' };
}

// ---- HTTP helpers ----

function send(res, status, obj, headers = {}) {
  const body = obj === undefined ? '' : JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(body);
  return { status, body };
}

function paginate(req, url, items) {
  const per = Math.min(Math.max(parseInt(url.searchParams.get('per_page') || '30', 10) || 30, 1), 100);
  const page = Math.max(parseInt(url.searchParams.get('page') || '1', 10) || 1, 1);
  const last = Math.max(Math.ceil(items.length / per), 1);
  const headers = {};
  if (page < last) {
    const next = new URL(url.href); next.searchParams.set('page', String(page + 1));
    const lst = new URL(url.href); lst.searchParams.set('page', String(last));
    headers.link = `<${BASE}${next.pathname}${next.search}>; rel="next", <${BASE}${lst.pathname}${lst.search}>; rel="last"`;
  }
  return { items: items.slice((page - 1) * per, page * per), headers };
}

function sinceFilter(url, list) {
  const since = url.searchParams.get('since');
  let out = since ? list.filter(x => x.updated_at >= since) : list.slice();
  if (url.searchParams.get('direction') === 'desc') out.reverse();
  return out;
}

function authToken(req) {
  const h = req.headers.authorization || '';
  const m = /^(?:Bearer|token)\s+(.+)$/i.exec(h);
  return m ? m[1] : null;
}

function verifyJwt(jwt) {
  if (!state.app) return 'no app configured';
  const parts = jwt.split('.');
  if (parts.length !== 3) return 'not a jwt';
  const ok = crypto.verify('RSA-SHA256', Buffer.from(parts[0] + '.' + parts[1]), state.app.public_key, Buffer.from(parts[2], 'base64url'));
  if (!ok) return 'bad signature';
  const header = JSON.parse(Buffer.from(parts[0], 'base64url'));
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
  const t = Math.floor(Date.now() / 1000);
  if (header.alg !== 'RS256') return 'alg is not RS256';
  if (String(claims.iss) !== String(state.app.app_id)) return 'wrong iss';
  if (!(claims.iat <= t && claims.exp > t && claims.exp - claims.iat <= 660)) return 'bad iat/exp';
  return null;
}

// ---- the REST routes ----

function route(method, p, url, body, req, res) {
  let m;
  const repoOf = (o, n) => state.repos.get(`${o}/${n}`);
  const nf = () => send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });

  if (method === 'POST' && (m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(p))) {
    const problem = verifyJwt(authToken(req) || '');
    if (problem) return send(res, 401, { message: `A JSON web token could not be decoded (${problem})` });
    if (String(state.app.installation_id) !== m[1]) return nf();
    const token = 'ghs_fake' + crypto.randomBytes(12).toString('hex');
    state.tokens.add(token);
    return send(res, 201, { token, expires_at: new Date(Date.now() + 3600e3).toISOString().replace(/\.\d{3}Z$/, 'Z'), permissions: { contents: 'write' } });
  }
  if (method === 'POST' && p === '/graphql') {
    const q = (body && body.query) || '';
    const id = body && body.variables && body.variables.id;
    for (const r of state.repos.values()) for (const i of r.issues.values()) {
      if (i.pr && i.pr.node_id === id) {
        if (/markPullRequestReadyForReview/.test(q)) i.pr.draft = false;
        else if (/convertPullRequestToDraft/.test(q)) i.pr.draft = true;
        else return send(res, 200, { errors: [{ message: 'unsupported mutation' }] });
        i.updated_at = now();
        return send(res, 200, { data: { pr: { pullRequest: { isDraft: i.pr.draft } } } });
      }
    }
    return send(res, 200, { errors: [{ message: `Could not resolve to a node with the global id of '${id}'` }] });
  }
  if (method === 'GET' && p === '/rate_limit') return send(res, 200, { resources: { core: { limit: 5000, remaining: state.remaining } } });
  if (method === 'GET' && (m = /^\/(orgs|users)\/([^/]+)$/.exec(p))) {
    const o = state.owners.get(m[2]);
    if (!o || (m[1] === 'orgs' && o.type !== 'Organization')) return nf();
    return send(res, 200, { login: o.login, id: o.id, type: o.type });
  }
  if (method === 'GET' && (m = /^\/(orgs|users)\/([^/]+)\/repos$/.exec(p))) {
    const o = state.owners.get(m[2]);
    if (!o || (m[1] === 'orgs' && o.type !== 'Organization')) return nf();
    const all = [...state.repos.values()].filter(r => r.owner === m[2]).sort((a, b) => a.name.localeCompare(b.name)).map(repoJson);
    const pg = paginate(req, url, all);
    return send(res, 200, pg.items, pg.headers);
  }
  if (!(m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(p))) return nf();
  const r = repoOf(m[1], m[2]);
  if (!r) return nf();
  const rest = m[3] || '';
  const issue = n => r.issues.get(Number(n));

  if (method === 'GET' && rest === '') return send(res, 200, repoJson(r));
  if (method === 'GET' && (m = /^\/contents\/(.+)$/.exec(rest))) {
    const ref = url.searchParams.get('ref') || r.default_branch;
    const file = decodeURIComponent(m[1]);
    const sha = gitTry(['-C', bareOf(r), 'rev-parse', '--verify', '-q', `${ref}:${file}`]);
    const type = sha && gitTry(['-C', bareOf(r), 'cat-file', '-t', sha]);
    if (!sha || type !== 'blob') return nf();
    const data = execFileSync('git', ['-C', bareOf(r), 'cat-file', 'blob', sha]);
    const b64 = data.toString('base64').replace(/(.{60})/g, '$1\n');
    return send(res, 200, { type: 'file', encoding: 'base64', size: data.length, name: path.basename(file), path: file, sha, content: b64 });
  }
  if (method === 'GET' && (m = /^\/git\/blobs\/([0-9a-f]{40,64})$/.exec(rest))) {
    const data = (() => { try { return execFileSync('git', ['-C', bareOf(r), 'cat-file', 'blob', m[1]]); } catch { return null; } })();
    if (!data) return nf();
    return send(res, 200, { sha: m[1], size: data.length, encoding: 'base64', content: data.toString('base64') });
  }
  if (method === 'GET' && (m = /^\/collaborators\/([^/]+)\/permission$/.exec(rest))) {
    const perm = r.collaborators.get(m[1]);
    if (!perm) return nf();
    return send(res, 200, { permission: perm === 'maintain' ? 'write' : perm, role_name: perm, user: user(m[1]) });
  }
  // pull requests
  if (rest === '/pulls' && method === 'GET') {
    let prs = [...r.issues.values()].filter(i => i.pr);
    const st = url.searchParams.get('state') || 'open';
    if (st !== 'all') prs = prs.filter(i => i.state === st);
    const head = url.searchParams.get('head');
    if (head) prs = prs.filter(i => `${r.owner}:${i.pr.head}` === head);
    const pg = paginate(req, url, prs.map(i => prJson(r, i)));
    return send(res, 200, pg.items, pg.headers);
  }
  if (rest === '/pulls' && method === 'POST') {
    const hs = headSha(r, body.head), bs = headSha(r, body.base);
    if (!hs || !bs) return send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', field: hs ? 'base' : 'head', code: 'invalid' }] });
    if ([...r.issues.values()].some(i => i.pr && i.state === 'open' && i.pr.head === body.head))
      return send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${r.owner}:${body.head}.` }] });
    if (gitTry(['-C', bareOf(r), 'merge-base', '--is-ancestor', hs, bs]) !== null)
      return send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `No commits between ${body.base} and ${body.head}` }] });
    const t = now(), id = newId();
    const i = { id, number: r.next++, title: body.title, body: body.body || null, state: 'open', labels: [], user: 'nightshift-bot',
      created_at: t, updated_at: t, pr: { id, node_id: `PR_${id}`, head: body.head, base: body.base, draft: !!body.draft, head_sha: hs } };
    r.issues.set(i.number, i);
    return send(res, 201, prJson(r, i));
  }
  if ((m = /^\/pulls\/(\d+)$/.exec(rest))) {
    const i = issue(m[1]);
    if (!i || !i.pr) return nf();
    if (method === 'GET') return send(res, 200, prJson(r, i));
    if (method === 'PATCH') {
      if ('title' in body) i.title = body.title;
      if ('body' in body) i.body = body.body;
      if ('state' in body) i.state = body.state;
      i.updated_at = now();
      return send(res, 200, prJson(r, i));
    }
  }
  if ((m = /^\/pulls\/(\d+)\/merge$/.exec(rest)) && method === 'PUT') {
    const i = issue(m[1]);
    if (!i || !i.pr) return nf();
    if (i.state !== 'open' || i.pr.draft) return send(res, 405, { message: 'Pull Request is not mergeable' });
    i.state = 'closed'; i.pr.merged_at = now(); i.updated_at = i.pr.merged_at;
    return send(res, 200, { sha: headSha(r, i.pr.head), merged: true, message: 'Pull Request successfully merged' });
  }
  if ((m = /^\/pulls\/(\d+)\/reviews$/.exec(rest))) {
    const i = issue(m[1]);
    if (!i || !i.pr) return nf();
    if (method === 'GET') {
      const pg = paginate(req, url, r.reviews.filter(v => v.pull === i.number).map(v => reviewJson(r, v)));
      return send(res, 200, pg.items, pg.headers);
    }
    if (method === 'POST') {
      const st = { APPROVE: 'APPROVED', REQUEST_CHANGES: 'CHANGES_REQUESTED', COMMENT: 'COMMENTED' }[body.event] || 'PENDING';
      const v = { id: newId(), pull: i.number, user: 'nightshift-bot', body: body.body || '', state: st, commit_id: headSha(r, i.pr.head), submitted_at: now() };
      r.reviews.push(v);
      return send(res, 200, reviewJson(r, v));
    }
  }
  if ((m = /^\/pulls\/(\d+)\/comments$/.exec(rest))) {
    const i = issue(m[1]);
    if (!i || !i.pr) return nf();
    if (method === 'GET') {
      const pg = paginate(req, url, r.review_comments.filter(c => c.pull === i.number).map(c => reviewCommentJson(r, c)));
      return send(res, 200, pg.items, pg.headers);
    }
    if (method === 'POST') {
      const t = now();
      const c = { id: newId(), pull: i.number, body: body.body, path: body.path, line: body.line, commit_id: body.commit_id, in_reply_to_id: null, user: 'nightshift-bot', created_at: t, updated_at: t };
      r.review_comments.push(c);
      return send(res, 201, reviewCommentJson(r, c));
    }
  }
  if ((m = /^\/pulls\/(\d+)\/comments\/(\d+)\/replies$/.exec(rest)) && method === 'POST') {
    const i = issue(m[1]);
    const parent = r.review_comments.find(c => c.id === Number(m[2]) && c.pull === Number(m[1]));
    if (!i || !parent) return nf();
    const t = now();
    const c = { id: newId(), pull: i.number, body: body.body, path: parent.path, line: parent.line, commit_id: parent.commit_id, in_reply_to_id: parent.id, review_id: parent.review_id, user: 'nightshift-bot', created_at: t, updated_at: t };
    r.review_comments.push(c);
    return send(res, 201, reviewCommentJson(r, c));
  }
  if (rest === '/pulls/comments' && method === 'GET') {
    const pg = paginate(req, url, sinceFilter(url, r.review_comments).map(c => reviewCommentJson(r, c)));
    return send(res, 200, pg.items, pg.headers);
  }
  // issues
  if (rest === '/issues' && method === 'GET') {
    let list = [...r.issues.values()];
    const st = url.searchParams.get('state') || 'open';
    if (st !== 'all') list = list.filter(i => i.state === st);
    const labels = url.searchParams.get('labels');
    if (labels) for (const l of labels.split(',')) list = list.filter(i => i.labels.includes(l));
    list = sinceFilter(url, list);
    const pg = paginate(req, url, list.map(i => issueJson(r, i)));
    return send(res, 200, pg.items, pg.headers);
  }
  if (rest === '/issues/comments' && method === 'GET') {
    const pg = paginate(req, url, sinceFilter(url, r.comments).map(c => commentJson(r, c)));
    return send(res, 200, pg.items, pg.headers);
  }
  if ((m = /^\/issues\/comments\/(\d+)$/.exec(rest))) {
    const c = r.comments.find(x => x.id === Number(m[1]));
    if (!c) return nf();
    if (method === 'GET') return send(res, 200, commentJson(r, c));
    if (method === 'PATCH') { c.body = body.body; c.updated_at = now(); return send(res, 200, commentJson(r, c)); }
  }
  if ((m = /^\/issues\/(\d+)$/.exec(rest)) && method === 'GET') {
    const i = issue(m[1]);
    return i ? send(res, 200, issueJson(r, i)) : nf();
  }
  if ((m = /^\/issues\/(\d+)\/comments$/.exec(rest))) {
    const i = issue(m[1]);
    if (!i) return nf();
    if (method === 'GET') {
      const pg = paginate(req, url, sinceFilter(url, r.comments.filter(c => c.issue === i.number)).map(c => commentJson(r, c)));
      return send(res, 200, pg.items, pg.headers);
    }
    if (method === 'POST') {
      const t = now();
      const c = { id: newId(), issue: i.number, body: body.body, user: 'nightshift-bot', created_at: t, updated_at: t };
      r.comments.push(c);
      return send(res, 201, commentJson(r, c));
    }
  }
  if ((m = /^\/issues\/(\d+)\/labels$/.exec(rest)) && (method === 'POST' || method === 'PUT')) {
    const i = issue(m[1]);
    if (!i) return nf();
    const names = Array.isArray(body) ? body : body.labels || [];
    if (method === 'PUT') i.labels = [];
    for (const n of names) if (!i.labels.includes(n)) i.labels.push(n);
    i.updated_at = now();
    return send(res, 200, i.labels.map(name => ({ name })));
  }
  return nf();
}

// ---- git smart HTTP ----

function gitHttp(req, res, url, rawBody, rec) {
  const auth = req.headers.authorization || '';
  const m = /^Basic\s+(.+)$/i.exec(auth);
  const pass = m ? Buffer.from(m[1], 'base64').toString().replace(/^[^:]*:/, '') : null;
  if (!pass || !state.tokens.has(pass)) {
    rec.status = 401;
    res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"' });
    return res.end('authentication required\n');
  }
  const delay = /git-receive-pack$/.test(url.pathname) ? state.faults.git_delay_ms : 0;
  setTimeout(() => {
    const env = {
      PATH: process.env.PATH, GIT_PROJECT_ROOT: GIT_ROOT, GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: url.pathname, REQUEST_METHOD: req.method, QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] || '', REMOTE_USER: 'x-access-token', REMOTE_ADDR: '127.0.0.1',
      CONTENT_LENGTH: String(rawBody.length), GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null',
    };
    if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
    if (req.headers['git-protocol']) env.GIT_PROTOCOL = req.headers['git-protocol'];
    const child = spawn('git', ['http-backend'], { env });
    const out = [];
    child.stdout.on('data', d => out.push(d));
    child.stderr.on('data', () => {});
    child.on('close', () => {
      const buf = Buffer.concat(out);
      const sep = buf.indexOf('\r\n\r\n') >= 0 ? buf.indexOf('\r\n\r\n') : buf.indexOf('\n\n');
      const skip = buf.indexOf('\r\n\r\n') >= 0 ? 4 : 2;
      const head = buf.slice(0, sep).toString();
      let status = 200;
      const headers = {};
      for (const line of head.split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const k = line.slice(0, i).trim().toLowerCase(), v = line.slice(i + 1).trim();
        if (k === 'status') status = parseInt(v, 10);
        else headers[k] = v;
      }
      rec.status = status;
      res.writeHead(status, headers);
      res.end(buf.slice(sep + skip));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(rawBody);
  }, delay);
}

// ---- admin ----

function admin(method, p, url, body, res) {
  try {
    if (method === 'POST' && p === '/_admin/repos') return send(res, 201, repoJson(createRepo(body)));
    if (method === 'POST' && p === '/_admin/owners') { ensureOwner(body.login, body.type); return send(res, 201, {}); }
    if (method === 'POST' && p === '/_admin/tokens') { state.tokens.add(body.token); return send(res, 201, {}); }
    if (method === 'POST' && p === '/_admin/app') { state.app = body; return send(res, 201, {}); }
    if (method === 'POST' && p === '/_admin/faults') { Object.assign(state.faults, body); return send(res, 200, state.faults); }
    if (method === 'GET' && p === '/_admin/requests') return send(res, 200, requests);
    if (method === 'GET' && p === '/_admin/violations') return send(res, 200, violations);
    const r = body && body.repo && state.repos.get(body.repo);
    if (method === 'POST' && p === '/_admin/collaborators') { r.collaborators.set(body.user, body.permission); return send(res, 201, {}); }
    if (method === 'POST' && p === '/_admin/issues') {
      const t = now();
      const i = { id: newId(), number: r.next++, title: body.title, body: body.body || '', state: 'open', labels: body.labels || [], user: body.user || 'octocat', created_at: t, updated_at: t };
      r.issues.set(i.number, i);
      return send(res, 201, issueJson(r, i));
    }
    if (method === 'POST' && p === '/_admin/labels') {
      const i = r.issues.get(body.issue);
      for (const n of body.labels) if (!i.labels.includes(n)) i.labels.push(n);
      i.updated_at = now();
      return send(res, 200, issueJson(r, i));
    }
    if (method === 'POST' && p === '/_admin/comments') {
      const t = now();
      const c = { id: newId(), issue: body.issue, body: body.body, user: body.user || 'octocat', association: body.association, created_at: t, updated_at: t };
      r.comments.push(c);
      const i = r.issues.get(body.issue); if (i) i.updated_at = t;
      return send(res, 201, commentJson(r, c));
    }
    if (method === 'POST' && p === '/_admin/reviews') {
      const i = r.issues.get(body.pull);
      const v = { id: newId(), pull: body.pull, user: body.user || 'octocat', body: body.body || '', state: body.state || 'COMMENTED', commit_id: headSha(r, i.pr.head), submitted_at: now() };
      r.reviews.push(v);
      for (const c of body.comments || []) {
        const t = now();
        r.review_comments.push({ id: newId(), pull: body.pull, review_id: v.id, body: c.body, path: c.path, line: c.line, commit_id: v.commit_id, in_reply_to_id: null, user: v.user, created_at: t, updated_at: t });
      }
      return send(res, 201, reviewJson(r, v));
    }
    if (method === 'POST' && p === '/_admin/review_comments') {
      const t = now();
      const i = r.issues.get(body.pull);
      const c = { id: newId(), pull: body.pull, body: body.body, path: body.path, line: body.line, commit_id: headSha(r, i.pr.head), in_reply_to_id: null, user: body.user || 'octocat', created_at: t, updated_at: t };
      r.review_comments.push(c);
      return send(res, 201, reviewCommentJson(r, c));
    }
    if (method === 'GET' && (p.startsWith('/_admin/state/'))) {
      const key = p.slice('/_admin/state/'.length);
      const s = state.repos.get(key);
      if (!s) return send(res, 404, { message: 'no such repository' });
      return send(res, 200, {
        repo: repoJson(s), issues: [...s.issues.values()].map(i => i.pr ? { ...issueJson(s, i), pr: prJson(s, i) } : issueJson(s, i)),
        comments: s.comments.map(c => commentJson(s, c)), review_comments: s.review_comments.map(c => reviewCommentJson(s, c)),
        reviews: s.reviews.map(v => reviewJson(s, v)),
      });
    }
    return send(res, 404, { message: 'unknown admin route' });
  } catch (e) {
    return send(res, 400, { message: String(e && e.message || e) });
  }
}

// ---- the server ----

function logRequest(rec) {
  requests.push(rec);
  fs.appendFileSync(LOG, JSON.stringify(rec) + '\n');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', d => chunks.push(d));
  req.on('end', () => {
    const rawBody = Buffer.concat(chunks);
    const url = new URL(req.url, BASE);
    const p = url.pathname;
    const headers = { ...req.headers };
    if (headers.authorization) headers.authorization = headers.authorization.split(' ')[0] + ' <redacted>';
    const rec = { time: new Date().toISOString(), method: req.method, path: p, query: Object.fromEntries(url.searchParams), headers };
    if (p.startsWith('/_admin/')) {
      let body;
      try { body = rawBody.length ? JSON.parse(rawBody) : {}; } catch { return send(res, 400, { message: 'bad json' }); }
      return admin(req.method, p, url, body, res);
    }
    if (/^\/[^/]+\/[^/]+\.git\//.test(p)) {
      rec.git = true;
      res.on('finish', () => logRequest(rec));
      return gitHttp(req, res, url, rawBody, rec);
    }
    let body;
    if (rawBody.length) { try { body = JSON.parse(rawBody); } catch { body = undefined; } }
    rec.body = body === undefined ? (rawBody.length ? rawBody.toString().slice(0, 200) : null) : body;
    const fail = (status, message) => { rec.status = status; logRequest(rec); return send(res, status, { message }); };
    if (!req.headers['user-agent']) return fail(403, 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header');
    if (p === '/graphql' || /^\/app\/installations\//.test(p)) {
      // graphql is not in the REST description; the token route checks its JWT itself
    } else if (!state.tokens.has(authToken(req) || '')) {
      return fail(401, 'Bad credentials');
    }
    if (p !== '/graphql') {
      const problems = checkOpenapi(req.method, p, Object.fromEntries(url.searchParams), body, rawBody);
      if (problems.length) {
        for (const x of problems) violations.push({ method: req.method, path: p, problem: x });
        rec.violations = problems;
        return fail(422, 'openapi violation: ' + problems.join('; '));
      }
    }
    const reset = Math.floor(Date.now() / 1000) + 3600;
    if (state.faults.primary > 0) {
      state.faults.primary--;
      rec.status = 403; logRequest(rec);
      return send(res, 403, { message: 'API rate limit exceeded for user.' }, {
        'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0', 'x-ratelimit-used': '5000',
        'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + state.faults.primary_reset_in) });
    }
    if (state.faults.secondary > 0) {
      state.faults.secondary--;
      rec.status = 403; logRequest(rec);
      return send(res, 403, { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' }, { 'retry-after': String(state.faults.retry_after) });
    }
    state.remaining = Math.max(state.remaining - 1, 1);
    const limitHeaders = { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': String(state.remaining), 'x-ratelimit-reset': String(reset), 'x-ratelimit-resource': 'core' };
    // capture what route() sends so that GETs get ETags and 304s
    const realWriteHead = res.writeHead.bind(res), realEnd = res.end.bind(res);
    let status = 200, hdrs = {};
    res.writeHead = (s, h) => { status = s; hdrs = h || {}; return res; };
    res.end = (b) => {
      let out = b || '';
      const all = { ...hdrs, ...limitHeaders, date: new Date().toUTCString() };
      if (req.method === 'GET' && status === 200) {
        const etag = 'W/"' + crypto.createHash('sha1').update(out).digest('hex') + '"';
        all.etag = etag;
        if (req.headers['if-none-match'] === etag) { status = 304; out = ''; delete all['content-type']; }
      }
      rec.status = status;
      logRequest(rec);
      realWriteHead(status, all);
      return realEnd(out);
    };
    try {
      route(req.method, p, url, body || {}, req, res);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'fake-github: ' + (e && e.message) }));
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  BASE = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
