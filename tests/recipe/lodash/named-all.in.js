'use strict';

// Every removed or renamed member, imported by name and used.
const {
  pluck, where, findWhere, all, any, backflow, callback, contains, foldl, foldr, methods, unique,
  indexBy, invoke, padLeft, padRight, pairs, rest, sortByOrder, sortByAll, trimLeft, trimRight,
  trunc, capitalize, extend,
} = require('lodash');

const calls = [
  pluck(users, 'id'), where(users, { admin: true }), findWhere(users, { id: 1 }),
  all(values, isOk), any(values, isOk), backflow(f, g), callback('id'), contains(values, 1),
  foldl(values, add, 0), foldr(values, add, 0), methods(api), unique(values),
  indexBy(users, 'id'), invoke(users, 'save'), padLeft(code, 6, '0'), padRight(name, 10),
  pairs(totals), rest(parts), sortByOrder(rows, ['a'], ['desc']), sortByAll(rows, ['a', 'b']),
  trimLeft(line), trimRight(line), trunc(text, 20), capitalize(word), extend({}, a, b),
];

module.exports = calls;
