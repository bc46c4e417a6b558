'use strict';

// Every removed or renamed member, imported by name and used.
const {
  map, filter, find, every, some, flowRight, iteratee, includes, reduce, reduceRight, functionsIn, uniq,
  keyBy, invokeMap, padStart, padEnd, toPairs, tail, orderBy, sortBy, trimStart, trimEnd,
  truncate, upperFirst, assignIn,
} = require('lodash');

const calls = [
  map(users, 'id'), filter(users, { admin: true }), find(users, { id: 1 }),
  every(values, isOk), some(values, isOk), flowRight(f, g), iteratee('id'), includes(values, 1),
  reduce(values, add, 0), reduceRight(values, add, 0), functionsIn(api), uniq(values),
  keyBy(users, 'id'), invokeMap(users, 'save'), padStart(code, 6, '0'), padEnd(name, 10),
  toPairs(totals), tail(parts), orderBy(rows, ['a'], ['desc']), sortBy(rows, ['a', 'b']),
  trimStart(line), trimEnd(line), truncate(text, 20), upperFirst(word), assignIn({}, a, b),
];

module.exports = calls;
