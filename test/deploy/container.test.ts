/**
 * The command lines the image really gets. No Docker engine or Kubernetes runs here, so this test
 * does what they would do with the image: it takes the Dockerfile's ENTRYPOINT and CMD, composes
 * them with each container's `command`/`args` (Kubernetes: command replaces ENTRYPOINT, args
 * replaces CMD) or each compose service's `entrypoint`/`command`, and runs that argv with the
 * compiled CLI, in the image's working directory (the repository root holds what /app holds), with
 * only the environment the manifest gives. A `run` is run as `check` with the same arguments
 * (`check` accepts every `run` option), against the config the container mounts: each ConfigMap
 * volume is written to a temporary directory that stands for its mount path, and the mount path is
 * replaced by that directory in the argv and in the mounted files (what the mount does).
 * Overlays are rendered with `kubectl kustomize` where kubectl exists, else with ./kustomize.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { CLI, ensureBuilt, ROOT, runNode } from '../helpers/built-cli.js';
import { type Manifest, render } from './kustomize.js';

type Obj = Record<string, unknown>;
const IMAGE = 'ghcr.io/egress-sentinel/egress-sentinel';
const OVERLAYS = [
  'deploy/k8s/base',
  'deploy/k8s/overlays/dev',
  'deploy/k8s/overlays/production',
  'deploy/k8s/overlays/scaled',
];
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The final stage's ENTRYPOINT, CMD and WORKDIR (exec form only: a shell form would lose signals). */
function imageCommandLine(dockerfile: string): {
  entrypoint: string[];
  cmd: string[];
  workdir: string;
} {
  const stages = dockerfile.split(/^FROM /m);
  const last = stages[stages.length - 1] as string;
  const instruction = (name: string): string | undefined =>
    [...last.matchAll(new RegExp(`^${name}\\s+(.+)$`, 'gm'))].pop()?.[1];
  const json = (name: string): string[] => {
    const text = instruction(name);
    if (text === undefined) return [];
    if (!text.startsWith('[')) throw new Error(`${name} must use the exec form ["..."], got ${text}`);
    return JSON.parse(text) as string[];
  };
  return { entrypoint: json('ENTRYPOINT'), cmd: json('CMD'), workdir: instruction('WORKDIR') ?? '/' };
}

const image = imageCommandLine(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));

function kustomize(dir: string): Manifest[] {
  if (existsSync('/usr/bin/kubectl')) {
    try {
      const out = execFileSync('/usr/bin/kubectl', ['kustomize', join(ROOT, dir)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return parseAllDocuments(out).map((d) => d.toJS() as Manifest);
    } catch {
      // a kubectl that cannot run here is no renderer: fall back to the test's own
    }
  }
  return render(join(ROOT, dir));
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; optional?: boolean } };
  }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: { readOnlyRootFilesystem?: boolean };
  resources?: { limits?: { memory?: string } };
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string }; emptyDir?: Obj }[];
}

function podSpecs(ms: Manifest[]): { owner: string; pod: PodSpec }[] {
  return ms.flatMap((m) => {
    const spec = m.spec as Obj | undefined;
    const template = (m.kind === 'CronJob' ? ((spec?.jobTemplate as Obj)?.spec as Obj) : spec)?.template as
      | Obj
      | undefined;
    return template?.spec === undefined
      ? []
      : [{ owner: `${m.kind}/${m.metadata.name}`, pod: template.spec as PodSpec }];
  });
}

/** Kubernetes' rule: `command` replaces the ENTRYPOINT, `args` the CMD (and a command drops the CMD). */
function k8sArgv(c: Container): string[] {
  if (c.command !== undefined) return [...c.command, ...(c.args ?? [])];
  return [...image.entrypoint, ...(c.args ?? image.cmd)];
}

/** Compose's rule: `entrypoint` replaces the ENTRYPOINT (and drops the CMD), `command` the CMD. */
function composeArgv(s: { entrypoint?: string[]; command?: string[] }): string[] {
  if (s.entrypoint !== undefined) return [...s.entrypoint, ...(s.command ?? [])];
  return [...image.entrypoint, ...(s.command ?? image.cmd)];
}

/** The argv as the CLI runs it here: `node dist/src/cli/main.js SUBCOMMAND ...`, a run checked. */
function asCheck(argv: string[]): string[] {
  expect(argv.slice(0, 2)).toEqual(['node', 'dist/src/cli/main.js']);
  const rest = argv.slice(2);
  return rest[0] === 'run' ? ['check', ...rest.slice(1)] : rest;
}

/** V8's old space as a share of the container's memory limit (the rule in the Dockerfile). */
const HEAP_SHARE = 0.75;

