/**
 * The connection join: egress through the egress gateway is one connection logged twice, by the
 * caller's sidecar (its leg to the gateway: who called, but often only the IP it dialled) and by the
 * gateway (its leg out: the external host in SNI, authority or `outbound|PORT||HOST`, and the upstream
 * IP). Detectors judge the joined connection, so this stage pairs the two legs before they see either.
 *
 * How two legs are found to be one connection, strongest first:
 * - `address`: the sidecar's %UPSTREAM_LOCAL_ADDRESS% is the gateway's %DOWNSTREAM_REMOTE_ADDRESS%
 *   (pod-to-pod traffic is not NATed, so the ephemeral port survives), start times within the
 *   tolerance; for HTTP, where one connection carries many requests, after the request id;
 * - `request-id`: HTTP legs with the same x-request-id;
 * - `internal-listener`: a gateway that forwards by SNI through an Envoy internal listener (istio.io
 *   blog 2023/egress-sni: `sni_cluster` -> `envoy://sni_listener/` -> `dynamic_forward_proxy_cluster`)
 *   logs one connection twice, its outer leg (from the sidecar, by address as above, into the internal
 *   listener) and its inner leg (out to the host the app's SNI names). Internal connections carry no
 *   port, so the inner leg is the one on the same internal address (the outer leg's upstream local
 *   address is the inner leg's downstream remote address, `envoy://internal_client_address/`) that
 *   started with the outer leg (same millisecond in the published lines; within `HOP_START_MS`),
 *   closest in duration, and, when the sidecar's leg is known, carrying exactly its bytes (the app's
 *   TLS stream passes unchanged; the outer leg counts the mTLS around it);
 * - `source-and-destination`: the caller (pod IP, else principal) and the destination host (or its
 *   IP, when one leg knows no host), start times within the tolerance, closest bytes: the last
 *   resort, only when a leg does not log its addresses (two legs that both log them and differ are
 *   two connections); an inner leg whose outer leg is not in the input is joined when the sidecar's
 *   leg stops waiting, by destination host alone, closest bytes.
 *
 * A joined pair carries the best of both: the sidecar's leg keeps its identity and takes the
 * gateway's destination (host, registrable domain, upstream IP and port) and, when the sidecar's
 * principal is not known, the principal the gateway logged; the gateway's leg takes the sidecar's
 * identity and is then redundant (detectors judge the sidecar's leg). Each leg's `join` says how it
 * was joined (alert evidence names it), or `none` when the wait ran out; for a gateway leg it also
 * says whether the sidecar that would have sent it is in the input (its pod's lines are being read).
 *
 * Time: events arrive in event-time order and leave in the same order. A leg waits for its partner at
 * most `toleranceMs` of event time, and the events behind it wait with it (detectors need time order),
 * so the join adds at most the tolerance to the time to detect; a pair that joins at once (the usual
 * case: the gateway's leg starts a few ms after the sidecar's) holds nothing back.
 *
 * Late legs: Envoy writes a line when the connection closes and stamps it with its start, so one
 * leg of a long connection can reach detection behind the watermark while the other is on time and
 * waiting here. The engine offers such a leg to the join before dead-lettering it (`pushLate`): joined
 * to its waiting partner, that partner stands for the connection (`join.late`), at its own time.
 */
import type { EgressEvent, JoinMethod, LegJoin } from '../identity/types.js';

export interface JoinOptions {
  /** Largest start-time difference between the two legs of one connection (and the longest wait). */
  toleranceMs: number;
}

/** External IPs whose host name gateway legs told, for sidecar legs that find no gateway leg. */
const MAX_NAMED_IPS = 50_000;
const NAMED_IP_TTL_MS = 24 * 60 * 60_000;

interface NamedIp {
  host: string;
  registeredDomain: string | null;
  /** Event time of the latest gateway leg that named it. */
  seen: number;
  /** Gateway legs named other hosts for this IP too (a shared front end): the name is not used. */
  ambiguous: boolean;
}

/** A sidecar IP whose lines were seen this recently (event time) is "in the input". */
const SENDER_TTL_MS = 60 * 60_000;
const MAX_SENDERS = 100_000;

/** Largest start-time difference between a gateway's outer leg and its inner leg (one process). */
export const HOP_START_MS = 1000;

/** What the outer <-> inner leg rule reads of a leg. */
export type HopLegFacts = Pick<EgressEvent, 'time' | 'durationMs' | 'bytesUp' | 'bytesDown'>;

