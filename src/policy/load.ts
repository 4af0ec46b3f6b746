/**
 * Loads policy files given with `--policy` or `policies:` in the config: each file is either the
 * pipeline's own EgressPolicy file or one or more Istio AuthorizationPolicy documents (`---`
 * separated, or a `kind: List` as `kubectl get authorizationpolicy -o yaml` prints them; other kinds
 * in the same file are skipped). Read strictly: an unknown key is an error, since a misspelt
 * `rule:` would silently change what is enforced. Problems are reported all at once with the file,
 * the document (and list item) and the path. AuthorizationPolicies that do not select the egress
 * gateway (policy/target.ts) are not applied, and said so.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { formatIssues, SentinelError } from '../errors.js';
import { type AuthorizationPolicy, AuthorizationPolicySchema, IstioPolicyEvaluator } from './istio.js';
import { ScopedIstioEvaluator, type ScopedPolicy } from './istio-scoped.js';
import { EgressPolicyFileSchema, PipelinePolicyEvaluator } from './pipeline.js';
import { PolicySet } from './policy-set.js';
import { DEFAULT_POLICY_TARGET, type PolicyTarget, whyNotApplied } from './target.js';
import type { PolicyEvaluator } from './types.js';

/** Keys a misspelling most often stands for (Istio's own field names). */
const KNOWN_KEYS = [
  'rules',
  'selector',
  'matchLabels',
  'targetRef',
  'targetRefs',
  'action',
  'provider',
  'from',
  'to',
  'when',
  'source',
  'operation',
  'principals',
  'namespaces',
  'ipBlocks',
  'hosts',
  'ports',
  'methods',
  'paths',
  'key',
  'values',
  'notValues',
  'policies',
  'allow',
  'defaultAction',
];

function didYouMean(key: string): string | undefined {
  const k = key.toLowerCase();
  return KNOWN_KEYS.find((known) => {
    const n = known.toLowerCase();
    return n !== k && (n === `${k}s` || `${n}s` === k || n === k.replace(/[-_]/g, ''));
  });
}

function issues(error: z.ZodError): string[] {
  const lines = formatIssues(error.issues);
  return error.issues.map((issue, i) => {
    const line = lines[i] as string;
    if (issue.code !== 'unrecognized_keys') return line;
    const hints = issue.keys
      .map((k) => [k, didYouMean(k)] as const)
      .filter((h): h is readonly [string, string] => h[1] !== undefined)
      .map(([k, known]) => `"${k}" -> "${known}"`);
    return hints.length === 0 ? line : `${line} (did you mean ${hints.join(', ')}?)`;
  });
}

export interface ParsedPolicies {
  evaluators: PolicyEvaluator[];
  /** AuthorizationPolicies read but not applied, each with the reason. */
  notApplied: string[];
}

