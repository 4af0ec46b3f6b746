import { describe, expect, it } from 'vitest';
import { decoderOptions, ParseConfigSchema } from '../../src/parse/config.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import { CollectingSink } from './collecting-sink.js';

describe('parse config', () => {
  it("gives the decoder the configured custom format, so the pipeline's lines are read with it", () => {
    const options = decoderOptions(
      ParseConfigSchema.parse({ format: 'custom', customFormat: 'egress %REQ(:AUTHORITY)% %RESPONSE_CODE%' }),
    );
    const sink = new CollectingSink();
    new LineDecoder(options).decode('egress api.stripe.com 200', sink);
    expect(sink.bad).toEqual([]);
    expect(sink.records[0]?.record).toMatchObject({ authority: 'api.stripe.com', responseCode: 200 });
  });

  it('leaves out the custom formats that are not configured', () => {
    expect(decoderOptions(ParseConfigSchema.parse({}))).toEqual({
      format: 'auto',
      guard: { accessLogContainers: ['istio-proxy'], maxClockSkewMs: 300_000 },
      maxTimeJumpMs: 3_600_000,
    });
  });
});
