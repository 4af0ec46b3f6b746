/**
 * Which AuthorizationPolicies Istio enforces on the egress gateway, the workload whose decisions
 * forbidden-destination reproduces. Istio's rules: a policy applies to the workloads of its own
 * namespace, or of every namespace when it is in the root namespace; `spec.selector.matchLabels`
 * narrows that to workloads carrying all those labels; `targetRef(s)` attach it to a named Gateway
 * or Service instead. A policy that does not select the gateway is reported and not applied (it
 * guards some other workload, and enforcing it as the gateway's raised false forbidden alerts).
 */
import { z } from 'zod';
import type { AuthorizationPolicy } from './istio.js';

export const PolicyTargetSchema = z
  .object({
    namespace: z.string().min(1).default('istio-system').describe("The egress gateway's namespace."),
    labels: z
      .record(z.string(), z.string())
      .default({ istio: 'egressgateway', app: 'istio-egressgateway' })
      .describe("The egress gateway pods' labels, as `spec.selector.matchLabels` would name them."),
    names: z
      .array(z.string().min(1))
      .default(['istio-egressgateway'])
      .describe('Names of the Service or Gateway API Gateway of the egress gateway, for `targetRefs`.'),
    rootNamespace: z
      .string()
      .min(1)
      .default('istio-system')
      .describe("Istio's root namespace (meshConfig.rootNamespace): policies there apply mesh-wide."),
    waypoints: z
      .array(z.object({ name: z.string().min(1), namespace: z.string().min(1) }).strict())
      .default([{ name: 'waypoint', namespace: 'istio-egress' }])
      .describe(
        'Ambient mode: the egress waypoints (Gateway API Gateways); policies whose targetRefs name one apply to egress. See docs/ambient.md.',
      ),
  })
  .strict();

export type PolicyTarget = z.infer<typeof PolicyTargetSchema>;

export const DEFAULT_POLICY_TARGET: PolicyTarget = PolicyTargetSchema.parse({});

/** Kinds a targetRef can name for a gateway: a Gateway API Gateway, or the gateway's Service. */
function refSelects(
  ref: { group?: string | undefined; kind: string; name: string; namespace?: string | undefined },
  namespace: string,
  target: PolicyTarget,
): boolean {
  const gateway =
    ref.kind === 'Gateway' && (ref.group ?? 'gateway.networking.k8s.io') === 'gateway.networking.k8s.io';
  const service = ref.kind === 'Service' && (ref.group ?? '') === '';
  const refNamespace = ref.namespace ?? namespace;
  // Ambient mode: an egress waypoint (a Gateway API Gateway) enforces what targets it.
  if (gateway && target.waypoints.some((w) => w.name === ref.name && w.namespace === refNamespace))
    return true;
  return (gateway || service) && refNamespace === target.namespace && target.names.includes(ref.name);
}

/** null when the policy applies to the egress gateway, else why not. */
export function whyNotApplied(policy: AuthorizationPolicy, target: PolicyTarget): string | null {
  // A file without metadata.namespace is applied with `kubectl -n`: read it as meant for the gateway's.
  const namespace = policy.metadata.namespace ?? target.namespace;
  const refs = [...(policy.spec.targetRef ? [policy.spec.targetRef] : []), ...(policy.spec.targetRefs ?? [])];
  if (refs.length > 0) {
    if (refs.some((r) => refSelects(r, namespace, target))) return null;
    const named = refs.map((r) => `${r.kind}/${r.name}`).join(', ');
    const waypoints = target.waypoints.map((w) => `${w.namespace}/${w.name}`).join(', ');
    return `its targetRefs (${named}) do not name the egress gateway (${target.names.join(', ')} in ${target.namespace}) nor an egress waypoint (${waypoints || 'none configured'})`;
  }
  if (namespace !== target.namespace && namespace !== target.rootNamespace)
    return `it is in namespace ${namespace}, so it applies to workloads there, not to the egress gateway in ${target.namespace}`;
  const wanted = policy.spec.selector?.matchLabels ?? {};
  const missing = Object.entries(wanted).filter(([k, v]) => target.labels[k] !== v);
  if (missing.length > 0) {
    const labels = Object.entries(target.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const selector = Object.entries(wanted)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return `its selector ${selector} does not select the egress gateway (labels ${labels}; set policyTarget.labels if yours differ)`;
  }
  return null;
}
