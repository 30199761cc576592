import { systemClock, type Clock, type Logger } from '@sluice/common';
import { ROOT_LIFETIME_MS, signer, type CertificateAuthority } from './ca.js';
import { CertificateHealth } from './cert-health.js';
import { caChangedAt, caFile, loadOrCreateCa, promoteRoot, retireOldRoots, rotateRoot, rotationPhase } from './ca-store.js';
import { loadOperatorCa } from './operator-ca.js';
import { StramIdentity } from './stram-identity.js';

/**
 * Rotates the app CA's root on a schedule (docs/architecture.md "Transport encryption") in the
 * three steps of ca.ts, each a certificate lifetime after the last: containers renew at 75% of
 * their certificate's lifetime and get the current roots with every certificate, so by then
 * every one of them trusts what the next step relies on. Nothing restarts, no link is closed.
 * The CA file says where a rotation is (its roots) and when its last step was: a recovered STRAM
 * goes on with the next step when it is due, neither starting over nor adding a root.
 */

export const RotationStep = { trustNew: 'trust-new', signWithNew: 'sign-with-new', retireOld: 'retire-old' } as const;
export type RotationStep = (typeof RotationStep)[keyof typeof RotationStep];

export interface RootRotationOptions {
  ca: CertificateAuthority;
  /** The CA file (ca-store.ts), saved at every step. */
  path: string;
  certLifetimeMs: number;
  /** From the end of one rotation to the start of the next. */
  everyMs: number;
  logger: Logger;
  onStep?(step: RotationStep): void;
  clock?: Clock;
}

/** A margin before the root's end for a rotation that runs late (a STRAM down, a failed save retried). */
const ROOT_MARGIN_MS = 7 * 24 * 3600_000;
/** The longest single timer: Node fires a longer setTimeout at once. */
const MAX_TIMER_MS = 24 * 3600_000;

/**
 * How long after the last rotation the next one starts: `--ca-rotate`, but never so late that a
 * root expires first. A root signs leaves until a lifetime after the next rotation starts, and
 * they live a lifetime more; with the lifetimes from its own creation (two before the last
 * retire) that is the period plus four lifetimes, which must end a margin before the root does.
 * Without `--ca-rotate` the app's root still rotates, at that latest safe period (about 51 weeks).
 */
export function rotationPeriod(certLifetimeMs: number, caRotateMs?: number): number {
  const latest = Math.max(certLifetimeMs, ROOT_LIFETIME_MS - 4 * certLifetimeMs - ROOT_MARGIN_MS);
  return Math.min(caRotateMs ?? latest, latest);
}

export class RootRotation {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: RootRotationOptions) {}

  /** Schedules the next step from where the CA is and when its roots last changed (now, for a CA with no such date). */
  start(): void {
    const now = this.now();
    const since = caChangedAt(this.o.path) ?? now;
    const phase = rotationPhase(this.o.ca);
    const [step, wait] = phase === 'idle' ? [RotationStep.trustNew, this.o.everyMs] : [phase === 'trusting' ? RotationStep.signWithNew : RotationStep.retireOld, this.o.certLifetimeMs];
    if (phase !== 'idle') this.o.logger.info({ step, dueInMs: Math.max(0, since + wait - now) }, 'CA root rotation resumed');
    this.after(Math.max(0, since + wait - now), step);
  }

  private now(): number {
    return (this.o.clock ?? systemClock).now();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private after(ms: number, step: RotationStep): void {
    if (this.stopped) return;
    const due = this.now() + ms;
    const wake = (): void => {
      const left = due - this.now();
      if (left > 0) {
        this.timer = setTimeout(wake, Math.min(left, MAX_TIMER_MS));
        this.timer.unref();
      } else void this.run(step);
    };
    wake();
  }

  private async run(step: RotationStep): Promise<void> {
    const { ca, path, certLifetimeMs: lifetime, logger } = this.o;
    try {
      const at = this.now();
      if (step === RotationStep.trustNew) await rotateRoot(path, ca, at);
      else if (step === RotationStep.signWithNew) await promoteRoot(path, ca, at);
      else await retireOldRoots(path, ca, at);
    } catch (err) {
      // The CA file could not be saved: the step is retried after a lifetime, the app keeps running.
      logger.error({ step, err: (err as Error).message }, 'CA root rotation step failed; retrying');
      this.after(lifetime, step);
      return;
    }
    logger.info({ step, roots: ca.allRoots().length }, 'CA root rotation step done');
    this.o.onStep?.(step);
    if (step === RotationStep.trustNew) this.after(lifetime, RotationStep.signWithNew);
    else if (step === RotationStep.signWithNew) this.after(lifetime, RotationStep.retireOld);
    else this.after(this.o.everyMs, RotationStep.trustNew);
  }
}

export interface AppCa {
  ca: CertificateAuthority;
  /** The umbilical's answer to a csr (ca.ts `signer`). */
  onCsr: ReturnType<typeof signer>;
  /** Each container's certificate and its renewal health, as the status shows them. */
  certificates: CertificateHealth;
  /** Running from the start for the app's own root (none for an operator's intermediate); stopped at shutdown. */
  rotation: RootRotation | undefined;
  /** The certificate STRAM's umbilical serves, reissued at every rotation step. */
  identity: StramIdentity;
  /** Stops the rotation and STRAM's renewals. */
  stop(): void;
}

/**
 * The app's CA from its file in the STRAM directory (made on first use; a recovered STRAM signs
 * with the root its containers already trust) or the operator's intermediate (operator-ca.ts),
 * and its rotation when one is asked for.
 */
export async function openAppCa(
  o: { certLifetimeMs: number; caRotateMs?: number | undefined; logger: Logger; clock?: Clock; caCert?: string | undefined; caKey?: string | undefined; caChain?: string | undefined },
  stramDir: string,
  appId: string,
): Promise<AppCa> {
  const path = caFile(stramDir);
  const ca = o.caCert ? await loadOperatorCa(appId, { cert: o.caCert, key: o.caKey ?? '', chain: o.caChain }) : await loadOrCreateCa(path, appId);
  const identity = await StramIdentity.issue(ca, o.certLifetimeMs, o.logger);
  // The app's own root rotates, --ca-rotate or not (rotationPeriod); an operator's intermediate is the operator's.
  const rotation = o.caCert
    ? undefined
    : new RootRotation({ ca, path, certLifetimeMs: o.certLifetimeMs, everyMs: rotationPeriod(o.certLifetimeMs, o.caRotateMs), logger: o.logger, onStep: (step) => void identity.reissue(`root rotation: ${step}`) });
  rotation?.start();
  const certificates = new CertificateHealth(o.clock ?? systemClock);
  return {
    ca,
    onCsr: signer(ca, o.certLifetimeMs, certificates),
    certificates,
    rotation,
    identity,
    stop: () => {
      rotation?.stop();
      identity.stop();
    },
  };
}
