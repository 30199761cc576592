import { Counter, Gauge, Registry } from 'prom-client';
import type { AppState } from './api.js';

/**
 * The gateway's Prometheus metrics at `GET /metrics` (docs/security.md "Gateway metrics").
 * `/metrics` needs no credentials, so it holds counts only: no principal, app id, token or
 * reason text is ever a label, just refusal codes, route templates, status codes and app states.
 */

/** What the keytab login reports: logins from the keytab so far, failed attempts (all, and since the last success), and when the current TGT expires (ms). */
export interface KeytabLoginFigures {
  logins: number;
  failures: number;
  /** Failed logins since the last success: above 0 while renewal is failing. */
  failuresSinceLogin?: number;
  expiresAt: number | undefined;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly authFailures = new Counter({ name: 'sluice_gateway_auth_failures_total', help: 'requests refused at authentication, by refusal code', labelNames: ['code'], registers: [this.registry] });
  readonly logins = new Counter({ name: 'sluice_gateway_logins_total', help: 'sessions issued by POST /api/v1/login', registers: [this.registry] });
  readonly requests = new Counter({ name: 'sluice_gateway_requests_total', help: 'requests answered, by route template and status', labelNames: ['route', 'status'], registers: [this.registry] });
  readonly launches = new Counter({ name: 'sluice_gateway_launches_total', help: 'apps launched, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly denials = new Counter({ name: 'sluice_gateway_authz_denials_total', help: 'requests refused FORBIDDEN by authorization, by the permission lacked', labelNames: ['permission'], registers: [this.registry] });
  readonly policyReloads = new Counter({ name: 'sluice_gateway_policy_reloads_total', help: 'changes of the policy file: applied, or rejected (the last good policy stays in force)', labelNames: ['outcome'], registers: [this.registry] });

  constructor(sources: { appStates: () => AppState[]; keytab?: () => KeytabLoginFigures }) {
    new Gauge({
      name: 'sluice_gateway_apps',
      help: 'apps this gateway launched, by state',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const state of sources.appStates()) this.inc({ state });
      },
    });
    const keytab = sources.keytab;
    if (keytab) {
      const counted = (name: string, help: string, figure: (f: KeytabLoginFigures) => number) =>
        new Counter({ name, help, registers: [this.registry], collect() { this.reset(); this.inc(figure(keytab())); } });
      counted('sluice_gateway_kerberos_logins_total', "the gateway's logins from its keytab (the first, then one before each TGT expires)", (f) => f.logins);
      counted('sluice_gateway_kerberos_login_failures_total', 'failed keytab logins (each retry counts)', (f) => f.failures);
      new Gauge({
        name: 'sluice_gateway_kerberos_tgt_expiry_seconds',
        help: "when the gateway's current TGT expires (seconds since the epoch; 0 before the first login)",
        registers: [this.registry],
        collect() { this.set(Math.floor((keytab().expiresAt ?? 0) / 1000)); },
      });
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
