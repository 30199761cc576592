import { Counter, Gauge, Registry } from 'prom-client';

/**
 * STRAM's Prometheus metrics, in a registry of its own (never prom-client's global one, so two
 * STRAMs in one process — tests, benchmarks — do not collide). Served at REST `/metrics`.
 */
export class StramMetrics {
  readonly registry = new Registry();

  /** Refused umbilical handshakes and sessions, and refused REST requests, by reason code. */
  readonly authFailures = new Counter({
    name: 'sluice_auth_failures_total',
    help: 'Refused authentications by endpoint (umbilical, rest) and reason',
    labelNames: ['endpoint', 'reason'] as const,
    registers: [this.registry],
  });

  readonly heartbeats = new Counter({
    name: 'sluice_heartbeats_total',
    help: 'Heartbeats received from containers',
    labelNames: ['container'] as const,
    registers: [this.registry],
  });

  /** Cumulative tuples per physical operator, as last reported by its container. */
  readonly tuples = new Gauge({
    name: 'sluice_operator_tuples',
    help: 'Tuples processed per physical operator (direction in or out), as last reported',
    labelNames: ['operator', 'direction'] as const,
    registers: [this.registry],
  });

  readonly operatorWindow = new Gauge({
    name: 'sluice_operator_window',
    help: 'Last completed window per physical operator',
    labelNames: ['operator'] as const,
    registers: [this.registry],
  });

  readonly committedWindow = new Gauge({
    name: 'sluice_committed_window',
    help: 'The committed window (minimum checkpoint over all operators)',
    registers: [this.registry],
  });

  readonly containers = new Gauge({
    name: 'sluice_containers',
    help: 'Containers by state',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  /** When each container's STRAM token stops being accepted (renewal expiry), seconds since the epoch. */
  readonly tokenExpiry = new Gauge({
    name: 'sluice_token_expiry_seconds',
    help: 'Expiry of each container\'s STRAM delegation token (seconds since the epoch)',
    labelNames: ['container'] as const,
    registers: [this.registry],
  });

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