/**
 * How well a gateway's outer leg and an inner leg fit as one connection through its internal
 * listener, lower is better: started within HOP_START_MS, closest in start time plus duration; an
 * inner leg carrying exactly the bytes of `sidecar` (the sidecar's leg, when known) comes first.
 * +Infinity: they cannot be one connection. Shared with stage 1 of the scaled run (scale/hop-pairing.ts).
 */
export function hopScore(outer: HopLegFacts, inner: HopLegFacts, sidecar: HopLegFacts | null): number {
  const dt = Math.abs(inner.time - outer.time);
  if (dt > HOP_START_MS) return Number.POSITIVE_INFINITY;
  const sameBytes =
    sidecar !== null && sidecar.bytesUp === inner.bytesUp && sidecar.bytesDown === inner.bytesDown;
  return (sameBytes ? 0 : HOP_START_MS * 1000) + dt + Math.abs(inner.durationMs - outer.durationMs);
}

/** An inner leg: a gateway leg out from Envoy's internal listener, which names no caller. */
export function isInnerHopLeg(e: EgressEvent): boolean {
  return isGatewayLeg(e) && isInternalAddress(e.downstreamRemoteAddress);
}

interface Leg {
  event: EgressEvent;
  gateway: boolean;
  /** Index keys it is filed under (removed from each once joined or expired). */
  keys: string[];
  /** The connection's own address on this leg, or null when not logged. */
  addr: string | null;
  done: boolean;
  /** A gateway's outer leg through an internal listener (joins a sidecar leg to an inner leg). */
  hop: boolean;
  /**
   * A late leg that found no partner (dead-lettered by the engine), filed only so that its partner,
   * not released yet, can still take it up; never queued or delivered.
   */
  late: boolean;
  /** Outer leg: the sidecar's leg and the inner leg it joined so far; other legs: the outer leg holding them. */
  sidecar: Leg | null;
  inner: Leg | null;
  bridge: Leg | null;
  /** Filed without the heuristic's keys while no leg needed them (`heuristics`); filed with them when one does. */
  heuristicPending: boolean;
  /** Creation order: legs filed late under the heuristic's keys go in the order they were filed. */
  seq: number;
}

export interface JoinCounters {
  joined: Record<JoinMethod, number>;
  /** Of those joined, legs that came late (behind the watermark) and found their partner still waiting. */
  joinedLate: number;
  /**
   * Late legs that found no partner (dead-lettered) and were then taken up by their partner, released
   * after them: it was not released yet when they came (its start a few ms later, across the watermark).
   */
  joinedAfterDeadLetter: number;
  unjoinedSidecarLegs: number;
  unjoinedGatewayLegs: number;
}

export function isSidecarLeg(e: EgressEvent): boolean {
  return e.path === 'sidecar-to-gateway' && e.reporter === 'sidecar';
}

export function isGatewayLeg(e: EgressEvent): boolean {
  return e.path === 'gateway-to-external' && e.reporter === 'egress-gateway';
}

/**
 * A gateway's outer leg into its own internal listener (SNI forwarding): from a caller's address, to
 * an internal address (`envoy://sni_listener/`, from `envoy://internal_client_address/`).
 */
export function isOuterHopLeg(e: EgressEvent): boolean {
  return (
    e.reporter === 'egress-gateway' &&
    isInternalAddress(e.upstreamLocalAddress) &&
    connectionAddress(e.downstreamRemoteAddress) !== null
  );
}

/**
 * A gateway leg joined to its sidecar's leg: the sidecar's leg, carrying this one's destination, is
 * judged. Not when the sidecar's leg came late (`join.late`): this leg then stands for the connection.
 */
export function isJoinedGatewayLeg(e: EgressEvent): boolean {
  return e.reporter === 'egress-gateway' && e.join != null && e.join.by !== 'none' && e.join.late !== true;
}

/** The heuristic's key by caller and destination host, or null when the leg names no host. */
function heuristicHostKey(e: EgressEvent): string | null {
  const host = e.destination.host;
  return host === null ? null : `h${e.source.ip ?? e.source.principal ?? e.source.key}|${host}`;
}

/**
 * The heuristic's key by caller and destination IP (used only when one leg knows no host: plain TCP,
 * where the sidecar saw only the IP it dialled; hosts behind one CDN address are not one destination).
 */
