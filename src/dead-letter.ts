/**
 * The one dead-letter record: something the pipeline could not use (a line it could not read, an
 * event behind event time, a document a sink gave up on), kept with the reason, where it came from
 * and its content, so nothing is dropped silently. Every component writes this shape, in `replay`'s
 * dead-letter file and in `run`'s alike. No wall-clock time: the same input gives the same records.
 */
export interface DeadLetter {
  /** What refused it: `parse` (unreadable line), `late` (behind event time), `by-source` (scaled stage 2), or a sink's name. */
  readonly component: string;
  readonly reason: string;
  /**
   * Where it came from, as `EgressEvent.origin`: `file:/path:LINE`, `stdin:LINE`,
   * `kafka:topic/partition/offset`; for a sink, the document's id (alert id, flow id); null if unknown.
   */
  readonly origin: string | null;
  /** The input line as read, or the document (a sink's) or record (stage 2's) it could not use. */
  readonly raw: unknown;
}

/** Where a line came from, written as the normaliser writes `EgressEvent.origin`. */
export function lineOrigin(source: string, position: string): string {
  return `${source}${source.startsWith('kafka:') ? '/' : ':'}${position}`;
}
