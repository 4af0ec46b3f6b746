/**
 * Per-component telemetry, as Vector counts it (component_received/sent/errors/discarded): for each
 * source, the Ingest and Detection stages and each sink, what came in, what went on, what failed and
 * what was dead-lettered. Plain numbers bumped once per batch; `PipelineMetrics.recordComponents`
 * exports them to Prometheus, `replay` prints them.
 */

export interface ComponentCounts {
  /** Items in: lines (sources, ingest), events (detection), documents (sinks). */
  received: number;
  /** Items passed on: lines (sources), egress events (ingest), alert records (detection). */
  sent: number;
  /** Items dropped on purpose and counted: lines that are no access log or not egress. */
  discarded: number;
  /** Failures: unreadable lines (ingest), failed writes (sinks), read errors (sources). */
  errors: number;
  /** Items written to the dead-letter output. */
  deadLetters: number;
}

export type ComponentKind = 'source' | 'ingest' | 'detection' | 'sink';

export class Telemetry {
  private readonly components = new Map<string, ComponentCounts>();

  /** The counts of `kind:name` (`ingest`, `detection` have no name), created at zero. */
  of(kind: ComponentKind, name?: string): ComponentCounts {
    const id = name === undefined ? kind : `${kind}:${name}`;
    let c = this.components.get(id);
    if (c === undefined) {
      c = { received: 0, sent: 0, discarded: 0, errors: 0, deadLetters: 0 };
      this.components.set(id, c);
    }
    return c;
  }

  /** A batch's events through detection: `alerts` records out, `deadLetters` late events dead-lettered. */
  detected(events: number, alerts: number, deadLetters: number): void {
    const c = this.of('detection');
    c.received += events;
    c.sent += alerts;
    c.deadLetters += deadLetters;
  }

  /** Every sink accepted `documents` (alerts, flows, baselines, events). */
  delivered(sinks: readonly { readonly name: string }[], documents: number): void {
    if (documents > 0) for (const s of sinks) this.of('sink', s.name).received += documents;
  }

  entries(): IterableIterator<[string, ComponentCounts]> {
    return this.components.entries();
  }

  toJSON(): Record<string, ComponentCounts> {
    return Object.fromEntries([...this.components].map(([id, c]) => [id, { ...c }]));
  }
}