function heuristicIpKey(e: EgressEvent): string | null {
  const ip = e.destination.ip;
  return ip === null ? null : `i${e.source.ip ?? e.source.principal ?? e.source.key}|${ip}`;
}

/** `ip` of `ip:port` (also `[v6]:port`), or the whole string when it has no port. */
function hostOf(addr: string): string {
  if (addr.charCodeAt(0) === 91) {
    const close = addr.indexOf(']');
    return close > 0 ? addr.slice(1, close) : addr;
  }
  const colon = addr.lastIndexOf(':');
  return colon > 0 && addr.indexOf(':') === colon ? addr.slice(0, colon) : addr;
}

/** Envoy's internal listener address (`envoy://...`): no client's end of a connection. */
export function isInternalAddress(addr: string | null | undefined): boolean {
  return addr?.startsWith('envoy://') ?? false;
}

/** An address that names one end of one connection (not `-`, not a pipe or Envoy's placeholder). */
function connectionAddress(addr: string | null | undefined): string | null {
  if (addr === null || addr === undefined || addr.length < 3) return null;
  const c = addr.charCodeAt(0);
  // IPv4 starts with a digit, IPv6 with `[`; `envoy://...`, `/path` and `-` do not.
  return (c >= 48 && c <= 57) || c === 91 ? addr : null;
}

export class ConnectionJoiner {
  readonly counters: JoinCounters = {
    joined: { address: 0, 'request-id': 0, 'internal-listener': 0, 'source-and-destination': 0 },
    joinedLate: 0,
    joinedAfterDeadLetter: 0,
    unjoinedSidecarLegs: 0,
    unjoinedGatewayLegs: 0,
  };
  /** Held events in time order, and the leg of each (null: not a leg); `[head..]` are held. */
  private queue: EgressEvent[] = [];
  private queueLegs: (Leg | null)[] = [];
  private head = 0;
  private legSeq = 0;
  /**
   * Whether the heuristic's keys are filed. The heuristic joins only legs of which one lacks its
   * addresses; until such a leg comes, no lookup under them can succeed, so none are built (two
   * strings, two index entries per waiting leg). The first leg without addresses files them for every
   * leg still waiting, in filing order, and they are filed from then on: joins are the same.
   */
  private heuristics = false;
  private readonly sidecarIndex = new Map<string, Leg[]>();
  private readonly gatewayIndex = new Map<string, Leg[]>();
  /** Sidecar pod IP -> event time of its latest line: whose sidecar lines are being read. */
  private readonly senders = new Map<string, number>();
  /** Upstream IP -> the host gateway legs dialled at it. */
  private readonly namedIps = new Map<string, NamedIp>();
  /** Late legs filed for a partner not released yet (`Leg.late`), oldest first; forgotten after the tolerance. */
  private lateLegs: Leg[] = [];

  constructor(
    private readonly options: JoinOptions,
    /** Receives each event, in time order, once its join is settled. */
    private readonly deliver: (event: EgressEvent) => void,
  ) {}

  /** Events held (waiting for a leg's partner, or behind one that is). */
  get held(): number {
    return this.queue.length - this.head;
  }

  /** Time of the oldest held event, or +Infinity when none is held. */
  get oldestHeld(): number {
    return this.head < this.queue.length
      ? (this.queue[this.head] as EgressEvent).time
      : Number.POSITIVE_INFINITY;
  }

  /** Takes one event (not copied: it is handed to `deliver` later); events come in time order. */
  push(event: EgressEvent): void {
    if (event.reporter === 'sidecar' && event.source.ip !== null) this.sawSender(event.source.ip, event.time);
    let leg: Leg | null = null;
    const sidecar = isSidecarLeg(event);
    const gateway = !sidecar && isGatewayLeg(event);
    if (sidecar || gateway) {
      event.join = null;
      if (gateway) this.nameIp(event);
      leg = this.joinOrFile(event, gateway);
    } else if (isOuterHopLeg(event)) {
      // The gateway's outer leg is consumed here (not delivered: detectors judge the sidecar's leg and
      // the inner leg, which carry what it told); it waits in the queue only to expire in its turn.
      event.join = null;
      leg = this.bridgeOrFile(event);
      if (leg === null) return;
    }
    if (leg === null && this.head === this.queue.length) {
      // Nothing waits ahead of it: straight through.
      this.deliver(event);
      return;
    }
    this.queue.push(event);
    this.queueLegs.push(leg);
    this.release(event.time - this.options.toleranceMs);
  }

