'use strict';

const _ = require('lodash');

// The 17 aliases that lodash 4 removed.
const allPositive = _.every(values, (v) => v > 0);
const anyNegative = _.some(values, (v) => v < 0);
const pipeline = _.flowRight(format, parse);
const render = _.flowRight(_.escape, line);
const matcher = _.iteratee({ active: true });
const doubled = _.map(values, (v) => v * 2);
const hasOne = _.includes(values, 1);
const hasTwo = _.includes(values, 2);
const firstBig = _.find(values, (v) => v > 10);
const total = _.reduce(values, (sum, v) => sum + v, 0);
const product = _.reduce(values, (p, v) => p * v, 1);
const reversed = _.reduceRight(words, (s, w) => s + w, '');
const helperNames = _.functionsIn(helpers).sort();
const evens = _.filter(values, (v) => v % 2 === 0);
const distinct = _.uniq(values);

// object: pairs, or keys and values.
const fromPairs = _.fromPairs([['a', 1], ['b', 2]]);
const fromKeys = _.zipObject(['a', 'b'], [1, 2]);
const fromLines = _.zipObject(
  keys,
  values
);
const wrapped = _(pairs).object().value();

// The chain method run was value.
const result = _(values).map(double).value();
const explicit = _.chain(values).filter(isEven).value();

module.exports = {
  allPositive, anyNegative, pipeline, render, matcher, doubled, hasOne, hasTwo, firstBig,
  total, product, reversed, helperNames, evens, distinct, fromPairs, fromKeys, fromLines, wrapped,
  result, explicit,
};
