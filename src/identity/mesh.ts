/**
 * Inside-the-mesh tests (hosts by DNS suffix, IPs by CIDR), egress-gateway host matching, address
 * splitting, and registrable domains via tldts (public-suffix list), cached per host because the same
 * few hundred destinations repeat millions of times.
 */
import { getDomain } from 'tldts';
import { FirstSightFilter } from '../sketch/first-sight.js';
import type { MeshConfig } from './config.js';

export interface HostInfo {
  readonly mesh: boolean;
  readonly ipLiteral: boolean;
  readonly egressGateway: boolean;
  /** eTLD+1 for external names; null for IPs and mesh names. */
  readonly registeredDomain: string | null;
}

interface Cidr4 {
  base: number;
  mask: number;
}

function ipv4ToInt(ip: string): number {
  let v = 0;
  let part = 0;
  let dots = 0;
  let digits = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return -1;
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return v * 256 + part;
}

export function isIpLiteral(host: string): boolean {
  return ipv4ToInt(host) >= 0 || host.includes(':');
}

function expandIpv6(ip: string): number[] | null {
  const halves = ip.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? (halves[0] as string).split(':') : [];
  const tail = halves.length === 2 && halves[1] ? (halves[1] as string).split(':') : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const parts = [...head, ...Array<string>(fill).fill('0'), ...tail].map((h) => Number.parseInt(h, 16));
  return parts.some((p) => Number.isNaN(p)) ? null : parts;
}

export const IP_NONE = 0;
export const IP_LOOPBACK = 1;
export const IP_MESH = 2;
export const IP_EXTERNAL = 3;
export type IpKind = typeof IP_NONE | typeof IP_LOOPBACK | typeof IP_MESH | typeof IP_EXTERNAL;

/** `*` matches any run of characters, everything else itself (case-insensitive). */
export function globRegExp(pattern: string): RegExp {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 'i');
}

/** 127.0.0.0/8 and ::1: the proxy's own host, never outside the mesh. */
export function isLoopback(ip: string): boolean {
  return (ip.charCodeAt(0) === 49 && ip.startsWith('127.') && ipv4ToInt(ip) >= 0) || ip === '::1';
}

/**
 * Envoy writes some addresses with a scheme: `tcp://10.0.2.1:80` (Envoy's own default format, older
 * releases), `envoy://sni_listener/` (an internal listener: the proxy talking to itself). Returns the
 * index where the address proper starts (0 when there is no scheme), or -1 for an internal address.
 */
export function addressStart(addr: string): number {
  const c = addr.charCodeAt(0);
  if (c >= 48 && c <= 57) return 0; // the usual `ip:port`: one compare
  if (c === 116 || c === 117) return addr.startsWith('tcp://') || addr.startsWith('udp://') ? 6 : 0;
  if (c === 101 && addr.startsWith('envoy://')) return -1;
  return 0;
}

export class MeshScope {
  private readonly cidrs4: Cidr4[] = [];
  private readonly cidrs6: { parts: number[]; bits: number }[] = [];
  private readonly suffixes: string[];
  private readonly gatewayExact = new Set<string>();
  private readonly gatewayPatterns: RegExp[] = [];
  private readonly gatewayPatternText: string[] = [];
  /** Gateway hosts learned from the lines (a sidecar cluster whose endpoints are a gateway's). */
  private readonly gatewayLearned = new Set<string>();
  private readonly domainCache = new Map<string, string | null>();
  private readonly hostCache = new Map<string, HostInfo>();
  private readonly hostSights = new FirstSightFilter();

  constructor(
    config: Pick<MeshConfig, 'meshCidrs' | 'meshDomains' | 'egressGatewayHosts'> &
      Partial<Pick<MeshConfig, 'egressGatewayNamespaces'>>,
  ) {
    for (const c of config.meshCidrs) {
      const [addr, bitsText] = c.split('/') as [string, string];
      const bits = Number(bitsText);
      const base = ipv4ToInt(addr);
      if (base >= 0) {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        this.cidrs4.push({ base: (base & mask) >>> 0, mask });
      } else {
        const parts = expandIpv6(addr);
        if (parts !== null) this.cidrs6.push({ parts, bits });
      }
    }
    this.suffixes = config.meshDomains.map((d) => (d.startsWith('.') ? d : `.${d}`));
    for (const h of config.egressGatewayHosts) {
      if (h.includes('*')) this.addGatewayPattern(h);
      else this.gatewayExact.add(h.toLowerCase());
    }
    // A namespace of gateways: every service host in it, under every mesh domain.
    for (const ns of config.egressGatewayNamespaces ?? []) {
      for (const d of config.meshDomains) this.addGatewayPattern(`*.${ns}.svc.${d}`);
    }
  }

  private addGatewayPattern(p: string): void {
    this.gatewayPatterns.push(globRegExp(p));
    this.gatewayPatternText.push(p);
  }

  /** The gateway hosts and patterns in force (configured, then learned from the lines). */
  gatewayHosts(): string[] {
    return [...this.gatewayExact, ...this.gatewayPatternText, ...this.gatewayLearned];
  }

  /** Mesh names: no dot (short service names), or a configured mesh suffix. */
  isMeshHost(host: string): boolean {
    if (host.indexOf('.') < 0) return true;
    for (const s of this.suffixes) if (host.endsWith(s) || host === s.slice(1)) return true;
    return false;
  }

