/**
 * What users paste from a terminal, around the access line:
 *  - `kubectl logs --prefix`: `[pod/NAME/CONTAINER] <line>`;
 *  - `kubectl logs --timestamps`: `2024-01-09T15:35:47.283456789Z <line>` (RFC 3339, before or after the prefix);
 *  - stern's default template, `POD CONTAINER <line>`, or `NAMESPACE POD CONTAINER <line>` when it tails
 *    several namespaces (github.com/stern/stern README, `--template`); stern `--timestamps` puts the
 *    time after the container.
 * The prefix is stripped and what it names becomes shipper metadata: pod, container, workload (from the
 * pod name), namespace, and the time (used only when the line has no START_TIME of its own).
 */
import { parseIsoTime } from '../time.js';
import type { ShipperMeta } from '../types.js';
import { workloadFromPodName } from './meta.js';

// kubectl's prefix: `[pod/<pod>/<container>] `.
const KUBECTL_PREFIX = /^\[pod\/([a-z0-9][-a-z0-9.]*)\/([a-z0-9][-a-z0-9]*)\] /;
// An RFC 3339 time and one space, as kubectl and stern print it.
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d) /;
// stern: two or three Kubernetes names, then the line (`[2…` TEXT, `{` JSON, `"M…` a line without its time, or a time).
const STERN =
  /^(?:([a-z0-9][-a-z0-9]*) )?([a-z0-9][-a-z0-9.]*) ([a-z0-9][-a-z0-9]*) (?=\[\d{4}-|\{|"[A-Z-]|\d{4}-\d\d-\d\dT)/;
// Terminal colours (stern colours pod and container names when writing to a terminal).
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is what a colour code starts with.
const ANSI = /\x1b\[[0-9;]*m/g;

/** `[pod/NAME/CONTAINER] `: fills pod/container/workload; returns where the line starts, 0 when absent. */
export function kubectlPrefix(line: string, meta: ShipperMeta): number {
  const m = KUBECTL_PREFIX.exec(line);
  if (m === null) return 0;
  setPod(meta, null, m[1] as string, m[2] as string);
  return m[0].length;
}

/** A leading RFC 3339 time: sets the shipper time (if none yet); returns where the line starts, 0 when absent. */
export function timestampPrefix(line: string, meta: ShipperMeta): number {
  const m = TIMESTAMP.exec(line);
  if (m === null) return 0;
  const c = line.charCodeAt(m[0].length);
  // Only when an access line (or another time) follows: CRI and pilot-agent lines start with a time too.
  if (c !== 91 && c !== 123 && c !== 34 && !(c >= 48 && c <= 57)) return 0;
  if (Number.isNaN(meta.shippedAt)) meta.shippedAt = parseIsoTime(line, 0, m[0].length - 1);
  return m[0].length;
}

/**
 * stern's `[NAMESPACE] POD CONTAINER `: fills the metadata; returns where the rest starts, 0 when the
 * line does not look like one. Strip colour codes first (withoutColours).
 */
export function sternPrefix(line: string, meta: ShipperMeta): number {
  const m = STERN.exec(line);
  if (m === null) return 0;
  setPod(meta, m[1] ?? null, m[2] as string, m[3] as string);
  return m[0].length;
}

/** The line without terminal colour codes, or the line itself when it has none. */
export function withoutColours(line: string): string {
  return line.indexOf('\x1b') < 0 ? line : line.replace(ANSI, '');
}

function setPod(meta: ShipperMeta, namespace: string | null, pod: string, container: string): void {
  meta.pod = pod;
  meta.container = container;
  if (namespace !== null) meta.namespace = namespace;
  meta.workload ??= workloadFromPodName(pod);
}
