import { describe, expect, it } from 'vitest';
import { workloadFromPodName } from '../../../src/parse/envelope/meta.js';

// Kubernetes' generators (k8s.io/apimachinery `util/rand`, alphabet `bcdfghjklmnpqrstvwxz2456789`):
// Deployment pods `<deployment>-<pod-template-hash>-<5 random>`, DaemonSet/Job pods `<owner>-<5 random>`,
// CronJob Jobs `<cronjob>-<minute>`, StatefulSet pods `<set>-<ordinal>`.
describe('workloadFromPodName', () => {
  it.each([
    ['reviews-v1-545db77b95-z6fx5', 'reviews-v1'], // Deployment (bookinfo)
    ['istio-egressgateway-64b4bcc48f-4zdjp', 'istio-egressgateway'], // Deployment, 10-char hash
    ['sleep-7b4d9c5f8-x2kzq', 'sleep'], // 9-char hash
    ['fluentd-x7k2q', 'fluentd'], // DaemonSet
    ['kube-proxy-2wxz9', 'kube-proxy'],
    ['backup-29410560-w7c2k', 'backup'], // CronJob's Job's pod
    ['web-0', 'web'], // StatefulSet
    ['mongo-12', 'mongo'],
  ])('%s -> %s', (pod, workload) => {
    expect(workloadFromPodName(pod)).toBe(workload);
  });

  it.each([
    'istio-debug', // a bare pod: `debug` has vowels, which the generators never draw
    'my-app', // `app` likewise
    'netshoot', // no dash at all
    'curl-tools', // 5 characters after the dash, but `o` is no generated character
    'api-01', // `01` is no ordinal (ordinals have no leading zero)
    'cache-abc13', // `a`, `1`, `3` are not in the alphabet
  ])('%s stays whole (no generator wrote its suffix)', (pod) => {
    expect(workloadFromPodName(pod)).toBe(pod);
  });

  it('a Deployment pod is cut at its ReplicaSet hash, not at the 5-character suffix only', () => {
    expect(workloadFromPodName('payments-api-6d8f9b7c4d-q9wz2')).toBe('payments-api');
  });
});