export function parsePolicyDocuments(
  text: string,
  file: string,
  target: PolicyTarget = DEFAULT_POLICY_TARGET,
): ParsedPolicies {
  const problems: string[] = [];
  const istio: AuthorizationPolicy[] = [];
  const evaluators: PolicyEvaluator[] = [];
  const notApplied: string[] = [];
  // Ambient mode: policies attached to ServiceEntries, resolved once every document is read.
  const serviceEntries = new Map<string, { hosts: string[]; waypoint: string | null }>();
  const attached: { policy: AuthorizationPolicy; where: string }[] = [];

  const read = (obj: Record<string, unknown>, where: string): void => {
    if (obj.kind === 'ServiceEntry') {
      const entry = serviceEntryOf(obj);
      if (entry !== null) serviceEntries.set(entry.id, entry);
      return;
    }
    if (obj.kind === 'AuthorizationPolicy') {
      const r = AuthorizationPolicySchema.safeParse(obj);
      if (!r.success) {
        for (const p of issues(r.error))
          problems.push(`${where} (AuthorizationPolicy ${describeName(obj)}): ${p}`);
        return;
      }
      if (attachedToServiceEntries(r.data)) {
        attached.push({ policy: r.data, where });
        return;
      }
      const why = whyNotApplied(r.data, target);
      if (why === null) istio.push(r.data);
      else
        notApplied.push(
          `${file} ${where}: AuthorizationPolicy ${r.data.metadata.namespace ?? '(no namespace)'}/${r.data.metadata.name} is not applied: ${why}.`,
        );
      return;
    }
    if (obj.kind === 'EgressPolicy' || (obj.kind === undefined && 'policies' in obj)) {
      const r = EgressPolicyFileSchema.safeParse(obj);
      if (r.success) evaluators.push(new PipelinePolicyEvaluator(r.data, file));
      else for (const p of issues(r.error)) problems.push(`${where} (EgressPolicy): ${p}`);
      return;
    }
    // Other Kubernetes kinds (ServiceEntry, Gateway...) often share the file: skip them.
    if (typeof obj.kind === 'string' && typeof obj.apiVersion === 'string') return;
    problems.push(
      `${where}: neither an AuthorizationPolicy nor an EgressPolicy (kind: ${String(obj.kind ?? 'missing')})`,
    );
  };

  parseAllDocuments(text).forEach((doc, i) => {
    const where = `document ${i + 1}`;
    if (doc.errors.length > 0) {
      problems.push(`${where}: not valid YAML: ${doc.errors[0]?.message ?? 'parse error'}`);
      return;
    }
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) return;
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`${where}: expected a mapping`);
      return;
    }
    const obj = raw as Record<string, unknown>;
    // `kubectl get ... -o yaml` wraps several objects in a List (or an AuthorizationPolicyList).
    if (
      obj.kind === 'List' ||
      (typeof obj.kind === 'string' && obj.kind.endsWith('List') && 'items' in obj)
    ) {
      if (!Array.isArray(obj.items)) {
        problems.push(`${where} (${obj.kind}): items: expected a list`);
        return;
      }
      obj.items.forEach((item: unknown, j) => {
        const at = `${where} items[${j}]`;
        if (item === null || typeof item !== 'object' || Array.isArray(item))
          problems.push(`${at}: expected a mapping`);
        else read(item as Record<string, unknown>, at);
      });
      return;
    }
    read(obj, where);
  });
  if (problems.length > 0) {
    throw new SentinelError(
      'ESN_POLICY',
      `Invalid policy file ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      { where: file },
    );
  }
  const scoped: ScopedPolicy[] = [];
  for (const { policy, where } of attached) {
    const { hosts, why } = serviceEntryScope(policy, serviceEntries);
    if (why === null) scoped.push({ policy, hosts });
    else
      notApplied.push(
        `${file} ${where}: AuthorizationPolicy ${policy.metadata.namespace ?? '(no namespace)'}/${policy.metadata.name} is not applied: ${why}.`,
      );
  }
  if (scoped.length > 0) evaluators.push(new ScopedIstioEvaluator(istio, scoped, file));
  else if (istio.length > 0) evaluators.push(new IstioPolicyEvaluator(istio, file));
  if (evaluators.length === 0 && notApplied.length === 0)
    throw new SentinelError(
      'ESN_POLICY',
      `Policy file ${file} holds no AuthorizationPolicy or EgressPolicy.`,
      { where: file },
    );
  return { evaluators, notApplied };
}

/** The evaluators of one file's text (the policies that apply to the egress gateway). */
export function parsePolicyText(
  text: string,
  file: string,
  target: PolicyTarget = DEFAULT_POLICY_TARGET,
): PolicyEvaluator[] {
  return parsePolicyDocuments(text, file, target).evaluators;
}

function serviceEntryOf(
  obj: Record<string, unknown>,
): { id: string; hosts: string[]; waypoint: string | null } | null {
  const meta = obj.metadata as Record<string, unknown> | undefined;
  const spec = obj.spec as Record<string, unknown> | undefined;
  if (typeof meta?.name !== 'string' || !Array.isArray(spec?.hosts)) return null;
  const labels = (meta.labels ?? {}) as Record<string, unknown>;
  const waypoint = labels['istio.io/use-waypoint'];
  return {
    id: `${typeof meta.namespace === 'string' ? meta.namespace : ''}/${meta.name}`,
    hosts: spec.hosts.filter((h): h is string => typeof h === 'string'),
    waypoint: typeof waypoint === 'string' && waypoint !== 'none' ? waypoint : null,
  };
}

function targetRefsOf(p: AuthorizationPolicy) {
  return [...(p.spec.targetRef ? [p.spec.targetRef] : []), ...(p.spec.targetRefs ?? [])];
}

/** Every targetRef names a ServiceEntry (the waypoint it uses enforces the policy for it). */
function attachedToServiceEntries(p: AuthorizationPolicy): boolean {
  const refs = targetRefsOf(p);
  return refs.length > 0 && refs.every((r) => r.kind === 'ServiceEntry');
}

/** The hosts a ServiceEntry-attached policy guards, or why it is not enforced on egress. */
function serviceEntryScope(
  p: AuthorizationPolicy,
  entries: ReadonlyMap<string, { hosts: string[]; waypoint: string | null }>,
): { hosts: string[]; why: string | null } {
  const hosts: string[] = [];
  for (const ref of targetRefsOf(p)) {
    const id = `${ref.namespace ?? p.metadata.namespace ?? ''}/${ref.name}`;
    const entry = entries.get(id);
    if (entry === undefined)
      return { hosts, why: `its ServiceEntry ${id} is not in the same file (needed for its hosts)` };
    if (entry.waypoint === null)
      return {
        hosts,
        why: `its ServiceEntry ${id} has no istio.io/use-waypoint label, so no waypoint enforces it`,
      };
    hosts.push(...entry.hosts);
  }
  return { hosts, why: null };
}

function describeName(obj: Record<string, unknown>): string {
  const meta = obj.metadata as Record<string, unknown> | undefined;
  return typeof meta?.name === 'string' ? meta.name : '(unnamed)';
}

export function loadPolicyFiles(
  files: readonly string[],
  target: PolicyTarget = DEFAULT_POLICY_TARGET,
): PolicySet {
  const evaluators: PolicyEvaluator[] = [];
  const notApplied: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new SentinelError(
        'ESN_POLICY',
        `Cannot read policy file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}.`,
        { where: file },
      );
    }
    const parsed = parsePolicyDocuments(text, file, target);
    evaluators.push(...parsed.evaluators);
    notApplied.push(...parsed.notApplied);
  }
  return new PolicySet(evaluators, notApplied);
}
