'use strict';

const _ = require('lodash');

// forEach ends an implicit chain in lodash 4: the .value() after it throws.
function unitsPerSku(records) {
  const totals = {};
  _(records)
    .forEach(function (r) {
      totals[r.sku] = (totals[r.sku] || 0) + r.quantity;
    })
    .value();
  return totals;
}

function register(files, graph) {
  _(files).filter(isSass).forEach(function (file) {
    graph.addFile(file);
  }).value();
}

function visit(tree, fn) {
  _(tree).forOwn(fn).value();
  _(tree.children).each(fn).value();
  _(3).times(fn).value();
}

// An explicit chain stays a chain: left alone.
function logAll(list) {
  return _.chain(list).forEach(log).value();
}

function explicitLater(list) {
  return _(list).chain().forEach(log).value();
}

// A chain that is not ended by forEach: left alone.
function ids(list) {
  return _(list).map('id').value();
}

module.exports = { unitsPerSku, register, visit, logAll, explicitLater, ids };