  /**
   * A leg that reached detection late (behind what the engine already released: engine.ts), offered
   * here before it is dead-lettered. Envoy writes a line when the connection closes but stamps it
   * with its start, so a long connection's line comes after lines of connections that started later:
   * one leg of a connection can be late while the other is on time, waiting here. The late leg joins
   * such a partner by the same rules as `push`, but only when that settles the connection at once
   * with legs that are on time and not yet delivered; the one of them that stands for the connection
   * (the sidecar's leg, or the gateway's when the sidecar's is the late one: it takes the sidecar's
   * identity and is judged, no longer redundant) says so with `join.late`, and is delivered at its own
   * time, so event-time order holds and nothing is re-stamped. True when joined: the late leg is
   * consumed (the caller must not dead-letter it). False: the caller dead-letters it; a sidecar or
   * gateway leg is still filed for the tolerance (not delivered), because its partner may start a few
   * ms after it and so not be released yet: when that partner comes, it takes the late leg up as if
   * it had been waiting (`joinedAfterDeadLetter`).
   */
  pushLate(event: EgressEvent): boolean {
    // Its sidecar is in the input, whether or not the leg joins.
    if (event.reporter === 'sidecar' && event.source.ip !== null) this.sawSender(event.source.ip, event.time);
    const sidecar = isSidecarLeg(event);
    const gateway = !sidecar && isGatewayLeg(event);
    let joined = false;
    if (sidecar || gateway) {
      event.join = null;
      joined = this.joinOrFile(event, gateway, true) === null;
    } else if (isOuterHopLeg(event)) {
      event.join = null;
      joined = this.bridgeOrFile(event, true) === null;
    }
    if (joined) this.counters.joinedLate++;
    return joined;
  }

  /** Event time reached `watermark`: legs whose partner can no longer come are released unjoined. */
  advance(watermark: number): void {
    this.release(watermark - this.options.toleranceMs);
  }

  /** End of input: releases everything. */
  flush(): void {
    this.release(Number.POSITIVE_INFINITY);
  }

  /** Delivers held events from the front while settled (not a leg, joined, or waited `expireBefore`). */
  private release(expireBefore: number): void {
    if (this.lateLegs.length > 0) this.forgetLateLegs(expireBefore);
    const q = this.queue;
    const legs = this.queueLegs;
    while (this.head < q.length) {
      const leg = legs[this.head] as Leg | null;
      if (leg !== null && !leg.done) {
        if (leg.event.time > expireBefore) break;
        this.expire(leg);
      }
      const event = q[this.head] as EgressEvent;
      legs[this.head] = null;
      this.head++;
      if (leg === null || !leg.hop) this.deliver(event);
    }
    if (this.head === q.length) {
      q.length = 0;
      legs.length = 0;
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.queueLegs = legs.slice(this.head);
      this.head = 0;
    }
  }

  /** The first leg that needs the heuristic: every leg still waiting is filed under its keys, in filing order. */
  private fileHeuristicKeys(): void {
    this.heuristics = true;
    const waiting: Leg[] = [];
    for (let i = this.head; i < this.queueLegs.length; i++) {
      const leg = this.queueLegs[i] as Leg | null;
      if (leg?.heuristicPending && !leg.done) waiting.push(leg);
    }
    for (const leg of this.lateLegs) if (leg.heuristicPending && !leg.done) waiting.push(leg);
    waiting.sort((a, b) => a.seq - b.seq);
    for (const leg of waiting) {
      leg.heuristicPending = false;
      const keys: string[] = [];
      const h = heuristicHostKey(leg.event);
      const i = heuristicIpKey(leg.event);
      if (h !== null) keys.push(h);
      if (i !== null) keys.push(i);
      this.file(leg, keys);
    }
  }

  /** Late legs filed for a partner: out of the indexes once their partner can no longer come. */
  private forgetLateLegs(expireBefore: number): void {
    const legs = this.lateLegs;
    let n = 0;
    // Roughly in time order (they came late by different amounts): a few may stay a little longer.
    while (n < legs.length && ((legs[n] as Leg).done || (legs[n] as Leg).event.time <= expireBefore)) {
      const leg = legs[n] as Leg;
      if (!leg.done) this.unfile(leg);
      n++;
    }
    if (n > 0) this.lateLegs = legs.slice(n);
  }

