import { describe, expect, it } from 'vitest';
import { describeKafkaError } from '../../src/sinks/kafka.js';

function kafkaError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

describe('Kafka sink errors', () => {
  it('names the brokers and says the credentials were refused', () => {
    const e = describeKafkaError(
      kafkaError('KafkaJSSASLAuthenticationError', 'SASL SCRAM SHA512 authentication failed'),
      ['k1:9093', 'k2:9093'],
    );
    expect(e.code).toBe('ESN_AUTH');
    expect(e.message).toBe(
      'Kafka k1:9093,k2:9093 refused the credentials: SASL SCRAM SHA512 authentication failed',
    );
  });

  it('names the brokers when they cannot be reached', () => {
    const e = describeKafkaError(
      kafkaError('KafkaJSNumberOfRetriesExceeded', 'connect ECONNREFUSED 127.0.0.1:1'),
      ['127.0.0.1:1'],
    );
    expect(e.code).toBe('ESN_SERVER_UNREACHABLE');
    expect(e.message).toContain('Cannot reach Kafka at 127.0.0.1:1');
  });
});
