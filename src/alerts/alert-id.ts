import { createHash } from 'node:crypto';

/**
 * Deterministic alert id: the same condition (rule, dedup key) first seen in the same realert
 * bucket gets the same id on a replay or a redelivery, so idempotent sinks overwrite, not duplicate.
 */
export function alertId(ruleId: string, dedupKey: string, firstSeenBucket: number): string {
  return createHash('sha256').update(`${ruleId}\n${dedupKey}\n${firstSeenBucket}`).digest('hex').slice(0, 32);
}