  private nameIp(g: EgressEvent): void {
    const d = g.destination;
    if (d.host === null || d.ip === null) return;
    const named = this.namedIps.get(d.ip);
    if (named === undefined || g.time - named.seen > NAMED_IP_TTL_MS) {
      if (this.namedIps.size >= MAX_NAMED_IPS) this.namedIps.clear();
      this.namedIps.set(d.ip, {
        host: d.host,
        registeredDomain: d.registeredDomain,
        seen: g.time,
        ambiguous: false,
      });
      return;
    }
    if (named.host !== d.host) named.ambiguous = true;
    named.seen = g.time;
  }

  private sawSender(ip: string, time: number): void {
    const senders = this.senders;
    if (senders.size >= MAX_SENDERS && !senders.has(ip)) {
      // Forget the quietest (Map order is insertion order; refreshed senders are re-inserted below).
      const first = senders.keys().next().value as string;
      senders.delete(first);
    }
    const last = senders.get(ip);
    if (last === undefined || time - last > 1000) {
      senders.delete(ip);
      senders.set(ip, time);
    }
  }

  /** Whether the sidecar at `ip` is in the input: some line of its pod was read lately. */
  private senderInInput(ip: string | null, time: number): boolean {
    if (ip === null) return false;
    const last = this.senders.get(ip);
    return last !== undefined && time - last <= SENDER_TTL_MS;
  }

  /**
   * Joins `event` with a waiting leg of the other side, or files it to wait; null when joined.
   * `late` (`pushLate`): joins only what settles at once, and files nothing.
   */
  private joinOrFile(event: EgressEvent, gateway: boolean, late = false): Leg | null {
    const addr = connectionAddress(gateway ? event.downstreamRemoteAddress : event.upstreamLocalAddress);
    // Ambient: the ztunnel leg is L4 (no request id, and its HBONE tunnel is not the waypoint's
    // downstream connection), so a ztunnel leg and its waypoint leg join by caller + destination.
    const ambient = event.ambient != null;
    const http = event.protocol === 'http' && event.requestId !== null && !ambient;
    const others = gateway ? this.sidecarIndex : this.gatewayIndex;
    const rKey = http ? `r${event.requestId}` : null;
    const aKey = addr === null ? null : `a${addr}`;
    const d = event.destination;

    // A gateway leg from Envoy's internal listener (`envoy://internal_client_address/`: the gateway
    // forwards by SNI through an internal listener, istio.io's wildcard-host egress) names no caller:
    // its outer leg does (joined by address to the sidecar's leg). Without an outer leg it is joined
    // when the sidecar's leg stops waiting, by destination host alone (`expire`).
    const internal =
      gateway && isInternalAddress(event.downstreamRemoteAddress) ? event.downstreamRemoteAddress : null;
    if (internal !== null && internal !== undefined) {
      const outer = this.closestHop(this.gatewayIndex, `o${internal}`, event, null);
      const leg = this.newLeg(event, true, null);
      // Late: only into an outer leg that holds its sidecar's leg (which then stands for the connection).
      if (outer !== null && (!late || outer.sidecar !== null)) {
        this.unindex(outer, `o${internal}`);
        outer.inner = leg;
        leg.bridge = outer;
        return outer.sidecar === null ? leg : this.completeBridge(outer, late ? outer.sidecar : null);
      }
      if (!late) this.file(leg, [`x${internal}`, ...(d.host === null ? [] : [`n${d.host}`])]);
      return leg;
    }

    let other: Leg | null = null;
    let by: JoinMethod = 'address';
    if (rKey !== null) {
      other = this.closest(others, rKey, event, null);
      by = 'request-id';
    }
    if (other === null && aKey !== null) {
      other = this.closest(others, aKey, event, null);
      by = 'address';
      if (other?.hop === true) {
        // The gateway's outer leg through its internal listener: the inner leg names the destination.
        const leg = this.newLeg(event, false, addr);
        // Late: only when the inner leg is there to stand for the connection.
        if (late && other.inner === null) return leg;
        this.unindex(other, aKey);
        other.sidecar = leg;
        leg.bridge = other;
        return other.inner === null ? leg : this.completeBridge(other, late ? other.inner : null);
      }
    }
    const addrForHeuristic = ambient ? null : addr;
    if (addrForHeuristic === null && !this.heuristics) this.fileHeuristicKeys();
    // The heuristic's keys (built only now: most legs join above; and only once some leg needs them).
    const hKey1 = this.heuristics ? heuristicHostKey(event) : null;
    const hKey2 = this.heuristics ? heuristicIpKey(event) : null;
    if (other === null && hKey1 !== null) {
      other = this.closest(others, hKey1, event, addrForHeuristic);
      by = 'source-and-destination';
    }
    if (other === null && hKey2 !== null) {
      other = this.closest(others, hKey2, event, addrForHeuristic);
      by = 'source-and-destination';
    }
    if (other !== null) {
      this.unfile(other);
      if (gateway) this.link(other.event, event, by);
      else this.link(event, other.event, by);
      // Of a late leg and an on-time one, the on-time one is delivered and stands for the connection.
      if (late) (other.event.join as LegJoin).late = true;
      else if (other.late) {
        (event.join as LegJoin).late = true;
        this.counters.joinedAfterDeadLetter++;
      }
      this.counters.joined[by]++;
      return null;
    }
    const keys: string[] = [];
    if (rKey !== null) keys.push(rKey);
    if (aKey !== null) keys.push(aKey);
    if (hKey1 !== null) keys.push(hKey1);
    if (hKey2 !== null) keys.push(hKey2);
    const leg = this.newLeg(event, gateway, ambient ? null : addr);
    leg.heuristicPending = !this.heuristics;
    this.file(leg, keys);
    if (late) {
      leg.late = true;
      this.lateLegs.push(leg);
    }
    return leg;
  }