/** A memory quantity (Kubernetes `1Gi`/`512Mi`, compose `1g`/`512m`) in MiB. */
function mebibytes(quantity: string): number {
  const m = /^(\d+)(Gi|Mi|g|m)$/.exec(quantity);
  if (m === null) throw new Error(`memory quantity ${quantity} not understood here`);
  return Number(m[1]) * (m[2] === 'Gi' || m[2] === 'g' ? 1024 : 1);
}

/** `--max-old-space-size=N` of a NODE_OPTIONS value (MiB), or undefined. */
function heapOf(nodeOptions: string | undefined): number | undefined {
  const m = /(?:^|\s)--max-old-space-size=(\d+)(?:\s|$)/.exec(nodeOptions ?? '');
  return m === null ? undefined : Number(m[1]);
}

let scratch: string;
beforeAll(() => {
  ensureBuilt();
  scratch = mkdtempSync(join(tmpdir(), 'egress-sentinel-container-'));
}, 240_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the image', () => {
  it('runs the CLI as its ENTRYPOINT and takes the subcommand from CMD, on Node 24', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(image.entrypoint).toEqual(['node', 'dist/src/cli/main.js']);
    expect(image.workdir).toBe('/app');
    for (const from of dockerfile.matchAll(/^FROM (\S+)/gm)) expect(from[1]).toMatch(/^node:24[-.]/);
    const r = runNode([CLI, ...image.cmd]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: egress-sentinel');
  });

  it('is built and named by the image workflow as the manifests name it, with the package version', () => {
    const workflow = readFileSync(join(ROOT, '.github/workflows/image.yml'), 'utf8');
    const parsed = parseYaml(workflow) as { env: { IMAGE: string } };
    expect(parsed.env.IMAGE).toBe(IMAGE);
    expect(workflow).toContain('docker/build-push-action');
    expect(workflow).toContain("require('./package.json').version");
    for (const dir of OVERLAYS)
      for (const { pod } of podSpecs(kustomize(dir)))
        for (const c of pod.containers) expect(c.image, `${dir} ${c.name}`).toBe(`${IMAGE}:${version}`);
  });
});

describe('Kubernetes: every overlay starts as written', () => {
  it.each(OVERLAYS)('%s: each container of the image checks its mounted config with its own argv', (dir) => {
    const ms = kustomize(dir);
    const pods = podSpecs(ms);
    expect(pods.length).toBeGreaterThan(0);
    for (const { owner, pod } of pods) {
      for (const c of pod.containers.filter((x) => x.image.startsWith(`${IMAGE}:`))) {
        const where = `${dir} ${owner} ${c.name}`;
        const root = join(scratch, dir.replaceAll('/', '_'), c.name);
        const mounts = new Map<string, string>();
        for (const m of c.volumeMounts ?? []) mounts.set(m.mountPath, join(root, `${m.name}`));
        // One pass, longest mount path first, whole path segments only (a /tmp mount must not
        // rewrite the temporary directories it is replaced by).
        const paths = [...mounts.keys()].sort((a, b) => b.length - a.length);
        const pattern = new RegExp(
          `(?<![\\w./-])(${paths.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?=/|$|[^\\w.-])`,
          'g',
        );
        const translate = (text: string): string =>
          paths.length === 0 ? text : text.replace(pattern, (path) => mounts.get(path) as string);
        for (const m of c.volumeMounts ?? []) {
          const volume = (pod.volumes ?? []).find((v) => v.name === m.name);
          expect(volume, `${where}: volume ${m.name}`).toBeDefined();
          const local = mounts.get(m.mountPath) as string;
          mkdirSync(local, { recursive: true });
          if (volume?.configMap === undefined) continue;
          const cm = ms.find((x) => x.kind === 'ConfigMap' && x.metadata.name === volume.configMap?.name) as
            | (Manifest & { data: Record<string, string> })
            | undefined;
          expect(cm, `${where}: ConfigMap ${volume.configMap.name}`).toBeDefined();
          for (const [file, text] of Object.entries(cm?.data ?? {}))
            writeFileSync(join(local, file), translate(text));
        }
        // The environment the pod gets: literal values, and required secrets (which must exist to start).
        const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
        for (const e of c.env ?? []) {
          if (e.value !== undefined) env[e.name] = e.value;
          else if (e.valueFrom?.secretKeyRef !== undefined && e.valueFrom.secretKeyRef.optional !== true)
            env[e.name] = `from-secret-${e.valueFrom.secretKeyRef.name}`;
        }
        const argv = k8sArgv(c);
        expect(argv[2], where).toBe('run');
        const r = runNode([CLI, ...asCheck(argv).map(translate)], { env });
        expect(r.stderr, where).not.toMatch(/at .*\.js:\d+/);
        expect(r.status, `${where}: ${r.stderr}`).toBe(0);
        expect(r.stdout, where).toContain(': OK');
        // A read-only root: everything the pipeline writes must be on a writable volume.
        if (c.securityContext?.readOnlyRootFilesystem) {
          const configArg = argv[argv.indexOf('--config') + 1] as string;
          const config = parseYaml(readFileSync(translate(configArg), 'utf8')) as {
            delivery?: { deadLetterFile?: string };
          };
          const deadLetters = config.delivery?.deadLetterFile ?? '';
          const writable = (c.volumeMounts ?? [])
            .filter((m) => m.readOnly !== true)
            .map((m) => mounts.get(m.mountPath));
          expect(
            writable.some((w) => w !== undefined && deadLetters.startsWith(`${w}/`)),
            `${where}: delivery.deadLetterFile ${deadLetters} is not on a writable volume`,
          ).toBe(true);
        }
      }
    }
  });
});

