/**
 * `--state DIR`: the learned state as JSON lines, one source identity per line (the same unit the
 * scale-out work checkpoints per Kafka partition), written to a temporary file and renamed so a
 * crash never leaves half a state.
 */
import { createReadStream, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SentinelError } from '../../errors.js';
import type { DetectionState } from './store.js';

const FILE = 'detection-state.jsonl';

export function saveState(dir: string, state: DetectionState): number {
  try {
    mkdirSync(dir, { recursive: true });
    const lines = [
      JSON.stringify({ version: 1, startTime: Number.isNaN(state.startTime) ? null : state.startTime }),
    ];
    const ids = state.keys();
    for (const id of ids) lines.push(JSON.stringify({ identity: id, state: state.exportKey(id) }));
    const tmp = join(dir, `${FILE}.tmp`);
    writeFileSync(tmp, `${lines.join('\n')}\n`);
    renameSync(tmp, join(dir, FILE));
    return ids.length;
  } catch (err) {
    throw new SentinelError('ESN_STATE', `Cannot save detection state to ${dir}: ${(err as Error).message}`, {
      where: dir,
      cause: err,
    });
  }
}

/** Loads saved state if the directory has one; returns the number of identities loaded. */
export async function loadState(dir: string, state: DetectionState): Promise<number> {
  const file = join(dir, FILE);
  if (!existsSync(file)) return 0;
  let n = 0;
  let line = 0;
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of rl) {
    line++;
    if (text.trim() === '') continue;
    try {
      const obj = JSON.parse(text) as {
        version?: number;
        startTime?: number | null;
        identity?: string;
        state?: string;
      };
      if (line === 1) {
        if (obj.version !== 1) throw new Error(`unsupported state version ${String(obj.version)}`);
        if (typeof obj.startTime === 'number') state.startTime = obj.startTime;
        continue;
      }
      if (typeof obj.identity !== 'string' || typeof obj.state !== 'string')
        throw new Error('expected {"identity", "state"}');
      state.importKey(obj.identity, obj.state);
      n++;
    } catch (err) {
      throw new SentinelError(
        'ESN_STATE',
        `Invalid detection state ${file}:${line}: ${(err as Error).message}`,
        { where: `${file}:${line}` },
      );
    }
  }
  return n;
}
