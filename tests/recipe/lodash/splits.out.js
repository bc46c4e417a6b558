'use strict';

const _ = require('lodash');

// max, min, sum with an iteratee (lodash 4 ignores it); without one they stay.
const largest = _.maxBy(lines, lineTotal);
const oldest = _.minBy(users, 'age');
const subtotal = _.sumBy(lines, function (l) {
  return l.cents * l.quantity;
});
const plainMax = _.max(values);
const plainSum = _.sum(values);
const chainMax = _(rows).filter(isOpen).maxBy('score');
const chainSum = _.chain(rows).sumBy('cents').value();

// uniq: the second argument decides.
const sortedOnce = _.sortedUniq(sorted);
const unsortedFlag = _.uniq(list);
const sortedBy = _.sortedUniqBy(sorted, 'id');
const unsortedBy = _.uniqBy(list, keyOf);
const byFunction = _.uniqBy(list, function (x) {
  return x.id;
});
const byProperty = _.uniqBy(docs, 'id');
const byMatches = _.uniqBy(docs, { active: true });
const byName = _.uniqBy(list, key);
const byMember = _.uniqBy(list, this.keyFn);
const flagName = _.uniq(list, isSorted);
const byCall = _.uniq(list, pick(key));
const chained = _(list).uniqBy('id').value();
const plain = _.uniq(list);

// sample(c, n) is sampleSize.
const two = _.sampleSize(replicas, 2);
const one = _.sample(replicas);
const chainedTwo = _(replicas).sampleSize(2).value();

// omit/pick with a predicate; names stay.
const visible = _.omitBy(session, function (value, key) {
  return key === 'token';
});
const numbers = _.pick(record, _.isNumber);
const set = _.pickBy(record, (v) => v != null);
const namedPredicate = _.omit(record, isSecret);
const byNames = _.pick(record, ['id', 'name']);
const byOneName = _.omit(record, 'password');

// sortedIndex with an iteratee, indexOf with isSorted.
const at = _.sortedIndexBy(people, { age: 30 }, 'age');
const atLast = _.sortedLastIndexBy(people, { age: 30 }, 'age');
const plainAt = _.sortedIndex(numbers, 5);
const found = _.sortedIndexOf(sortedIds, id);
const foundLast = _.sortedLastIndexOf(sortedIds, id);
const fromTwo = _.indexOf(ids, id, 2);

// clone: isDeep and customizers.
const deep = _.cloneDeep(config);
const shallow = _.clone(config);
const deepWith = _.cloneDeepWith(config, customizer);
const shallowWith = _.cloneWith(config, customizer);
const withFn = _.cloneWith(config, function (v) {
  return _.isElement(v) ? v.cloneNode(false) : undefined;
});
const undecidedClone = _.clone(config, deepFlag);
const deepCustom = _.cloneDeepWith(config, customizer);

// Customizers split off.
const same = _.isEqualWith(a, b, compareLoosely);
const matching = _.isMatchWith(obj, src, compareLoosely);
const mergedWith = _.mergeWith({}, base, extra, function (a, b) {
  return _.isArray(a) ? a.concat(b) : undefined;
});
const assignedWith = _.assignWith({}, base, extra, (a, b) => (b === undefined ? a : b));
const fnAsSource = _.assign(target, function () {});

// zipObject with pairs, invert with multiValue, flatten with isDeep.
const rates = _.fromPairs(RATE_PAIRS);
const keyed = _.zipObject(['a', 'b'], [1, 2]);
const groups = _.invertBy(colors);
const undecidedInvert = _.invert(colors, multi);
const inverted = _.invert(colors);
const flat = _.flattenDeep(nested);
const oneLevel = _.flatten(nested);
const undecidedFlatten = _.flatten(nested, deep);
const chainFlat = _(nested).flattenDeep().value();

module.exports = {
  largest, oldest, subtotal, plainMax, plainSum, chainMax, chainSum, sortedOnce, unsortedFlag,
  sortedBy, unsortedBy, byFunction, byProperty, byMatches, byName, byMember, flagName, byCall,
  chained, plain, two, one, chainedTwo, visible, numbers, namedPredicate, byNames, byOneName, at,
  atLast, plainAt, found, foundLast, fromTwo, deep, shallow, deepWith, shallowWith, withFn,
  undecidedClone, deepCustom, same, matching, mergedWith, assignedWith, fnAsSource, rates, keyed,
  groups, undecidedInvert, inverted, flat, oneLevel, undecidedFlatten, chainFlat,
};