  /**
   * A gateway's outer leg into its internal listener: joins the sidecar's leg (by address) and the
   * inner leg (same internal address, same start), or files itself for whichever is missing. `late`
   * (`pushLate`): only when both are waiting, and files nothing.
   */
  private bridgeOrFile(event: EgressEvent, late = false): Leg | null {
    const addr = connectionAddress(event.downstreamRemoteAddress) as string;
    const internal = event.upstreamLocalAddress as string;
    const leg = this.newLeg(event, true, addr);
    leg.hop = true;
    const sidecar = this.closest(this.sidecarIndex, `a${addr}`, event, null);
    const inner = this.closestHop(this.gatewayIndex, `x${internal}`, event, sidecar?.event ?? null);
    if (late && (sidecar === null || inner === null)) return leg;
    if (sidecar !== null) {
      this.unindex(sidecar);
      leg.sidecar = sidecar;
      sidecar.bridge = leg;
    }
    if (inner !== null) {
      this.unindex(inner);
      leg.inner = inner;
      inner.bridge = leg;
    }
    if (sidecar !== null && inner !== null) return this.completeBridge(leg, late ? sidecar : null);
    const keys: string[] = [];
    if (sidecar === null) keys.push(`a${addr}`);
    if (inner === null) keys.push(`o${internal}`);
    this.file(leg, keys);
    return leg;
  }

  private newLeg(event: EgressEvent, gateway: boolean, addr: string | null): Leg {
    return {
      event,
      gateway,
      keys: [],
      addr,
      done: false,
      hop: false,
      late: false,
      heuristicPending: false,
      seq: this.legSeq++,
      sidecar: null,
      inner: null,
      bridge: null,
    };
  }

  private file(leg: Leg, keys: string[]): void {
    const own = leg.gateway ? this.gatewayIndex : this.sidecarIndex;
    for (const k of keys) {
      leg.keys.push(k);
      const list = own.get(k);
      if (list === undefined) own.set(k, [leg]);
      else list.push(leg);
    }
  }

