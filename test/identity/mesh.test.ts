import { describe, expect, it } from 'vitest';
import { addrHost, addrPort } from '../../src/identity/mesh.js';

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
