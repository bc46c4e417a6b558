'use strict';

const _ = require('lodash');

// The 17 aliases that lodash 4 removed.
const allPositive = _.all(values, (v) => v > 0);
const anyNegative = _.any(values, (v) => v < 0);
const pipeline = _.backflow(format, parse);
const render = _.compose(_.escape, line);
const matcher = _.callback({ active: true });
const doubled = _.collect(values, (v) => v * 2);
const hasOne = _.contains(values, 1);
const hasTwo = _.include(values, 2);
const firstBig = _.detect(values, (v) => v > 10);
const total = _.foldl(values, (sum, v) => sum + v, 0);
const product = _.inject(values, (p, v) => p * v, 1);
const reversed = _.foldr(words, (s, w) => s + w, '');
const helperNames = _.methods(helpers).sort();
const evens = _.select(values, (v) => v % 2 === 0);
const distinct = _.unique(values);

// object: pairs, or keys and values.
const fromPairs = _.object([['a', 1], ['b', 2]]);
const fromKeys = _.object(['a', 'b'], [1, 2]);
const fromLines = _.object(
  keys,
  values
);
const wrapped = _(pairs).object().value();

// The chain method run was value.
const result = _(values).map(double).run();
const explicit = _.chain(values).select(isEven).run();

module.exports = {
  allPositive, anyNegative, pipeline, render, matcher, doubled, hasOne, hasTwo, firstBig,
  total, product, reversed, helperNames, evens, distinct, fromPairs, fromKeys, fromLines, wrapped,
  result, explicit,
};
