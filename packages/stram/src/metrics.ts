import { Counter, Gauge, Registry } from 'prom-client';
import type { FailureReport, HeartbeatMessage } from '@sluice/common';

/**
 * STRAM's Prometheus metrics, in a registry of its own (never prom-client's global one, so two
 * STRAMs in one process — tests, benchmarks — do not collide). Served at REST `/metrics`.
 */
export class StramMetrics {
  readonly registry = new Registry();

  /** Certificate signing requests answered over the umbilical: issued, or the refusal's code. */
  readonly enrolments = new Counter({
    name: 'sluice_certificate_enrolments_total',
    help: 'Certificate signing requests from containers, by outcome (issued or the refusal code)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** Refused umbilical handshakes and sessions, and refused REST requests, by reason code. */
  readonly authFailures = new Counter({
    name: 'sluice_auth_failures_total',
    help: 'Refused authentications by endpoint (umbilical, rest) and reason',
    labelNames: ['endpoint', 'reason'] as const,
    registers: [this.registry],
  });

  /**
   * What heartbeats report, kept as plain figures and handed to prom-client only at scrape time
   * (the collect functions below): a heartbeat then costs map writes, not one label hash and
   * series update per figure.
   */
  private readonly beats = new Map<string, number>();
  private readonly operatorFigures = new Map<string, { tuplesIn: number; tuplesOut: number; window: number }>();
  private readonly reportedCounters = new Map<string, Readonly<Record<string, number>>>();

  readonly heartbeats = new Counter({
    name: 'sluice_heartbeats_total',
    help: 'Heartbeats received from containers',
    labelNames: ['container'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [container, n] of this.beats) {
        // Counters only go up: add what came since the last scrape.
        const seen = this.beatsSeen.get(container) ?? 0;
        if (n > seen) this.heartbeats.inc({ container }, n - seen);
        this.beatsSeen.set(container, n);
      }
    },
  });
  private readonly beatsSeen = new Map<string, number>();

  /** Cumulative tuples per physical operator, as last reported by its container. */
  readonly tuples = new Gauge({
    name: 'sluice_operator_tuples',
    help: 'Tuples processed per physical operator (direction in or out), as last reported',
    labelNames: ['operator', 'direction'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [operator, f] of this.operatorFigures) {
        this.tuples.set({ operator, direction: 'in' }, f.tuplesIn);
        this.tuples.set({ operator, direction: 'out' }, f.tuplesOut);
      }
    },
  });

