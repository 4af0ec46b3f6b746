import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { addrHost, addrPort, MeshScope } from '../../src/identity/mesh.js';

/** A full garbage collection, without starting vitest with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('address splitting', () => {
  it.each([
    ['151.101.195.5:443', '151.101.195.5', 443],
    ['edition.cnn.com', 'edition.cnn.com', 0],
    ['edition.cnn.com:8080', 'edition.cnn.com', 8080],
    ['[2001:db8::1]:443', '2001:db8::1', 443],
    ['2001:db8::1', '2001:db8::1', 0],
    ['10.0.0.1:', '10.0.0.1', 0],
    ['10.0.0.1:0x50', '10.0.0.1', 80],
    ['10.0.0.1:4a3', '10.0.0.1', 0],
    ['10.0.0.1:99999999999999999999', '10.0.0.1', 100000000000000000000],
  ])('splits %s into host %s and port %d', (addr, host, port) => {
    expect(addrHost(addr)).toBe(host);
    expect(addrPort(addr)).toBe(port);
  });
});

describe('host cache', () => {
  it('does not keep alive the log lines its cached hosts were sliced from', () => {
    const scope = new MeshScope({
      meshCidrs: [],
      meshDomains: ['svc.cluster.local'],
      egressGatewayHosts: [],
    });
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 20_000; i++) {
      // A ~2 KB line with the host in the middle, the way parsers hand out slices of the raw line.
      const line = `${'x'.repeat(1000)} host${i}.example${i % 50}.com ${'y'.repeat(1000)}`;
      scope.hostInfo(line.slice(1001, line.indexOf(' ', 1001)));
    }
    collectGarbage();
    const retainedMb = (process.memoryUsage().heapUsed - before) / 1e6;
    expect(scope.hostInfo('host7.example7.com').registeredDomain).toBe('example7.com');
    // 20,000 pinned lines would be ~44 MB; the cached hosts and their facts take a few MB.
    expect(retainedMb).toBeLessThan(15);
  });
});
