import type { Alert } from '../../src/alerts/types.js';

/** The last record of each alert id (a standing alert is re-emitted as its repeats grow), oldest first. */
export function readAlertsFromRecords(records: readonly Alert[]): Alert[] {
  const byId = new Map<string, Alert>();
  for (const r of records) byId.set(r.alert.id, r);
  return [...byId.values()].sort((a, b) => a.alert.first_seen.localeCompare(b.alert.first_seen));
}
