import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsFromArgs, simulateCommand } from '../../src/cli/simulate.js';
import { SentinelError } from '../../src/errors.js';
import { parseKafkaTarget } from '../../src/simulate/output.js';

describe('simulate command', () => {
  it('parses its flags into options', () => {
    const { options, to, manifest } = optionsFromArgs([
      '--start',
      '2025-06-01T00:00:00Z',
      '--duration',
      '6h',
      '--seed',
      '42',
      '--format',
      'text',
      '--envelope',
      'vector',
      '--rate',
      '120',
      '--attack',
      'bypass,beaconing',
      '--to',
      'out.log',
      '--manifest',
      'm.json',
    ]);
    expect(options).toMatchObject({
      start: Date.parse('2025-06-01T00:00:00Z'),
      durationMs: 6 * 3_600_000,
      seed: '42',
      format: 'text',
      envelope: 'vector',
      rate: 120,
      attacks: ['bypass', 'beaconing'],
    });
    expect([to, manifest]).toEqual(['out.log', 'm.json']);
    expect(optionsFromArgs(['--attack', 'all']).options.attacks).toHaveLength(9);
  });

  it('names the flag and the allowed values when a value is wrong', () => {
    expect(() => optionsFromArgs(['--duration', 'forever'])).toThrow(/--duration as a duration such as 30m/);
    expect(optionsFromArgs(['--start', 'now-1d']).options.start).toBeGreaterThan(
      Date.now() - 86_400_000 - 60_000,
    );
    expect(() => optionsFromArgs(['--attack', 'ddos'])).toThrow(
      /Unknown attack "ddos".*choose from forbidden/,
    );
    expect(() => optionsFromArgs(['--envelope', 'logstash'])).toThrow(SentinelError);
    expect(() => optionsFromArgs(['--bogus'])).toThrow(/Unknown option '--bogus'/);
    expect(() => parseKafkaTarget('kafka://127.0.0.1:9092')).toThrow(/kafka:\/\/host:port\/topic/);
    expect(parseKafkaTarget('kafka://a:1,b:2/istio-access-logs')).toEqual({
      brokers: ['a:1', 'b:2'],
      topic: 'istio-access-logs',
    });
  });

  it('writes the lines and the manifest to files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-'));
    const out = join(dir, 'traffic.log');
    const code = await simulateCommand.run([
      '--duration',
      '3h',
      '--attack',
      'blocked-probing',
      '--attack-start',
      '2025-03-03T01:00:00Z',
      '--to',
      out,
      '--manifest',
      join(dir, 'm.json'),
      '--format',
      'text',
    ]);
    expect(code).toBe(0);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(1000);
    const manifest = JSON.parse(readFileSync(join(dir, 'm.json'), 'utf8'));
    expect(manifest.attacks).toEqual([
      expect.objectContaining({
        name: 'blocked-probing',
        rule: 'blocked-egress',
        start: '2025-03-03T01:00:00.000Z',
      }),
    ]);
    expect(lines.filter((l) => l.includes(' BlackHoleCluster ')).length).toBeGreaterThanOrEqual(40);
  });
});
