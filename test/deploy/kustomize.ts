/**
 * A small kustomize renderer for the tests (no kustomize binary on a fresh machine): follows
 * `resources` (files and directories), `configMapGenerator` (files and literals, no hash suffix),
 * `namespace`, `labels`/`commonLabels`, `images` (newTag/newName), and `patches` (strategic-merge
 * files or inline patches, and inline JSON 6902 with a target). Enough for deploy/, and loud when a
 * kustomization uses anything else.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};
type Obj = Record<string, unknown>;

const KNOWN = new Set([
  'apiVersion',
  'kind',
  'resources',
  'configMapGenerator',
  'namespace',
  'labels',
  'commonLabels',
  'images',
  'patches',
]);

function readDocs(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
      return d.toJS() as Manifest | null;
    })
    .filter((d): d is Manifest => d !== null);
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Strategic merge as kustomize does it for the lists we use: lists of objects merge by `name`. */
export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isObj(base) && isObj(patch)) {
    const out: Obj = { ...base };
    for (const [k, v] of Object.entries(patch)) out[k] = k in base ? strategicMerge(base[k], v) : v;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(patch) && patch.every((p) => isObj(p) && 'name' in p)) {
    const out = [...base];
    for (const p of patch as Obj[]) {
      const i = out.findIndex((b) => isObj(b) && b.name === p.name);
      if (i >= 0) out[i] = strategicMerge(out[i], p);
      else out.push(p);
    }
    return out;
  }
  return patch;
}

function jsonPatch(doc: Obj, ops: { op: string; path: string; value?: unknown }[]): void {
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop() as string;
    let at: unknown = doc;
    for (const p of parts) at = (at as Obj)[p];
    if (at === undefined || (op.op !== 'add' && op.op !== 'replace' && op.op !== 'remove'))
      throw new Error(`unsupported JSON patch ${JSON.stringify(op)}`);
    if (op.op === 'remove') delete (at as Obj)[last];
    else if (Array.isArray(at) && last === '-') at.push(op.value);
    else (at as Obj)[last] = op.value;
  }
}

function setLabels(m: Manifest, labels: Record<string, string>, selectors: boolean): void {
  m.metadata.labels = { ...m.metadata.labels, ...labels };
  if (!selectors) return;
  const spec = m.spec as Obj | undefined;
  if (spec === undefined) return;
  if (m.kind === 'Service') spec.selector = { ...(spec.selector as Obj), ...labels };
  const selector = spec.selector as Obj | undefined;
  if (isObj(selector?.matchLabels)) selector.matchLabels = { ...selector.matchLabels, ...labels };
  const template = spec.template as Obj | undefined;
  if (isObj(template?.metadata))
    (template.metadata as Obj).labels = { ...((template.metadata as Obj).labels as Obj), ...labels };
}

export function render(dir: string): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  const k = parse(readFileSync(file, 'utf8')) as Obj;
  const unknown = Object.keys(k).filter((key) => !KNOWN.has(key));
  if (unknown.length > 0)
    throw new Error(`${file}: the test renderer does not support ${unknown.join(', ')}`);
  const out: Manifest[] = [];
  for (const r of (k.resources as string[] | undefined) ?? []) {
    const path = join(dir, r);
    if (!existsSync(path)) throw new Error(`${file}: resource ${r} does not exist`);
    out.push(...(statSync(path).isDirectory() ? render(path) : readDocs(path)));
  }
  for (const g of (k.configMapGenerator as Obj[] | undefined) ?? []) {
    const data: Record<string, string> = {};
    for (const f of (g.files as string[] | undefined) ?? [])
      data[f.split('/').pop() as string] = readFileSync(join(dir, f), 'utf8');
    for (const l of (g.literals as string[] | undefined) ?? [])
      data[l.slice(0, l.indexOf('='))] = l.slice(l.indexOf('=') + 1);
    // behavior: merge (an overlay replacing files of a base's generated ConfigMap).
    const base =
      g.behavior === 'merge'
        ? out.find((m) => m.kind === 'ConfigMap' && m.metadata.name === g.name)
        : undefined;
    if (base !== undefined) base.data = { ...(base.data as Record<string, string>), ...data };
    else out.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: String(g.name) }, data });
  }
  for (const p of (k.patches as Obj[] | undefined) ?? []) {
    const text = typeof p.path === 'string' ? readFileSync(join(dir, p.path), 'utf8') : String(p.patch);
    const patch = parse(text) as unknown;
    const target =
      (p.target as Obj | undefined) ??
      (isObj(patch) ? { kind: patch.kind, name: (patch.metadata as Obj | undefined)?.name } : {});
    const hits = out.filter(
      (m) =>
        (target.kind === undefined || m.kind === target.kind) &&
        (target.name === undefined || m.metadata.name === target.name),
    );
    if (hits.length === 0) throw new Error(`${file}: patch matches nothing (${JSON.stringify(target)})`);
    for (const m of hits) {
      if (Array.isArray(patch)) jsonPatch(m, patch as { op: string; path: string; value?: unknown }[]);
      else Object.assign(m, strategicMerge(m, patch));
    }
  }
  for (const img of (k.images as Obj[] | undefined) ?? []) {
    for (const m of out) {
      const containers =
        ((((m.spec as Obj | undefined)?.template as Obj | undefined)?.spec as Obj | undefined)?.containers as
          | Obj[]
          | undefined) ?? [];
      for (const c of containers) {
        const [name] = String(c.image).split(':');
        if (name === img.name)
          c.image = `${img.newName ?? name}:${img.newTag ?? String(c.image).split(':')[1]}`;
      }
    }
  }
  const labels = k.labels as { pairs: Record<string, string>; includeSelectors?: boolean }[] | undefined;
  for (const l of labels ?? []) for (const m of out) setLabels(m, l.pairs, l.includeSelectors === true);
  if (isObj(k.commonLabels))
    for (const m of out) setLabels(m, k.commonLabels as Record<string, string>, true);
  if (typeof k.namespace === 'string') {
    for (const m of out) {
      if (m.kind === 'Namespace' || m.kind.startsWith('Cluster')) continue;
      m.metadata.namespace = k.namespace;
    }
    for (const m of out) {
      if (m.kind !== 'ClusterRoleBinding' && m.kind !== 'RoleBinding') continue;
      for (const s of (m.subjects as Obj[] | undefined) ?? [])
        if (s.kind === 'ServiceAccount') s.namespace = k.namespace;
    }
  }
  return out;
}
