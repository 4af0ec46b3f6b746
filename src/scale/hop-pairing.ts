/**
 * Stage 1's half of the `internal-listener` join (detect/join.ts): a gateway that forwards by SNI
 * through an Envoy internal listener (istio.io blog 2023/egress-sni) logs one connection twice, an
 * outer leg from the caller's sidecar (by address: it names the caller) into `envoy://sni_listener/`,
 * and an inner leg from `envoy://internal_client_address/` out to the host, which names no caller.
 * Re-keyed by its own source, the inner leg would land on another by-source partition than the
 * caller's sidecar leg and outer leg, and stage 2 could not join the three. Both are lines of one
 * gateway pod, so they come through the same input partition (shippers key by node), close together
 * (Envoy writes both as the connection closes; published: inner first). Stage 1 pairs them by the
 * plain join's rule (`hopScore`: started within HOP_START_MS, closest start and duration), over all
 * legs waiting at the end of each input batch (one connection's inner leg can come between another's
 * outer and inner leg), and sends the inner leg keyed as its outer leg, so stage 2 joins sidecar leg,
 * outer and inner leg as the plain run does. Stage 1 lacks that rule's first criterion (the inner leg
 * carries the sidecar leg's bytes), so an inner leg must also fit inside its outer leg, in time and
 * in bytes (`fits`).
 *
 * Order: stage 2 drops an event whose input offset is not after the last one it saw from that input
 * partition (a copy re-read after a rebalance, pipeline/detection.ts `observeMerged`), so an input partition's events
 * leave in input order. An inner leg whose outer leg has not come by the end of its batch is held, and
 * the events read after it wait with it (as in the plain join); the rest of the batch goes on. It waits
 * until its outer leg comes, until its input partition's event time is `holdMs` past the leg's end
 * (HOP_START_MS plus the allowed lateness; lines are written as connections close), or, when the
 * partition delivers nothing more, a second of wall time (rekey.ts), and at most `maxHeld` events wait;
 * then it goes on keyed by its own source, as before this pairing (stage 2 judges it unjoined, or by
 * destination host): never dropped. Outer legs waiting for their inner leg are forgotten on the same bounds.
 *
 * Commits: an input batch with events still waiting when it is handed on gets a HoldGate, released
 * once its last waiting event was sent (acknowledged by the broker) with a later output; the caller
 * acks the batch only then, so the committed offset never passes a held event (a restart reads it
 * again; the source commits a partition's batches in order). While events wait, the input partition's
 * progress mark says no more than the newest event time sent before them, so stage 2 does not find
 * them late.
 */
import type { Message } from 'kafkajs';
import { HOP_START_MS, type HopLegFacts, hopScore } from '../detect/join.js';
import type { EgressEvent } from '../identity/types.js';

/** Opens once the last waiting event of an input batch was sent: the batch may then be acked. */
export class HoldGate {
  private open: () => void = () => {};
  readonly released: Promise<void>;

  constructor() {
    this.released = new Promise<void>((resolve) => {
      this.open = resolve;
    });
  }

  /** The broker acknowledged the batch's last waiting event. */
  sent(): void {
    this.open();
  }
}

interface OuterLeg extends HopLegFacts {
  key: string;
  stream: string;
}

interface HeldInner extends HopLegFacts {
  /** Its message, in its stream's waiting messages; `key` undefined until it is settled. */
  message: Message;
  /** Its own partition key (taken when no outer leg comes). */
  ownKey: string;
  stream: string;
  /** Newest event time of its stream read before it (what the stream's mark may say while it waits). */
  readBefore: number;
}

/** One input partition's messages waiting behind an unsettled inner leg, and the gates of their batches. */
interface StreamTail {
  messages: Message[];
  /** A batch's gate opens when the message before `end` (an index into `messages`) is sent. */
  gates: { gate: HoldGate; end: number }[];
}

export interface HopPairingOptions {
  /** Event time an inner leg waits for its outer leg (and an outer leg for its inner one). */
  holdMs: number;
  /** Most inner legs held (and outer legs remembered) at once; beyond, the oldest go on unpaired. */
  maxHeld: number;
}

export interface HopPairingCounters {
  /** Inner legs sent keyed by their outer leg. */
  paired: number;
  /** Inner legs sent keyed by their own source (no outer leg within the bounds). */
  unpaired: number;
}

/** Messages a pairing step released, and the gates of earlier batches whose legs are among them. */
export interface Released {
  messages: Message[];
  gates: HoldGate[];
}

const facts = (e: EgressEvent): HopLegFacts => ({
  time: e.time,
  durationMs: e.durationMs,
  bytesUp: e.bytesUp,
  bytesDown: e.bytesDown,
});

/** Envoy logs start and duration in whole ms: what rounding and the close of one connection by the other may add. */
const CLOSE_SLACK_MS = 5;

