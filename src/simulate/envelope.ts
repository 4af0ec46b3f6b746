/**
 * Wraps a rendered line the way a log shipper delivers it to Kafka, with the Kubernetes metadata of
 * the pod whose istio-proxy container wrote it (see shared reference access-logs.md §5): Fluent Bit
 * (`tail` + `kubernetes` filter), Filebeat (`add_kubernetes_metadata`), Vector (`kubernetes_logs`),
 * and an OTLP/JSON logs request from the OpenTelemetry Collector (`filelog` + `k8sattributes`).
 */
import type { SimRecord } from './record.js';
import { type Pod, PROXY_IMAGE } from './topology.js';

export const ENVELOPES = ['none', 'fluent-bit', 'filebeat', 'vector', 'otlp'] as const;
export type EnvelopeName = (typeof ENVELOPES)[number];

function podLabels(pod: Pod): Record<string, string> {
  return pod.spec.kind === 'cronjob'
    ? { ...pod.spec.labels, 'job-name': pod.name.slice(0, pod.name.lastIndexOf('-')) }
    : { ...pod.spec.labels, 'pod-template-hash': pod.name.split('-').slice(-2, -1)[0] ?? '' };
}

function logPath(pod: Pod): string {
  return `/var/log/pods/${pod.spec.namespace}_${pod.name}_${pod.uid}/istio-proxy/0.log`;
}

function fluentBit(line: string, pod: Pod, emit: number): string {
  return JSON.stringify({
    time: new Date(emit).toISOString(),
    stream: 'stdout',
    logtag: 'F',
    log: line,
    kubernetes: {
      pod_name: pod.name,
      namespace_name: pod.spec.namespace,
      pod_id: pod.uid,
      labels: podLabels(pod),
      annotations: {
        'sidecar.istio.io/status': '{"initContainers":["istio-init"],"containers":["istio-proxy"]}',
      },
      host: pod.node,
      pod_ip: pod.ip,
      container_name: 'istio-proxy',
      docker_id: pod.dockerId,
      container_hash:
        'docker.io/istio/proxyv2@sha256:1b8f9b1c5d0e8b8d3a7e4b5f6a2c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708',
      container_image: PROXY_IMAGE,
    },
  });
}

function filebeat(line: string, pod: Pod, emit: number): string {
  const deployment = pod.spec.kind === 'cronjob' ? undefined : pod.spec.workload;
  return JSON.stringify({
    '@timestamp': new Date(emit).toISOString(),
    message: line,
    stream: 'stdout',
    log: {
      file: { path: `/var/log/containers/${pod.name}_${pod.spec.namespace}_istio-proxy-${pod.dockerId}.log` },
      offset: 0,
    },
    input: { type: 'container' },
    container: { id: pod.dockerId, image: { name: PROXY_IMAGE }, runtime: 'containerd' },
    kubernetes: {
      pod: { name: pod.name, uid: pod.uid, ip: pod.ip },
      namespace: pod.spec.namespace,
      node: { name: pod.node },
      labels: podLabels(pod),
      container: { name: 'istio-proxy' },
      ...(deployment === undefined
        ? { job: { name: pod.name.slice(0, pod.name.lastIndexOf('-')) } }
        : {
            replicaset: { name: pod.name.slice(0, pod.name.lastIndexOf('-')) },
            deployment: { name: deployment },
          }),
    },
  });
}

function vector(line: string, pod: Pod, emit: number): string {
  return JSON.stringify({
    file: logPath(pod),
    kubernetes: {
      container_id: `containerd://${pod.dockerId}`,
      container_image: PROXY_IMAGE,
      container_name: 'istio-proxy',
      namespace_labels: { 'kubernetes.io/metadata.name': pod.spec.namespace, 'istio-injection': 'enabled' },
      pod_ip: pod.ip,
      pod_ips: [pod.ip],
      pod_labels: podLabels(pod),
      pod_name: pod.name,
      pod_namespace: pod.spec.namespace,
      pod_node_name: pod.node,
      pod_owner:
        pod.spec.kind === 'cronjob'
          ? `Job/${pod.name.slice(0, pod.name.lastIndexOf('-'))}`
          : `ReplicaSet/${pod.name.slice(0, pod.name.lastIndexOf('-'))}`,
      pod_uid: pod.uid,
    },
    message: line,
    source_type: 'kubernetes_logs',
    stream: 'stdout',
    timestamp: new Date(emit).toISOString(),
  });
}

function str(key: string, value: string): { key: string; value: { stringValue: string } } {
  return { key, value: { stringValue: value } };
}

function otlp(line: string, pod: Pod, start: number, emit: number): string {
  const owner =
    pod.spec.kind === 'cronjob'
      ? str('k8s.job.name', pod.name.slice(0, pod.name.lastIndexOf('-')))
      : str('k8s.deployment.name', pod.spec.workload);
  return JSON.stringify({
    resourceLogs: [
      {
        resource: {
          attributes: [
            str('k8s.namespace.name', pod.spec.namespace),
            str('k8s.pod.name', pod.name),
            str('k8s.pod.uid', pod.uid),
            str('k8s.pod.ip', pod.ip),
            str('k8s.container.name', 'istio-proxy'),
            str('k8s.container.restart_count', '0'),
            str('k8s.node.name', pod.node),
            owner,
          ],
        },
        scopeLogs: [
          {
            scope: {},
            logRecords: [
              {
                timeUnixNano: `${start}000000`,
                observedTimeUnixNano: `${emit}000000`,
                body: { stringValue: line },
                attributes: [
                  str('log.iostream', 'stdout'),
                  str('logtag', 'F'),
                  str('log.file.path', logPath(pod)),
                ],
              },
            ],
          },
        ],
      },
    ],
  });
}

export function wrapLine(
  line: string,
  record: Pick<SimRecord, 'reporter' | 'emit' | 'start'>,
  envelope: EnvelopeName,
): string {
  switch (envelope) {
    case 'none':
      return line;
    case 'fluent-bit':
      return fluentBit(line, record.reporter, record.emit);
    case 'filebeat':
      return filebeat(line, record.reporter, record.emit);
    case 'vector':
      return vector(line, record.reporter, record.emit);
    case 'otlp':
      return otlp(line, record.reporter, record.start, record.emit);
  }
}