describe("V8's heap limit: ~75% of each container's memory limit", () => {
  it("the image's default suits the base manifest's limit", () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const last = dockerfile.split(/^FROM /m).pop() as string;
    const env = /^ENV NODE_OPTIONS=(.+)$/m.exec(last)?.[1];
    const [base] = podSpecs(kustomize('deploy/k8s/base'));
    const limit = base?.pod.containers[0]?.resources?.limits?.memory ?? '';
    expect(heapOf(env)).toBe(Math.round(mebibytes(limit) * HEAP_SHARE));
  });

  it.each(OVERLAYS)('%s: each container of the image sets NODE_OPTIONS for its own limit', (dir) => {
    for (const { owner, pod } of podSpecs(kustomize(dir)))
      for (const c of pod.containers.filter((x) => x.image.startsWith(`${IMAGE}:`))) {
        const limit = c.resources?.limits?.memory;
        expect(limit, `${dir} ${owner} ${c.name}: limits.memory`).toBeDefined();
        const options = (c.env ?? []).filter((e) => e.name === 'NODE_OPTIONS');
        expect(options, `${dir} ${owner} ${c.name}: one NODE_OPTIONS`).toHaveLength(1);
        expect(heapOf(options[0]?.value), `${dir} ${owner} ${c.name}`).toBe(
          Math.round(mebibytes(limit as string) * HEAP_SHARE),
        );
      }
  });

  it('compose: the pipeline has a memory limit and its heap at 75% of it', () => {
    const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: { pipeline: { mem_limit?: string; environment?: Record<string, string> } };
    };
    const pipeline = compose.services.pipeline;
    expect(pipeline.mem_limit).toBeDefined();
    expect(heapOf(pipeline.environment?.NODE_OPTIONS)).toBe(
      Math.round(mebibytes(pipeline.mem_limit as string) * HEAP_SHARE),
    );
  });
});

describe('docker compose: every service built from the Dockerfile starts as written', () => {
  const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<
      string,
      {
        build?: unknown;
        entrypoint?: string[];
        command?: string[];
        environment?: Record<string, string | number>;
      }
    >;
  };
  const built = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

  it('builds the pipeline, the Kibana set-up and the simulator from the Dockerfile', () => {
    expect(built.map(([name]) => name).sort()).toEqual(['kibana-setup', 'pipeline', 'simulator']);
  });

  it.each(
    built.map(([name]) => name),
  )('%s: its command line runs with only the environment compose gives', (name) => {
    const service = compose.services[name] as (typeof built)[number][1];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const [k, v] of Object.entries(service.environment ?? {})) env[k] = String(v);
    const argv = composeArgv(service);
    const args = asCheck(argv);
    // The one-shot services talk to servers as soon as they start: their argv must parse (a bad
    // option is exit 2) and --help then exits 0 without connecting.
    const r = runNode([CLI, ...args, ...(argv[2] === 'run' ? [] : ['--help'])], { env });
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(r.status, `${name}: ${r.stderr}`).toBe(0);
    if (argv[2] === 'run') {
      expect(r.stdout).toContain(': OK');
      // Nothing compose does not provide: no paging webhooks, no secrets.
      expect(r.stdout).not.toMatch(/webhook|pagerduty|slack/);
    }
  });

  it('reads every variable it sets on the pipeline', () => {
    const env = compose.services.pipeline?.environment ?? {};
    const sources = ['src/config/connections.ts'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
    // NODE_OPTIONS is Node's own (the heap limit above).
    for (const name of Object.keys(env).filter((n) => n !== 'NODE_OPTIONS'))
      expect(sources, name).toContain(name);
  });
});
