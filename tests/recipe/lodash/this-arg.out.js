'use strict';

const _ = require('lodash');

class Ledger {
  find(id) {
    // The third argument is this: lodash 4 has no thisArg, the callback is bound.
    return _.find(this.entries, function (entry) {
      return entry.id === id && this.accepts(entry);
    }.bind(this));
  }

  findFrom(id) {
    // The third argument of _.find is fromIndex in lodash 4: left alone.
    return _.find(this.entries, matches(id), 2);
  }

  firstAfter(fn, start) {
    return _.findIndex(this.entries, fn, start);
  }

  totals() {
    const byArrow = _.map(this.entries, (e) => e.cents * this.rate);
    const byMethod = _.filter(this.entries, this.accepts.bind(this));
    const byName = _.sortBy(this.entries, rank.bind(this));
    const byProperty = _.groupBy(this.entries, 'currency');
    const sum = _.reduce(this.entries, function (t, e) {
      return t + this.weight(e);
    }.bind(this), 0);
    const sumArrow = _.reduce(this.entries, (t, e) => t + e.cents, 0);
    const sumNamed = _.transform(this.entries, collect.bind(this), {});
    return { byArrow, byMethod, byName, byProperty, sum, sumArrow, sumNamed };
  }

  undecided() {
    // The callback is made by a call: reported, not guessed.
    _.forEach(this.entries, makeVisitor(this.options), this);
    // A wrapped chain with a thisArg: reported.
    return _(this.entries).map(function (e) {
      return this.rate * e.cents;
    }, this).value();
  }
}

// Not a thisArg: bind and bindAll take this as an ordinary argument.
const bound = _.bind(handler, this);
const async = _.times(3, async function (i) {
  await this.step(i);
}.bind(this));

module.exports = { Ledger, bound, async };
