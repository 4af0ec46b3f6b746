import { describe, expect, it } from 'vitest';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import type { ConfigError } from '../../src/errors.js';
import { loadPipelineConfig, parsePipelineConfig } from '../../src/pipeline/config.js';

describe('detection config', () => {
  it('fills every detector with its defaults and parses durations', () => {
    const c = DetectionConfigSchema.parse({ lateness: '10s', detectors: { beaconing: { minGap: '2s' } } });
    expect(c.lateness).toBe(10_000);
    expect(c.learningPeriod).toBe(86_400_000);
    expect(c.detectors.beaconing.minGap).toBe(2000);
    expect(c.detectors['volume-spike'].windows['1m'].factor).toBe(10);
    expect(c.detectors['gateway-silence'].enabled).toBe(true);
  });

  it('reports every problem at once with its path', () => {
    try {
      parsePipelineConfig(
        {
          detection: {
            realert: 'soon',
            detectors: { 'volume-spike': { factr: 3 } },
            exceptions: [{ rule: 'nope' }],
          },
        },
        'p.yaml',
      );
      expect.unreachable();
    } catch (err) {
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toContain('detection.realert: expected a duration');
      expect(problems).toMatch(/detection\.detectors\.volume-spike: Unrecognized key/);
      expect(problems).toMatch(/detection\.exceptions\[0\]\.rule/);
      expect(problems).toMatch(/detection\.exceptions\[0\]\.reason/);
    }
  });

  it('accepts the example embedded pipeline', () => {
    const c = loadPipelineConfig('pipelines/embedded.yaml');
    expect(c.detection.exceptions[0]?.rule).toBe('gateway-bypass');
    expect(c.policies).toHaveLength(1);
  });
});
