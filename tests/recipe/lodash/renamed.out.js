// not idempotent: rest-to-tail runs before restparam-to-rest, so a second run renames the new _.rest
'use strict';

const _ = require('lodash');

const byId = _.keyBy(users, 'id');
const lengths = _.invokeMap(words, 'toUpperCase');
const code = _.padStart(String(n), 6, '0');
const label = _.padEnd(name, 12);
const entries = _.toPairs(totals);
const others = _.tail(parts);
const variadic = _.rest(function (first, rest) {
  return [first].concat(rest);
});
const ranked = _.orderBy(rows, ['score', 'name'], ['desc', 'asc']);
const sorted = _.sortBy(rows, ['last', 'first']);
const left = _.trimStart(line);
const right = _.trimEnd(line);
const cut = _.truncate(text, { length: 40, separator: ' ' });

// Chains, and a call split over lines.
const tailIds = _(rows).map('id').tail().value();
const padded = _.padStart(
  String(total),
  width
);

module.exports = { byId, lengths, code, label, entries, others, variadic, ranked, sorted, left, right, cut, tailIds, padded };
