'use strict';

// lodash 3's category modules are lodash/NAME in lodash 4, renamed where the method was.
const chunk = require('lodash/array/chunk');
const groupBy = require('lodash/collection/groupBy');
const sortBy = require("lodash/collection/sortBy");
const pluck = require('lodash/collection/pluck');
const indexBy = require('lodash/collection/indexBy');
const contains = require('lodash/collection/contains');
const object = require('lodash/array/object');
const rest = require('lodash/array/rest');
const restParam = require('lodash/function/restParam');
const padLeft = require('lodash/string/padLeft');
const capitalize = require('lodash/string/capitalize');
const functions = require('lodash/object/functions');
const extend = require('lodash/object/extend');
const lodash = require('lodash/index');

// Methods whose calls may need another lodash 4 method: renamed, and reported.
const max = require('lodash/math/max');
const flatten = require('lodash/array/flatten');

// Per-method packages of removed methods have no lodash 4 release: reported.
const where = require('lodash.where');
const get = require('lodash.get');

// Not module paths: other text is left alone.
const note = 'see lodash/array/chunk';
const nested = require('lodash/array/chunk/extra');

module.exports = { chunk, groupBy, sortBy, pluck, indexBy, contains, object, rest, restParam, padLeft, capitalize, functions, extend, lodash, max, flatten, where, get, note, nested };