  /** What an address is, with one parse: IP_NONE (not an IP), IP_LOOPBACK, IP_MESH or IP_EXTERNAL. */
  ipKind(ip: string): IpKind {
    const v = ipv4ToInt(ip);
    if (v >= 0) {
      if (v >= 0x7f000000 && v <= 0x7fffffff) return IP_LOOPBACK;
      for (const c of this.cidrs4) if ((v & c.mask) >>> 0 === c.base) return IP_MESH;
      return IP_EXTERNAL;
    }
    if (ip.indexOf(':') < 0) return IP_NONE;
    if (ip === '::1') return IP_LOOPBACK;
    if (expandIpv6(ip) === null) return IP_NONE;
    return this.isMeshIp(ip) ? IP_MESH : IP_EXTERNAL;
  }

  isMeshIp(ip: string): boolean {
    const v = ipv4ToInt(ip);
    if (v >= 0) {
      for (const c of this.cidrs4) if ((v & c.mask) >>> 0 === c.base) return true;
      return false;
    }
    const parts = expandIpv6(ip);
    if (parts === null) return false;
    outer: for (const c of this.cidrs6) {
      let bits = c.bits;
      for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
        const m = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
        if (((parts[i] as number) & m) !== ((c.parts[i] as number) & m)) continue outer;
      }
      return true;
    }
    return false;
  }

  isEgressGatewayHost(host: string): boolean {
    const h = host.toLowerCase();
    if (this.gatewayExact.has(h) || this.gatewayLearned.has(h)) return true;
    for (const p of this.gatewayPatterns) if (p.test(h)) return true;
    return false;
  }

  /** Evidence from the lines: `host` is a gateway's service (its cached facts are recomputed). */
  learnGatewayHost(host: string): void {
    const h = detachString(host.toLowerCase());
    if (this.gatewayLearned.has(h) || this.gatewayLearned.size >= 1000) return;
    this.gatewayLearned.add(h);
    this.hostCache.delete(host);
  }

  /** Everything the normaliser asks about a host, computed once per distinct host (one Map lookup per use). */
  hostInfo(host: string): HostInfo {
    let info = this.hostCache.get(host);
    if (info === undefined) {
      // Cached from a host's second sighting: a flood of hosts each used once (issue #15) would
      // otherwise fill the cache with entries that outlive the young generation for nothing.
      const cache = !this.hostSights.firstSight(host);
      if (cache) host = detachString(host);
      const ip = isIpLiteral(host);
      const mesh = ip ? this.isMeshIp(host) : this.isMeshHost(host);
      info = {
        mesh,
        ipLiteral: ip,
        egressGateway: !ip && this.isEgressGatewayHost(host),
        registeredDomain: ip || mesh ? null : getDomain(host),
      };
      if (cache) {
        if (this.hostCache.size >= 50000) this.hostCache.clear();
        this.hostCache.set(host, info);
      }
    }
    return info;
  }

  registeredDomain(host: string): string | null {
    const hit = this.domainCache.get(host);
    if (hit !== undefined) return hit;
    const d = getDomain(host);
    if (this.domainCache.size >= 50000) this.domainCache.clear();
    this.domainCache.set(host, d);
    return d;
  }
}

/**
 * A copy of `s` that does not keep the string it was sliced from alive. Parsers hand out slices of the
 * raw line (V8 sliced strings point at their parent), so a cache keyed by a slice would pin a whole
 * ~1 KB log line per entry. Used only on cache misses.
 */
export function detachString(s: string): string {
  // Concatenating forces a flat copy; the slice of that copy points at the copy, not at the line.
  return ` ${s}`.slice(1);
}

/** Index of the ':' before the port in `ip:port` / `[v6]:port` / `host:port`, or -1. */
export function portColon(addr: string): number {
  if (addr.charCodeAt(0) === 91) {
    const close = addr.indexOf(']');
    return close >= 0 && addr.charCodeAt(close + 1) === 58 ? close + 1 : -1;
  }
  // The only ':' (a bare IPv6 address has several and no port). A loop: lastIndexOf is a slow
  // runtime call in V8 (measured ~5% of the whole TEXT parse path), and addresses are short.
  let c = -1;
  for (let i = 0; i < addr.length; i++) {
    if (addr.charCodeAt(i) === 58) {
      if (c >= 0) return -1;
      c = i;
    }
  }
  return c;
}

export function addrHost(addr: string): string {
  return hostBefore(addr, portColon(addr));
}

/** The host before the colon at `c` (from portColon), without IPv6 brackets. */
export function hostBefore(addr: string, c: number): string {
  const h = c < 0 ? addr : addr.slice(0, c);
  return h.charCodeAt(0) === 91 ? h.slice(1, -1) : h;
}

export function addrPort(addr: string): number {
  return portAfter(addr, portColon(addr));
}

/** The port after the colon at `c` (from portColon), 0 when none; plain digits are read without a slice. */
export function portAfter(addr: string, c: number): number {
  if (c < 0) return 0;
  let v = 0;
  const long = addr.length - c > 15; // beyond exact doubles Number() rounds its own way: let it
  for (let i = c + 1; i < addr.length; i++) {
    const d = addr.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || long) {
      const n = Number(addr.slice(c + 1));
      return Number.isInteger(n) ? n : 0;
    }
    v = v * 10 + d;
  }
  return v;
}
