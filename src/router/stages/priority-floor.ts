import type { Alert } from '../../alert/alert.js';
import { meetsFloor, type Priority } from '../../alert/priority.js';

/** Stage 3: the global floor (`minimumPriority`); per-output floors are applied by routing. */
export function createPriorityFloorStage(floor: Priority) {
  return (alerts: Alert[]): Alert[] => alerts.filter((a) => meetsFloor(a.priority, floor));
}
