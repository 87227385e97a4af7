/**
 * Falco priorities, most severe first. The numeric rank is the index: Emergency = 0 … Debug = 7,
 * the order Falco itself uses (falco_common.cpp), so "at least as severe as X" is `rank <= rank(X)`.
 */
export const PRIORITIES = [
  'Emergency',
  'Alert',
  'Critical',
  'Error',
  'Warning',
  'Notice',
  'Informational',
  'Debug',
] as const;

export type Priority = (typeof PRIORITIES)[number];

const BY_LOWER_NAME: ReadonlyMap<string, Priority> = new Map<string, Priority>([
  ...PRIORITIES.map((p) => [p.toLowerCase(), p] as [string, Priority]),
  // Rule files accept INFO, and falcosidekick treats `info` as Informational.
  ['info', 'Informational'],
]);

/** Parses a priority name case-insensitively; undefined when it is not one of Falco's names. */
export function parsePriority(name: string): Priority | undefined {
  return BY_LOWER_NAME.get(name.toLowerCase());
}

export function priorityRank(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

/** True when `priority` is at least as severe as `floor`. */
export function meetsFloor(priority: Priority, floor: Priority): boolean {
  return priorityRank(priority) <= priorityRank(floor);
}

export const PRIORITY_NAMES_FOR_ERRORS = [...PRIORITIES.map((p) => p.toLowerCase()), 'info'].join(', ');
