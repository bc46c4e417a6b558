'use strict';

const { zipObject, sortedIndex, isEqual, pick, merge, find, reduce, omit } = require('lodash');

// Calls whose lodash 4 method depends on the arguments: reported, not changed.
const rates = zipObject(RATE_PAIRS);
const keyed = zipObject(['a', 'b'], [1, 2]);
const at = sortedIndex(people, { age: 30 }, 'age');
const same = isEqual(a, b, loosely);
const visible = pick(record, isPublic);
const byNames = pick(record, ['id', 'name']);
const mergedWith = merge({}, base, extra, function (x, y) {
  return y === undefined ? x : y;
});
const merged = merge({}, base, extra);

class Ledger {
  entry(id) {
    return find(this.entries, function (e) {
      return e.id === id && this.accepts(e);
    }, this);
  }

  total() {
    return reduce(this.entries, this.add, 0, this);
  }
}

module.exports = { rates, keyed, at, same, visible, byNames, mergedWith, merged, Ledger, omit };