/**
 * Whether an inner leg can be inside an outer leg: the outer connection opened the inner one and
 * carried its stream plus the mTLS around it, so the inner leg starts no earlier, ends no later, and
 * moved no more bytes either way. (Without the sidecar's bytes, the plain join's first criterion,
 * the closest start and duration alone pair a short inner leg with a long outer leg pending beside it.)
 */
const fits = (outer: HopLegFacts, inner: HopLegFacts): boolean =>
  outer.bytesUp >= inner.bytesUp &&
  outer.bytesDown >= inner.bytesDown &&
  inner.time >= outer.time - CLOSE_SLACK_MS &&
  inner.time + inner.durationMs <= outer.time + outer.durationMs + CLOSE_SLACK_MS;

/** Index of the first leg of `legs` (sorted by start) that starts at or after `time`. */
function lowerBound(legs: readonly HopLegFacts[], time: number): number {
  let lo = 0;
  let hi = legs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((legs[mid] as HopLegFacts).time < time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Candidate outer legs kept per inner leg for the batch's matching (the best by `hopScore`). */
const CANDIDATES = 4;

interface Candidate {
  outer: OuterLeg;
  inner: HeldInner;
  score: number;
}

export class HopPairer {
  readonly counters: HopPairingCounters = { paired: 0, unpaired: 0 };
  /** Outer legs waiting for their inner leg, in arrival order. */
  private outers: OuterLeg[] = [];
  /** Inner legs waiting for their outer leg, in arrival order. */
  private held: HeldInner[] = [];
  /** Per input partition: its messages from its first unsettled inner leg on. */
  private readonly tails = new Map<string, StreamTail>();
  /** The batch being read: its stream, its messages (after the stream's waiting ones), its newest time so far. */
  private stream = '';
  private out: Message[] = [];
  private readMax = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: HopPairingOptions) {}

  /** Inner legs held now. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Some input partition's events wait (behind an inner leg, or settled and not yet released). */
  get waiting(): boolean {
    return this.tails.size > 0;
  }

  /**
   * Starts a batch of `stream` (read up to `readMax` so far): returns the array its messages go to,
   * holding first the stream's messages that waited since its earlier batches.
   */
  begin(stream: string, readMax: number): Message[] {
    this.stream = stream;
    this.readMax = readMax;
    const tail = this.tails.get(stream);
    this.out = tail === undefined ? [] : tail.messages;
    return this.out;
  }

  /** Any other event of the batch. */
  pass(message: Message, time: number): void {
    this.out.push(message);
    if (time > this.readMax) this.readMax = time;
  }

  /** An outer leg: sent in its turn, and waits for its inner leg until `endBatch`. */
  outer(event: EgressEvent, message: Message): void {
    this.outers.push({ ...facts(event), key: message.key as string, stream: this.stream });
    if (this.outers.length > this.options.maxHeld) this.outers.shift();
    this.pass(message, event.time);
  }

  /** An inner leg (`value`: encoded): waits for its outer leg, its key settled at `endBatch`. */
  inner(event: EgressEvent, ownKey: string, value: string): void {
    const message: Message = { key: undefined, value };
    this.held.push({ ...facts(event), message, ownKey, stream: this.stream, readBefore: this.readMax });
    this.pass(message, event.time);
  }

  /**
   * Pairs the waiting legs, best `hopScore` first over all of them (as they arrive, one connection's
   * inner leg can come between another's outer and inner leg, and the first to fit is not its own):
   * each paired inner leg goes into `out` keyed as its outer leg.
   */
  private match(): void {
    if (this.held.length === 0 || this.outers.length === 0) return;
    const outers = [...this.outers].sort((a, b) => a.time - b.time);
    const candidates: Candidate[] = [];
    const best: Candidate[] = [];
    for (const inner of this.held) {
      // Outward from the inner leg's start: a score is at least the start difference, so the scan
      // stops once that exceeds the worst of the best CANDIDATES found.
      let hi = lowerBound(outers, inner.time);
      let lo = hi - 1;
      best.length = 0;
      for (;;) {
        const dtHi =
          hi < outers.length ? (outers[hi] as OuterLeg).time - inner.time : Number.POSITIVE_INFINITY;
        const dtLo = lo >= 0 ? inner.time - (outers[lo] as OuterLeg).time : Number.POSITIVE_INFINITY;
        const dt = Math.min(dtHi, dtLo);
        if (dt > HOP_START_MS) break;
        if (best.length === CANDIDATES && dt > (best[CANDIDATES - 1] as Candidate).score) break;
        const outer = (dtHi <= dtLo ? outers[hi++] : outers[lo--]) as OuterLeg;
        if (!fits(outer, inner)) continue;
        const score = hopScore(outer, inner, null);
        if (best.length === CANDIDATES && score >= (best[CANDIDATES - 1] as Candidate).score) continue;
        if (best.length === CANDIDATES) best.pop();
        let at = best.length;
        while (at > 0 && (best[at - 1] as Candidate).score > score) at--;
        best.splice(at, 0, { outer, inner, score });
      }
      candidates.push(...best);
    }
    if (candidates.length === 0) return;
    candidates.sort((a, b) => a.score - b.score);
    const assigned = new Map<HeldInner, OuterLeg>();
    const usedOuters = new Set<OuterLeg>();
    for (const c of candidates) {
      if (usedOuters.has(c.outer) || assigned.has(c.inner)) continue;
      usedOuters.add(c.outer);
      assigned.set(c.inner, c.outer);
    }
    this.held = this.held.filter((h) => {
      const outer = assigned.get(h);
      if (outer === undefined) return true;
      h.message.key = outer.key;
      this.counters.paired++;
      return false;
    });
    this.outers = this.outers.filter((o) => !usedOuters.has(o));
  }

  /**
   * End of the batch, its stream read up to `maxTime`: pairs what waits, settles inner legs whose
   * outer leg can no longer come (unpaired), and returns the messages that may go (in input order, up
   * to the stream's first unsettled inner leg) with the gates they release, the gate of this batch
   * (null: nothing of it waits) and what the stream's progress mark may say (`markTime`).
   */
  endBatch(maxTime: number): { released: Released; gate: HoldGate | null; markTime: number } {
    const stream = this.stream;
    const messages = this.out;
    this.out = [];
    this.match();
    // Envoy writes a line when its connection closes, and both legs close together: the bound runs
    // from a leg's end (a long connection's start is far behind the lines around it).
    const limit = maxTime - this.options.holdMs;
    if (this.outers.length > 0)
      this.outers = this.outers.filter((o) => o.stream !== stream || o.time + o.durationMs >= limit);
    const waiting = this.settle((h) => h.stream === stream && h.time + h.durationMs < limit);
    const old = this.tails.get(stream);
    const tail: StreamTail = { messages, gates: old?.gates ?? [] };
    this.tails.delete(stream);
    const released = this.cut(tail, stream);
    // At most `maxHeld` events wait per stream: beyond, the first waiting inner leg goes on unpaired.
    for (
      let rest = this.tails.get(stream);
      rest !== undefined && rest.messages.length > this.options.maxHeld;
    ) {
      const oldest = this.held.find((h) => h.stream === stream) as HeldInner;
      this.settle((h) => h === oldest);
      this.tails.delete(stream);
      const more = this.cut(rest, stream);
      released.messages.push(...more.messages);
      released.gates.push(...more.gates);
      rest = this.tails.get(stream);
    }
    let gate: HoldGate | null = null;
    if (this.tails.has(stream)) {
      // Some of this batch waits: its gate opens when its last message goes.
      const rest = this.tails.get(stream) as StreamTail;
      gate = new HoldGate();
      rest.gates.push({ gate, end: rest.messages.length });
    }
    const first = waiting.find((h) => h.stream === stream && h.message.key === undefined);
    return { released, gate, markTime: first === undefined ? maxTime : first.readBefore };
  }

  /**
   * Settles (unpaired) the inner legs `expired` names and, beyond `maxHeld`, the oldest; returns
   * those still waiting.
   */
  private settle(expired: (h: HeldInner) => boolean): HeldInner[] {
    const over = this.held.length - this.options.maxHeld;
    let i = 0;
    this.held = this.held.filter((h) => {
      if (i++ >= over && !expired(h)) return true;
      h.message.key = h.ownKey;
      this.counters.unpaired++;
      return false;
    });
    return this.held;
  }

  /**
   * The messages of `tail` up to its first unsettled one (all, when none), with the gates of the
   * batches whose last message is among them; what is left waits as the stream's tail.
   */
  private cut(tail: StreamTail, stream: string): Released {
    const messages = tail.messages;
    let n = 0;
    while (n < messages.length && (messages[n] as Message).key !== undefined) n++;
    const gates: HoldGate[] = [];
    let g = 0;
    while (g < tail.gates.length && (tail.gates[g] as { end: number }).end <= n)
      gates.push((tail.gates[g++] as { gate: HoldGate }).gate);
    if (n === messages.length) return { messages, gates };
    const rest: StreamTail = {
      messages: messages.slice(n),
      gates: tail.gates.slice(g).map((x) => ({ gate: x.gate, end: x.end - n })),
    };
    this.tails.set(stream, rest);
    messages.length = n;
    return { messages, gates };
  }

  /**
   * The streams `done` names (delivering nothing any more, or the end of input): their inner legs
   * go on unpaired, their waiting messages are released, and their outer legs are forgotten.
   */
  release(done: (stream: string) => boolean): Released {
    const out: Released = { messages: [], gates: [] };
    if (this.outers.length > 0) this.outers = this.outers.filter((o) => !done(o.stream));
    if (this.tails.size === 0) return out;
    this.settle((h) => done(h.stream));
    for (const [stream, tail] of [...this.tails]) {
      if (!done(stream)) continue;
      this.tails.delete(stream);
      const r = this.cut(tail, stream);
      out.messages.push(...r.messages);
      out.gates.push(...r.gates);
    }
    return out;
  }
}
