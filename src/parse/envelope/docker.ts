/**
 * Docker json-file lines `{"log":"...\n","stream":"stdout","time":"..."}` (also Fluent Bit without
 * the kubernetes filter), and the generic `{"message": "..."}` record of any other shipper. No
 * Kubernetes metadata: attribution then relies on the line (principal) or the pod-IP map.
 */
import type { ShipperMeta } from '../types.js';
import { shipperTime } from './meta.js';
import type { InnerSink, JsonEnvelope, JsonObject } from './types.js';

export const dockerEnvelope: JsonEnvelope = {
  name: 'docker-json',
  matches(o) {
    return typeof o.log === 'string';
  },
  open(o: JsonObject, m: ShipperMeta, sink: InnerSink) {
    m.shippedAt = shipperTime(o.time);
    sink.line(o.log as string, m);
  },
};

export const messageEnvelope: JsonEnvelope = {
  name: 'message',
  matches(o) {
    return typeof o.message === 'string' && o.start_time === undefined;
  },
  open(o: JsonObject, m: ShipperMeta, sink: InnerSink) {
    m.shippedAt = shipperTime(o['@timestamp'] ?? o.timestamp ?? o.time);
    sink.line(o.message as string, m);
  },
};
