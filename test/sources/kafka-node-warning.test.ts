/** kafkajs' negative-timer warning under Node 24 is left out; every other process warning is printed. */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { quietKafkajsNegativeTimeout } from '../../src/sources/kafka-node-warning.js';

/** kafkajs' own request queue, idle, asked to schedule its pending-request check (what a connect does). */
function idleRequestQueueSchedulesCheck(): void {
  const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as new (
    o: Record<string, unknown>,
  ) => { scheduleCheckPendingRequests(): void; throttleCheckTimeoutId: NodeJS.Timeout | null };
  const queue = new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 1000,
    clientId: 't',
    broker: 'b',
  });
  queue.scheduleCheckPendingRequests();
  if (queue.throttleCheckTimeoutId !== null) clearTimeout(queue.throttleCheckTimeoutId);
}

describe('process warnings', () => {
  const saved = process.listeners('warning');
  afterEach(() => {
    process.removeAllListeners('warning');
    for (const l of saved) process.on('warning', l);
  });

  /** Replaces Node's printer with one that records, runs `quiet` (or not), then both warnings. */
  async function printed(quiet: boolean): Promise<string[]> {
    const names: string[] = [];
    process.removeAllListeners('warning');
    process.on('warning', (w) => names.push(w.name));
    if (quiet) quietKafkajsNegativeTimeout();
    idleRequestQueueSchedulesCheck();
    process.emitWarning('something else', 'OtherWarning');
    await new Promise((r) => setTimeout(r, 20));
    return names;
  }

  it("kafkajs' idle request queue makes Node warn about a negative timeout (the cause)", async () => {
    expect(await printed(false)).toEqual(['TimeoutNegativeWarning', 'OtherWarning']);
  });

  it('leaves that warning out and prints the others', async () => {
    expect(await printed(true)).toEqual(['OtherWarning']);
  });
});
