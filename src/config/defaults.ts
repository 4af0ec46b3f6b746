/**
 * Where the pipeline looks for its servers and topics when the config does not say.
 * The ports match deploy/local/stack.sh and docker-compose.yml (a unit test keeps them in step).
 */
export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:9092';
export const DEFAULT_ELASTICSEARCH_URL = 'http://127.0.0.1:9200';
export const DEFAULT_INPUT_TOPIC = 'istio-access-logs';
export const DEFAULT_ALERT_TOPIC = 'egress-alerts';
export const DEFAULT_DEAD_LETTER_TOPIC = 'egress-dead-letters';
export const DEFAULT_KIBANA_URL = 'http://127.0.0.1:5601';
export const DEFAULT_METRICS_PORT = 9464;