  /**
   * The waiting leg under `key` closest in start time within the tolerance (for the heuristic key,
   * closest in bytes, and only when one of the two legs lacks its address: `addr` is this leg's).
   */
  private closest(
    index: Map<string, Leg[]>,
    key: string,
    event: EgressEvent,
    addrForHeuristic: string | null,
  ): Leg | null {
    const list = index.get(key);
    if (list === undefined) return null;
    const kind = key.charCodeAt(0);
    const heuristic = kind === 104 || kind === 105 || kind === 110;
    const byIp = kind === 105;
    const hostKnown = event.destination.host !== null;
    const bytes = event.bytesUp + event.bytesDown;
    let best: Leg | null = null;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const leg of list) {
      if (leg.done) continue;
      const dt = Math.abs(leg.event.time - event.time);
      if (dt > this.options.toleranceMs) continue;
      if (heuristic && addrForHeuristic !== null && leg.addr !== null) continue;
      if (byIp && hostKnown && leg.event.destination.host !== null) continue;
      const score = heuristic ? Math.abs(leg.event.bytesUp + leg.event.bytesDown - bytes) : dt;
      if (score < bestScore) {
        best = leg;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * Outer leg <-> inner leg on one internal address: started within HOP_START_MS of each other,
   * closest in start time plus duration; an inner leg carrying exactly the sidecar leg's bytes
   * (`sidecar`, when known) comes first.
   */
  private closestHop(
    index: Map<string, Leg[]>,
    key: string,
    event: EgressEvent,
    sidecar: EgressEvent | null,
  ): Leg | null {
    const list = index.get(key);
    if (list === undefined) return null;
    let best: Leg | null = null;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const leg of list) {
      if (leg.done) continue;
      const e = leg.event;
      // `event` is the outer leg (looking for an inner one, with the sidecar's leg) or the inner leg.
      const s = sidecar ?? leg.sidecar?.event ?? null;
      const score = leg.hop ? hopScore(e, event, s) : hopScore(event, e, s);
      if (score < bestScore) {
        best = leg;
        bestScore = score;
      }
    }
    return best;
  }

  /** Settled: out of every index, and released in its turn. */
  private unfile(leg: Leg): void {
    leg.done = true;
    this.unindex(leg);
  }

  /** Out of the index under `only` (a key it no longer waits on), else under every key; still waiting. */
  private unindex(leg: Leg, only?: string): void {
    const index = leg.gateway ? this.gatewayIndex : this.sidecarIndex;
    for (const k of leg.keys) {
      if (only !== undefined && k !== only) continue;
      const list = index.get(k);
      if (list === undefined) continue;
      const i = list.indexOf(leg);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) index.delete(k);
    }
    if (only === undefined) {
      leg.keys.length = 0;
      leg.heuristicPending = false;
    } else leg.keys = leg.keys.filter((k) => k !== only);
  }

  /**
   * The outer leg found both its sidecar leg and its inner leg: one connection of three lines.
   * `standsFor`: one of them came late; this waiting leg stands for the connection (`join.late`).
   */
  private completeBridge(outer: Leg, standsFor: Leg | null = null): null {
    const s = outer.sidecar as Leg;
    const g = outer.inner as Leg;
    if (s.late) {
      // A late sidecar leg filed for its partner (`pushLate`): the inner leg stands for the connection.
      standsFor = g;
      this.counters.joinedAfterDeadLetter++;
    }
    this.unfile(outer);
    this.unfile(s);
    this.unfile(g);
    this.takeOuterCaller(g.event, outer.event);
    this.link(s.event, g.event, 'internal-listener');
    (s.event.join as LegJoin).outerOrigin = outer.event.origin;
    (g.event.join as LegJoin).outerOrigin = outer.event.origin;
    outer.event.join = { ...(g.event.join as LegJoin), otherOrigin: s.event.origin };
    if (standsFor !== null) (standsFor.event.join as LegJoin).late = true;
    this.counters.joined['internal-listener']++;
    return null;
  }

  /** The inner leg names no caller: the outer leg's (its address, the principal the gateway logged). */
  private takeOuterCaller(inner: EgressEvent, outer: EgressEvent): void {
    const is = inner.source;
    const os = outer.source;
    if (is.ip === null) is.ip = os.ip;
    if (os.principal !== null && (is.principal === null || is.principalSource === 'learned')) {
      is.principal = os.principal;
      is.principalSource = os.principalSource ?? 'logged';
    }
    if (is.attribution === 'unknown' && os.attribution !== 'unknown') {
      is.namespace = os.namespace;
      is.workload = os.workload;
      is.pod = os.pod;
      is.attribution = os.attribution;
      is.key = os.key;
    }
  }

  /** A leg waited its time: settled unjoined (or, held by an outer leg, with what that found). */
  private expire(leg: Leg): void {
    if (leg.bridge !== null) {
      this.expireBridge(leg.bridge);
      return;
    }
    if (leg.hop) {
      this.expireBridge(leg);
      return;
    }
    // A sidecar leg that no gateway leg claimed: an inner leg whose outer leg is not in the input,
    // by destination host alone, closest bytes (the last resort).
    if (!leg.gateway && leg.event.destination.host !== null) {
      const inner = this.closest(this.gatewayIndex, `n${leg.event.destination.host}`, leg.event, null);
      if (inner !== null) {
        this.unfile(leg);
        this.unfile(inner);
        this.link(leg.event, inner.event, 'source-and-destination');
        this.counters.joined['source-and-destination']++;
        return;
      }
    }
    this.expireUnjoined(leg);
  }

