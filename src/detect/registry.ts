/** Detector name (= rule id) to its spec. A new detector is one module plus one line here. */
import { beaconingSpec } from './detectors/beaconing.js';
import { blockedEgressSpec } from './detectors/blocked-egress.js';
import { forbiddenDestinationSpec } from './detectors/forbidden-destination.js';
import { gatewayBypassSpec } from './detectors/gateway-bypass.js';
import { gatewaySilenceSpec } from './detectors/gateway-silence.js';
import { highCardinalityDomainSpec } from './detectors/high-cardinality-domain.js';
import { nameMismatchSpec } from './detectors/name-mismatch.js';
import { newDestinationSpec } from './detectors/new-destination.js';
import { volumeSpikeSpec } from './detectors/volume-spike.js';

export const DETECTORS = {
  'forbidden-destination': forbiddenDestinationSpec,
  'gateway-bypass': gatewayBypassSpec,
  'blocked-egress': blockedEgressSpec,
  'new-destination': newDestinationSpec,
  'volume-spike': volumeSpikeSpec,
  beaconing: beaconingSpec,
  'high-cardinality-domain': highCardinalityDomainSpec,
  'gateway-silence': gatewaySilenceSpec,
  'name-mismatch': nameMismatchSpec,
} as const;

export type DetectorName = keyof typeof DETECTORS;
