import * as _ from 'lodash';
import { pluck, trunc } from 'lodash';
import { indexBy as keyed } from 'lodash';

export function names(users: User[]): string[] {
  return pluck(users, 'name');
}

export function summary(text: string): string {
  return trunc(text, { length: 20 });
}

export const byId = keyed(users, 'id');
export const flat: number[] = _.flatten(nested, true);
export const largest = _.max<Line>(lines, lineTotal);
