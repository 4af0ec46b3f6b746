/**
 * Loads policy files given with `--policy` or `policies:` in the config: each file is either the
 * pipeline's own EgressPolicy file or one or more Istio AuthorizationPolicy documents (`---`
 * separated; other kinds in the same file are skipped). Problems are reported all at once with the
 * file and document number.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { SentinelError } from '../errors.js';
import { formatIssues } from '../pipeline/config.js';
import { type AuthorizationPolicy, AuthorizationPolicySchema, IstioPolicyEvaluator } from './istio.js';
import { EgressPolicyFileSchema, PipelinePolicyEvaluator } from './pipeline.js';
import { PolicySet } from './policy-set.js';
import type { PolicyEvaluator } from './types.js';

export function parsePolicyText(text: string, file: string): PolicyEvaluator[] {
  const problems: string[] = [];
  const istio: AuthorizationPolicy[] = [];
  const evaluators: PolicyEvaluator[] = [];
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
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
    if (obj.kind === 'AuthorizationPolicy') {
      const r = AuthorizationPolicySchema.safeParse(obj);
      if (r.success) istio.push(r.data);
      else
        for (const p of formatIssues(r.error.issues))
          problems.push(`${where} (AuthorizationPolicy ${describeName(obj)}): ${p}`);
      return;
    }
    if (obj.kind === 'EgressPolicy' || (obj.kind === undefined && 'policies' in obj)) {
      const r = EgressPolicyFileSchema.safeParse(obj);
      if (r.success) evaluators.push(new PipelinePolicyEvaluator(r.data, file));
      else for (const p of formatIssues(r.error.issues)) problems.push(`${where} (EgressPolicy): ${p}`);
      return;
    }
    // Other Kubernetes kinds (ServiceEntry, Gateway...) often share the file: skip them.
    if (typeof obj.kind === 'string' && typeof obj.apiVersion === 'string') return;
    problems.push(
      `${where}: neither an AuthorizationPolicy nor an EgressPolicy (kind: ${String(obj.kind ?? 'missing')})`,
    );
  });
  if (problems.length > 0) {
    throw new SentinelError(
      'ESN_POLICY',
      `Invalid policy file ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      { where: file },
    );
  }
  if (istio.length > 0) evaluators.push(new IstioPolicyEvaluator(istio, file));
  if (evaluators.length === 0)
    throw new SentinelError(
      'ESN_POLICY',
      `Policy file ${file} holds no AuthorizationPolicy or EgressPolicy.`,
      { where: file },
    );
  return evaluators;
}

function describeName(obj: Record<string, unknown>): string {
  const meta = obj.metadata as Record<string, unknown> | undefined;
  return typeof meta?.name === 'string' ? meta.name : '(unnamed)';
}

export function loadPolicyFiles(files: readonly string[]): PolicySet {
  const evaluators: PolicyEvaluator[] = [];
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
    evaluators.push(...parsePolicyText(text, file));
  }
  return new PolicySet(evaluators);
}
