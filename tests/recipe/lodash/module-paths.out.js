'use strict';

// lodash 3's category modules are lodash/NAME in lodash 4, renamed where the method was.
const chunk = require('lodash/chunk');
const groupBy = require('lodash/groupBy');
const sortBy = require("lodash/sortBy");
const pluck = require('lodash/map');
const indexBy = require('lodash/keyBy');
const contains = require('lodash/includes');
const object = require('lodash/zipObject');
const rest = require('lodash/tail');
const restParam = require('lodash/rest');
const padLeft = require('lodash/padStart');
const capitalize = require('lodash/upperFirst');
const functions = require('lodash/functionsIn');
const extend = require('lodash/assignIn');
const lodash = require('lodash');

// Methods whose calls may need another lodash 4 method: renamed, and reported.
const max = require('lodash/max');
const flatten = require('lodash/flatten');

// Per-method packages of removed methods have no lodash 4 release: reported.
const where = require('lodash.where');
const get = require('lodash.get');

// Not module paths: other text is left alone.
const note = 'see lodash/array/chunk';
const nested = require('lodash/array/chunk/extra');

module.exports = { chunk, groupBy, sortBy, pluck, indexBy, contains, object, rest, restParam, padLeft, capitalize, functions, extend, lodash, max, flatten, where, get, note, nested };
