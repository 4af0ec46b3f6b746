/** Encode + decode rate of the internal-topic event codec vs keyed JSON (`node dist/bench/event-codec.js`). */

import { newEgressEvent } from '../src/identity/event.js';
import type { EgressEvent } from '../src/identity/types.js';
import { decodeEvent, encodeEvent } from '../src/scale/event-codec.js';

const base: EgressEvent = {
  time: 1_741_000_000_123,
  reporter: 'sidecar',
  protocol: 'http',
  path: 'sidecar-to-gateway',
  cluster: 'outbound|80||istio-egressgateway.istio-system.svc.cluster.local',
  bytesUp: 1234,
  bytesDown: 98_765,
  durationMs: 42,
  responseCode: 200,
  responseFlags: null,
  requestId: '5f1c2d9e-3b7a-4c11-9a0e-7d2f6b8c1e44',
  method: 'GET',
  httpPath: '/api/v1/items',
  source: {
    principal: 'spiffe://cluster.local/ns/shop/sa/cart',
    namespace: 'shop',
    workload: 'cart',
    pod: 'cart-7d9f-x2',
    ip: '10.0.3.7',
    attribution: 'principal',
    key: 'shop/cart',
  },
  destination: {
    host: 'api.github.com',
    registeredDomain: 'github.com',
    ip: null,
    port: 443,
    external: true,
  },
  origin: 'kafka:istio-access-logs/2/99812',
};
const N = 300_000;
const events = Array.from({ length: 1000 }, (_, i) => ({
  ...base,
  time: base.time + i,
  source: { ...base.source, key: `ns${i % 50}/w${i}` },
}));
function run(label: string, enc: (e: EgressEvent) => string, dec: (s: string) => unknown): void {
  const texts: string[] = new Array(N);
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) texts[i] = enc(events[i % 1000] as EgressEvent);
  const encNs = Number(process.hrtime.bigint() - t);
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) dec(texts[i] as string);
  const decNs = Number(process.hrtime.bigint() - t);
  const bytes = texts.reduce((n, s) => n + s.length, 0) / N;
  console.log(
    `${label}: encode ${Math.round(N / (encNs / 1e9))}/s, decode ${Math.round(N / (decNs / 1e9))}/s, ${bytes.toFixed(0)} bytes/event`,
  );
}
const out = newEgressEvent();
for (let r = 0; r < 2; r++) {
  run('positional array', encodeEvent, (s) => decodeEvent(s, out));
  run(
    'keyed JSON      ',
    (e) => JSON.stringify(e),
    (s) => JSON.parse(s),
  );
}
