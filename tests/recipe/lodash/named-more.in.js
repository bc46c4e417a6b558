'use strict';

// The other aliases of the same lodash 4 methods, in a file of their own
// (imported together with the first ones, the second rename would clash).
// restParam is reported, not renamed: its lodash 4 name, rest, is lodash 3's tail.
import { compose, collect, include, detect, inject, select, functions, restParam } from 'lodash';

export const pipeline = compose(format, parse);
export const doubled = collect(values, double);
export const hasTwo = include(values, 2);
export const firstBig = detect(values, isBig);
export const product = inject(values, multiply, 1);
export const evens = select(values, isEven);
export const api = functions(service);
export const variadic = restParam(function (head, others) {
  return others.length;
});
