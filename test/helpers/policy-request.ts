import type { PolicyRequest } from '../../src/policy/types.js';

/**
 * A request from app A to www.ibm.com through the gateway over TLS passthrough: the gateway logged
 * the host as SNI (what `connection.sni` reads). `over` changes any field; the SNI follows `host`
 * unless `over` sets it.
 */
export function policyRequest(over: Partial<PolicyRequest> = {}): PolicyRequest {
  return {
    principal: 'cluster.local/ns/app-a/sa/app-a',
    namespace: 'app-a',
    workload: 'app-a',
    host: 'www.ibm.com',
    sni: over.host ?? 'www.ibm.com',
    port: 443,
    httpVisible: false,
    method: null,
    path: null,
    ...over,
  };
}
