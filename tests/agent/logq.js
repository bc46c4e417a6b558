#!/usr/bin/env node
// node logq.js LOG EXPR: evaluate EXPR with l = the scripted server's request
// log (one parsed entry per request) and print the result (JSON unless a string).
'use strict';
const fs = require('fs');
const [log, expr] = process.argv.slice(2);
const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
const l = text.split('\n').filter(Boolean).map(x => JSON.parse(x));
// the newest turn of a request, as text: what came after the last assistant message
const newest = e => {
	const m = (e.body && e.body.messages) || [];
	let i = m.length - 1;
	while (i > 0 && m[i - 1].role !== 'assistant') i--;
	return JSON.stringify(m.slice(i));
};
const v = eval(expr);
console.log(typeof v === 'string' ? v : JSON.stringify(v));