  /** An outer leg that did not find both ends in time: settles it and what it holds. */
  private expireBridge(outer: Leg): void {
    const s = outer.sidecar;
    const g = outer.inner;
    this.unfile(outer);
    if (s !== null) {
      // The gateway logged the connection (its outer leg), not where it went.
      this.unfile(s);
      const skew = outer.event.time - s.event.time;
      s.event.join = {
        by: 'address',
        otherOrigin: outer.event.origin,
        skewMs: skew,
        gatewaySni: null,
        senderInInput: true,
        outerOrigin: outer.event.origin,
      };
      outer.event.join = { ...s.event.join, otherOrigin: s.event.origin, skewMs: -skew };
      this.counters.joined.address++;
    }
    if (g !== null) {
      // No sidecar leg: the inner leg is judged as the gateway's leg of the outer leg's caller.
      this.unfile(g);
      this.takeOuterCaller(g.event, outer.event);
      this.expireUnjoined(g);
      (g.event.join as LegJoin).outerOrigin = outer.event.origin;
    }
  }

  private expireUnjoined(leg: Leg): void {
    this.unfile(leg);
    const e = leg.event;
    let sender = false;
    if (leg.gateway) {
      this.counters.unjoinedGatewayLegs++;
      const remote = connectionAddress(e.downstreamRemoteAddress);
      sender = this.senderInInput(remote === null ? e.source.ip : hostOf(remote), e.time);
    } else this.counters.unjoinedSidecarLegs++;
    e.join = {
      by: 'none',
      otherOrigin: null,
      skewMs: 0,
      gatewaySni: leg.gateway ? (e.sni ?? null) : null,
      senderInInput: sender,
    };
    // A sidecar leg that knows only the IP it dialled (plain TCP) while the gateway's logs are missing:
    // the host earlier gateway legs dialled at that IP, when they named only one.
    const d = e.destination;
    if (!leg.gateway && d.host === null && d.ip !== null) {
      const named = this.namedIps.get(d.ip);
      if (named !== undefined && !named.ambiguous && e.time - named.seen <= NAMED_IP_TTL_MS) {
        d.host = named.host;
        d.registeredDomain = named.registeredDomain;
        d.external = true;
        e.join.hostFromEarlierLegs = true;
      }
    }
  }

  /** The two legs of one connection: each takes what the other knows better. */
  private link(s: EgressEvent, g: EgressEvent, by: JoinMethod): void {
    const skew = g.time - s.time;
    const gatewaySni = g.sni ?? null;
    s.join = { by, otherOrigin: g.origin, skewMs: skew, gatewaySni, senderInInput: true } satisfies LegJoin;
    g.join = { by, otherOrigin: s.origin, skewMs: -skew, gatewaySni, senderInInput: true };
    // Destination: the gateway's (it resolved and dialled the external host), else what the sidecar saw.
    const sd = s.destination;
    const gd = g.destination;
    if (gd.host !== null) {
      sd.host = gd.host;
      sd.registeredDomain = gd.registeredDomain;
      sd.external = gd.external;
      if (gd.nameUnverified !== undefined) sd.nameUnverified = gd.nameUnverified;
    }
    if (gd.ip !== null) {
      sd.ip = gd.ip;
      sd.port = gd.port;
    }
    // Identity: the sidecar's (its pod's metadata); the principal the gateway authenticated when the
    // sidecar's is not known.
    const ss = s.source;
    const gs = g.source;
    if (gs.principal !== null && (ss.principal === null || ss.principalSource === 'learned')) {
      ss.principal = gs.principal;
      ss.principalSource = 'logged';
    }
    if (ss.attribution !== 'unknown') {
      gs.namespace = ss.namespace;
      gs.workload = ss.workload;
      gs.pod = ss.pod;
      gs.key = ss.key;
      if (gs.principal === null) {
        gs.principal = ss.principal;
        gs.principalSource = ss.principalSource ?? null;
      }
    }
  }
}
