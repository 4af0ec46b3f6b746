/**
 * A bare line (no shipper envelope, so no shipper timestamp to check it against, see
 * ingest-guard.ts) may not move its input's clock far ahead on its own. One line dated months ahead
 * of the lines around it would move the watermark there: every later line late, every window frozen.
 * The wall clock bounds only the far future; in a replay of old files this is what bounds the rest.
 *
 * Per input (a file, a Kafka partition), a line more than `maxJumpMs` ahead of the newest line that
 * passed is held, with the lines after it that are that far ahead too. The lines decide:
 * - `confirmations` lines held in a row: the input really went on from there (a gap of hours or days
 *   in a replayed file, a partition ahead of the others): all are released, in order, and the
 *   input's clock moves on;
 * - `refutations` lines at the old time first: the input went on where it was, so the held lines
 *   are dead-lettered, with the reason.
 * At the end of the input the held lines are released (nothing came after them to contradict them).
 * A writer who can put more lines in a row into a bare stream than `confirmations` can still move it;
 * a shipper's envelope (its timestamp and container metadata) is what stops that.
 */

export interface Held<T> {
  readonly time: number;
  readonly item: T;
}

interface InputClock<T> {
  /** Newest time of a line that passed. */
  newest: number;
  held: Held<T>[];
  /** Lines at the old time since the first held one. */
  refuted: number;
}

export const PASS = 0;
export const HELD = 1;

export class TimeJumpGuard<T> {
  private readonly inputs = new Map<string, InputClock<T>>();
  /** Held lines the last `offer`/`flush` let through (the caller takes them: `takeReleased`). */
  private released: Held<T>[] = [];
  /** Held lines the input contradicted, to dead-letter (`takeRefuted`), with the input's newest time then. */
  private refuted: { held: Held<T>[]; newest: number }[] = [];

  constructor(
    readonly maxJumpMs: number,
    readonly confirmations = 8,
    readonly refutations = 2,
  ) {}

  /**
   * Fast path for each line: false when the line passes with nothing held for its input (the clock
   * is moved); true when `offer` must decide.
   */
  mustOffer(input: string, time: number): boolean {
    const c = this.inputs.get(input);
    if (c === undefined || c.held.length > 0 || time > c.newest + this.maxJumpMs) return true;
    if (time > c.newest) c.newest = time;
    return false;
  }

  /** A line vouched for otherwise (a shipper's timestamp): moves the clock, holds nothing. */
  vouched(input: string, time: number): void {
    const c = this.inputs.get(input);
    if (c === undefined) this.inputs.set(input, { newest: time, held: [], refuted: 0 });
    else if (time > c.newest) c.newest = time;
  }

  /**
   * One line of `input` at `time`: PASS (analyse it now) or HELD (`hold()` made what to keep; it
   * comes back from `takeReleased` or `takeRefuted`). Either may release or refute held lines.
   */
  offer(input: string, time: number, hold: () => T): number {
    let c = this.inputs.get(input);
    if (c === undefined) {
      c = { newest: time, held: [], refuted: 0 };
      this.inputs.set(input, c);
      return PASS;
    }
    if (time > c.newest + this.maxJumpMs) {
      if (c.held.length === 0) c.refuted = 0;
      c.held.push({ time, item: hold() });
      if (c.held.length >= this.confirmations) this.release(c);
      return HELD;
    }
    if (time > c.newest) c.newest = time;
    if (c.held.length > 0 && ++c.refuted >= this.refutations) {
      this.refuted.push({ held: c.held, newest: c.newest });
      c.held = [];
    }
    return PASS;
  }

  /** End of input: every held line is released. */
  flush(): void {
    for (const c of this.inputs.values()) if (c.held.length > 0) this.release(c);
  }

  /** Whether any line is held or waiting to be taken. */
  get pending(): boolean {
    return this.released.length > 0 || this.refuted.length > 0;
  }

  takeReleased(): Held<T>[] {
    const out = this.released;
    this.released = [];
    return out;
  }

  takeRefuted(): { held: Held<T>[]; newest: number }[] {
    const out = this.refuted;
    this.refuted = [];
    return out;
  }

  private release(c: InputClock<T>): void {
    for (const h of c.held) {
      this.released.push(h);
      if (h.time > c.newest) c.newest = h.time;
    }
    c.held = [];
  }
}