  readonly operatorWindow = new Gauge({
    name: 'sluice_operator_window',
    help: 'Last completed window per physical operator',
    labelNames: ['operator'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [operator, f] of this.operatorFigures) this.operatorWindow.set({ operator }, f.window);
    },
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
    collect: () => {
      for (const [container, ms] of this.atScrape.tokenExpiries?.() ?? []) this.tokenExpiry.set({ container }, ms / 1000);
    },
  });

  /**
   * Figures their owners keep and /metrics reads only when scraped (set once by those owners):
   * each container's token expiry (ms since the epoch), each operator's stalled flag. Per
   * heartbeat interval they cost nothing here, where setting them cost one label hash per container.
   */
  readonly atScrape: { tokenExpiries?: () => Iterable<readonly [string, number]>; stalled?: () => Iterable<readonly [string, boolean]> } = {};

  /** Token renewals by result; a failure is retried with backoff (renewal.ts). */
  readonly tokenRenewals = new Counter({
    name: 'sluice_token_renewals_total',
    help: 'Renewals of containers\' STRAM delegation tokens by result (success, failure)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** Reissues of a container's tokens (STRAM and subscribe tokens) before their max date, by result. */
  readonly tokenReissues = new Counter({
    name: 'sluice_token_reissues_total',
    help: 'Reissues of containers\' tokens before their max date by result (success, failure)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** Store credential renewals and reissues (credential-providers/store-credentials.ts) by system and result. */
  readonly storeRenewals = new Counter({
    name: 'sluice_store_credential_renewals_total',
    help: 'Renewals of the app\'s store credentials by system and result (success, failure)',
    labelNames: ['system', 'result'] as const,
    registers: [this.registry],
  });

  readonly storeReissues = new Counter({
    name: 'sluice_store_credential_reissues_total',
    help: 'Reissues of the app\'s store credentials by system and result (success, failure)',
    labelNames: ['system', 'result'] as const,
    registers: [this.registry],
  });

  private stores: () => readonly { system: string; expiry: string | null; consecutiveFailures: number }[] = () => [];

  readonly storeExpiry = new Gauge({
    name: 'sluice_store_credential_expiry_seconds',
    help: 'When the app\'s current credential for each store stops being accepted unless renewed (seconds since the epoch)',
    labelNames: ['system'] as const,
    registers: [this.registry],
    collect: () => {
      for (const s of this.stores()) if (s.expiry) this.storeExpiry.set({ system: s.system }, Date.parse(s.expiry) / 1000);
    },
  });

  readonly storeFailing = new Gauge({
    name: 'sluice_store_credential_consecutive_failures',
    help: 'Failed renewals or reissues of each store credential since its last success (0 = healthy)',
    labelNames: ['system'] as const,
    registers: [this.registry],
    collect: () => {
      for (const s of this.stores()) this.storeFailing.set({ system: s.system }, s.consecutiveFailures);
    },
  });

  /** Where the store gauges read the credentials' state at scrape time. */
  watchStores(source: () => readonly { system: string; expiry: string | null; consecutiveFailures: number }[]): void {
    this.stores = source;
  }

  private keyRolls: () => number = () => 0;

  /** Master key rolls, read from the token authority at scrape time. */
  readonly masterKeyRolls = new Counter({
    name: 'sluice_master_key_rolls_total',
    help: 'Master key rolls of the STRAM token authority since STRAM started',
    registers: [this.registry],
    collect: () => {
      const n = this.keyRolls();
      const seen = this.keyRollsSeen;
      if (n > seen) {
        this.masterKeyRolls.inc(n - seen);
        this.keyRollsSeen = n;
      }
    },
  });
  private keyRollsSeen = 0;

  /** Where sluice_master_key_rolls_total reads its count (the secret manager's keyRolls). */
  countKeyRollsFrom(source: () => number): void {
    this.keyRolls = source;
  }

  /** Containers replaced after their process exited or they stopped heartbeating. */
  readonly containerRestarts = new Counter({
    name: 'sluice_container_restarts_total',
    help: 'Containers replaced (relaunched from their last checkpoint) by container',
    labelNames: ['container'] as const,
    registers: [this.registry],
  });

  /** Of those, the replacements asked for over REST (not failures: the restart strategy never counts them). */
  readonly containerRestartsRequested = new Counter({
    name: 'sluice_container_restarts_requested_total',
    help: 'Containers replaced because a restart was asked for (POST /ws/v1/containers/{id}/restart), by container',
    labelNames: ['container'] as const,
    registers: [this.registry],
  });

  /** What each container counts (heartbeat `counters`), as it last reported: since its process started. */
  readonly containerEvents = new Gauge({
    name: 'sluice_container_events',
    help: 'Counts each container reports with its heartbeats (credentialsApplied, secretRotated, ...), since its process started',
    labelNames: ['container', 'event'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [container, counters] of this.reportedCounters) for (const [event, n] of Object.entries(counters)) this.containerEvents.set({ container, event }, n);
    },
  });

  /** Authenticated umbilical sessions STRAM ended (token past its max date, bad MAC, out of scope...). */
  readonly umbilicalCloses = new Counter({
    name: 'sluice_umbilical_session_closes_total',
    help: 'Authenticated umbilical sessions STRAM closed, by container, close code and reason code',
    labelNames: ['container', 'code', 'reason'] as const,
    registers: [this.registry],
  });

  /** Container processes that exited while the app ran, by exit code (or signal name). */
  readonly containerExits = new Counter({
    name: 'sluice_container_exits_total',
    help: 'Unexpected exits of container processes by container and exit code or signal',
    labelNames: ['container', 'code'] as const,
    registers: [this.registry],
  });

  /** Why containers were replaced (docs/architecture.md "Recovery"); every cause starts at 0 for every container. */
  readonly containerLosses = new Counter({
    name: 'sluice_container_losses_total',
    help: 'Containers found lost, by container and cause (exited, silent, no-credentials)',
    labelNames: ['container', 'cause'] as const,
    registers: [this.registry],
  });

  /** Exceptions operators threw, as their containers reported them (docs/guide.md "Restart strategies"). */
  readonly operatorFailures = new Counter({
    name: 'sluice_operator_failures_total',
    help: 'Exceptions thrown by each physical operator, as its container reported them',
    labelNames: ['operator'] as const,
    registers: [this.registry],
  });

  /** The delay the restart strategy granted each container's latest replacement. */
  readonly restartDelay = new Gauge({
    name: 'sluice_container_restart_delay_seconds',
    help: 'Delay before the latest replacement of each container, as the restart strategy granted it',
    labelNames: ['container'] as const,
    registers: [this.registry],
  });

  /** Completed live rotations of each container's buffer-server secret (docs/architecture.md "Token lifetimes and rotation"). */
  readonly secretRotations = new Counter({
    name: 'sluice_secret_rotations_total',
    help: 'Completed buffer-server secret rotations by owner container',
    labelNames: ['container'] as const,
    registers: [this.registry],
  });

  /** Rotations a recovered STRAM found unfinished in a container's credentials file and resumed (docs/architecture.md "Recovery"). */
  readonly secretRotationsResumed = new Counter({
    name: 'sluice_secret_rotations_resumed_total',
    help: 'Buffer-server secret rotations resumed after a STRAM restart, by owner container',
    labelNames: ['container'] as const,
    registers: [this.registry],
  });

  /** 1 while an operator's window stands still as an upstream's moves past it (stream-health.ts). */
  readonly operatorStalled = new Gauge({
    name: 'sluice_operator_stalled',
    help: 'Whether a physical operator is stalled: its window stopped while an upstream operator\'s went on (1) or not (0)',
    labelNames: ['operator'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [operator, stalled] of this.atScrape.stalled?.() ?? []) this.operatorStalled.set({ operator }, stalled ? 1 : 0);
    },
  });

  /** Reported by the container hosting the buffer server (docs/protocol.md "Subscriber names"). */
  readonly takeoversRefused = new Counter({
    name: 'sluice_subscriber_takeovers_refused_total',
    help: 'Subscribe attempts a container\'s buffer server refused (4403) because the subscriber name belonged to another container or owner',
    labelNames: ['container'] as const,
    registers: [this.registry],
  });

  /** Reported by the container whose input was taken over (docs/protocol.md "Subscriber names"). */
  readonly takeovers = new Counter({
    name: 'sluice_subscriber_takeovers_total',
    help: 'Subscriptions of an operator input closed 4409 by a connection its container did not make',
    labelNames: ['operator', 'port'] as const,
    registers: [this.registry],
  });

  /** What a heartbeat of `container` reports: its counters, its operators' figures, and operator failures not reported before. */
  observe(container: string, hb: HeartbeatMessage, failures: readonly FailureReport[]): void {
    this.beats.set(container, (this.beats.get(container) ?? 0) + 1);
    if (hb.counters) this.reportedCounters.set(container, hb.counters);
    for (const s of hb.operators) {
      const f = this.operatorFigures.get(s.id);
      if (f) {
        f.tuplesIn = s.tuplesIn;
        f.tuplesOut = s.tuplesOut;
        f.window = s.window;
      } else this.operatorFigures.set(s.id, { tuplesIn: s.tuplesIn, tuplesOut: s.tuplesOut, window: s.window });
    }
    for (const f of failures) if (f.operator) this.operatorFailures.inc({ operator: f.operator });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
