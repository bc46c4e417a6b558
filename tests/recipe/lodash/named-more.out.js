'use strict';

// The other aliases of the same lodash 4 methods, in a file of their own
// (imported together with the first ones, the second rename would clash).
// restParam is reported, not renamed: its lodash 4 name, rest, is lodash 3's tail.
import { flowRight, map, includes, find, reduce, filter, functionsIn, restParam } from 'lodash';

export const pipeline = flowRight(format, parse);
export const doubled = map(values, double);
export const hasTwo = includes(values, 2);
export const firstBig = find(values, isBig);
export const product = reduce(values, multiply, 1);
export const evens = filter(values, isEven);
export const api = functionsIn(service);
export const variadic = restParam(function (head, others) {
  return others.length;
});
