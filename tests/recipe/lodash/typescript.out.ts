import * as _ from 'lodash';
import { map, truncate } from 'lodash';
import { indexBy as keyed } from 'lodash';

export function names(users: User[]): string[] {
  return map(users, 'name');
}

export function summary(text: string): string {
  return truncate(text, { length: 20 });
}

export const byId = keyed(users, 'id');
export const flat: number[] = _.flattenDeep(nested);
export const largest = _.max<Line>(lines, lineTotal);
