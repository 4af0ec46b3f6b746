/**
 * Node's process warnings, less one known-harmless warning of a dependency.
 *
 * kafkajs 2.2.4 (its latest release) arms a timer with `throttledUntil - Date.now()` when its
 * request queue is not throttled (`throttledUntil` is -1), a large negative delay; Node 24 warns
 * `TimeoutNegativeWarning: -17... is a negative number. Timeout duration was set to 1.` once per
 * process (https://github.com/tulios/kafkajs/issues/1751; the fixes, PRs #1755 and #1756, are not
 * released). 1 ms is what every older Node did with the same delay, so nothing changes but the
 * line in the log, which reads like a fault of ours. That warning, from that place, is dropped;
 * every other warning is printed as Node prints it.
 */

/** The kafkajs request-queue TimeoutNegativeWarning described above. */
export function isKafkajsNegativeTimeout(warning: Error): boolean {
  return (
    warning.name === 'TimeoutNegativeWarning' &&
    /kafkajs[\\/]src[\\/]network[\\/]requestQueue/.test(warning.stack ?? '')
  );
}

/** Replaces Node's printing of process warnings with the same printing, less the warning above. */
export function quietKafkajsNegativeTimeout(): void {
  // Node prints warnings from its own 'warning' listener; only a replacement can leave one out.
  const printers = process.listeners('warning');
  if (printers.length === 0) return; // --no-warnings: nothing is printed anyway
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (isKafkajsNegativeTimeout(warning)) return;
    for (const print of printers) print(warning);
  });
}
