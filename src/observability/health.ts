/**
 * Liveness and readiness. Live: the process runs and its consumer loop has not failed for good.
 * Ready: every condition registered as required holds, e.g. "partitions assigned" and "state
 * restored"; a rebalance marks the instance not ready until its new partitions are restored, so a
 * Kubernetes rolling restart waits for the replacement to have its baselines back.
 */
export class Health {
  private readonly conditions = new Map<string, boolean>();
  private failure: string | null = null;

  /** Declares a condition that must hold before the instance is ready (initially false). */
  require(name: string): void {
    if (!this.conditions.has(name)) this.conditions.set(name, false);
  }

  set(name: string, ok: boolean): void {
    this.conditions.set(name, ok);
  }

  /** The instance cannot recover (e.g. its consumer crashed): liveness fails so it is restarted. */
  fail(reason: string): void {
    this.failure = reason;
  }

  get live(): boolean {
    return this.failure === null;
  }

  get ready(): boolean {
    if (this.failure !== null) return false;
    for (const ok of this.conditions.values()) if (!ok) return false;
    return true;
  }

  /** What /healthz and /readyz print. */
  report(): { live: boolean; ready: boolean; failure: string | null; conditions: Record<string, boolean> } {
    return {
      live: this.live,
      ready: this.ready,
      failure: this.failure,
      conditions: Object.fromEntries(this.conditions),
    };
  }
}
