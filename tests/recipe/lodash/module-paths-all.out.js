'use strict';

// Every module path whose method lodash 4 removed or renamed: the path of the lodash 4 method.
const pluckFn = require('lodash/map');
const whereFn = require('lodash/filter');
const findWhereFn = require('lodash/find');
const allFn = require('lodash/every');
const anyFn = require('lodash/some');
const backflowFn = require('lodash/flowRight');
const composeFn = require('lodash/flowRight');
const callbackFn = require('lodash/iteratee');
const collectFn = require('lodash/map');
const detectFn = require('lodash/find');
const foldlFn = require('lodash/reduce');
const injectFn = require('lodash/reduce');
const foldrFn = require('lodash/reduceRight');
const selectFn = require('lodash/filter');
const uniqueFn = require('lodash/uniq');
const containsFn = require('lodash/includes');
const includeFn = require('lodash/includes');
const methodsFn = require('lodash/functionsIn');
const objectFn = require('lodash/zipObject');
const indexByFn = require('lodash/keyBy');
const invokeFn = require('lodash/invokeMap');
const padLeftFn = require('lodash/padStart');
const padRightFn = require('lodash/padEnd');
const pairsFn = require('lodash/toPairs');
const restFn = require('lodash/tail');
const restParamFn = require('lodash/rest');
const sortByOrderFn = require('lodash/orderBy');
const sortByAllFn = require('lodash/sortBy');
const trimLeftFn = require('lodash/trimStart');
const trimRightFn = require('lodash/trimEnd');
const truncFn = require('lodash/truncate');
const capitalizeFn = require('lodash/upperFirst');
const functionsFn = require('lodash/functionsIn');

module.exports = [pluckFn, whereFn, findWhereFn, allFn, anyFn, backflowFn];
