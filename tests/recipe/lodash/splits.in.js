'use strict';

const _ = require('lodash');

// max, min, sum with an iteratee (lodash 4 ignores it); without one they stay.
const largest = _.max(lines, lineTotal);
const oldest = _.min(users, 'age');
const subtotal = _.sum(lines, function (l) {
  return l.cents * l.quantity;
});
const plainMax = _.max(values);
const plainSum = _.sum(values);
const chainMax = _(rows).filter(isOpen).max('score');
const chainSum = _.chain(rows).sum('cents').value();

// uniq: the second argument decides.
const sortedOnce = _.uniq(sorted, true);
const unsortedFlag = _.uniq(list, false);
const sortedBy = _.uniq(sorted, true, 'id');
const unsortedBy = _.uniq(list, false, keyOf);
const byFunction = _.uniq(list, function (x) {
  return x.id;
});
const byProperty = _.uniq(docs, 'id');
const byMatches = _.uniq(docs, { active: true });
const byName = _.uniq(list, key);
const byMember = _.uniq(list, this.keyFn);
const flagName = _.uniq(list, isSorted);
const byCall = _.uniq(list, pick(key));
const chained = _(list).uniq('id').value();
const plain = _.uniq(list);

// sample(c, n) is sampleSize.
const two = _.sample(replicas, 2);
const one = _.sample(replicas);
const chainedTwo = _(replicas).sample(2).value();

// omit/pick with a predicate; names stay.
const visible = _.omit(session, function (value, key) {
  return key === 'token';
});
const numbers = _.pick(record, _.isNumber);
const set = _.pick(record, (v) => v != null);
const namedPredicate = _.omit(record, isSecret);
const byNames = _.pick(record, ['id', 'name']);
const byOneName = _.omit(record, 'password');

// sortedIndex with an iteratee, indexOf with isSorted.
const at = _.sortedIndex(people, { age: 30 }, 'age');
const atLast = _.sortedLastIndex(people, { age: 30 }, 'age');
const plainAt = _.sortedIndex(numbers, 5);
const found = _.indexOf(sortedIds, id, true);
const foundLast = _.lastIndexOf(sortedIds, id, true);
const fromTwo = _.indexOf(ids, id, 2);

// clone: isDeep and customizers.
const deep = _.clone(config, true);
const shallow = _.clone(config, false);
const deepWith = _.clone(config, true, customizer);
const shallowWith = _.clone(config, false, customizer);
const withFn = _.clone(config, function (v) {
  return _.isElement(v) ? v.cloneNode(false) : undefined;
});
const undecidedClone = _.clone(config, deepFlag);
const deepCustom = _.cloneDeep(config, customizer);

// Customizers split off.
const same = _.isEqual(a, b, compareLoosely);
const matching = _.isMatch(obj, src, compareLoosely);
const mergedWith = _.merge({}, base, extra, function (a, b) {
  return _.isArray(a) ? a.concat(b) : undefined;
});
const assignedWith = _.assign({}, base, extra, (a, b) => (b === undefined ? a : b));
const fnAsSource = _.assign(target, function () {});

// zipObject with pairs, invert with multiValue, flatten with isDeep.
const rates = _.zipObject(RATE_PAIRS);
const keyed = _.zipObject(['a', 'b'], [1, 2]);
const groups = _.invert(colors, true);
const undecidedInvert = _.invert(colors, multi);
const inverted = _.invert(colors);
const flat = _.flatten(nested, true);
const oneLevel = _.flatten(nested, false);
const undecidedFlatten = _.flatten(nested, deep);
const chainFlat = _(nested).flatten(true).value();

module.exports = {
  largest, oldest, subtotal, plainMax, plainSum, chainMax, chainSum, sortedOnce, unsortedFlag,
  sortedBy, unsortedBy, byFunction, byProperty, byMatches, byName, byMember, flagName, byCall,
  chained, plain, two, one, chainedTwo, visible, numbers, namedPredicate, byNames, byOneName, at,
  atLast, plainAt, found, foundLast, fromTwo, deep, shallow, deepWith, shallowWith, withFn,
  undecidedClone, deepCustom, same, matching, mergedWith, assignedWith, fnAsSource, rates, keyed,
  groups, undecidedInvert, inverted, flat, oneLevel, undecidedFlatten, chainFlat,
};
