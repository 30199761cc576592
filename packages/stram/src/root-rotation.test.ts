import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, makeKeyAndCsr } from '@sluice/common';
import { CertificateAuthority, ROOT_LIFETIME_MS, createRoot } from './ca.js';
import { caChangedAt, caFile, loadOrCreateCa, rotateRoot, rotationPhase } from './ca-store.js';
import { RootRotation, rotationPeriod, type RotationStep } from './root-rotation.js';

/** The root rotation's schedule across a STRAM restart and a failed save (docs/architecture.md "Transport encryption"). */

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-rotation-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const silent = createLogger({ name: 'rotation-test', level: 'silent' });

/** Polls until `pred` holds or `ms` have passed (a loaded machine runs timers late: the tests wait for steps, not for a time). */
async function waitFor(pred: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(10);
}
const LIFETIME = 300;

/** A rotation over the CA at `path`, recording its steps with when they ran. */
async function rotation(path: string, everyMs: number): Promise<{ rotation: RootRotation; steps: [RotationStep, number][]; ca: Awaited<ReturnType<typeof loadOrCreateCa>> }> {
  const ca = await loadOrCreateCa(path, 'app-1');
  const steps: [RotationStep, number][] = [];
  const r = new RootRotation({ ca, path, certLifetimeMs: LIFETIME, everyMs, logger: silent, onStep: (step) => steps.push([step, Date.now()]) });
  cleanups.push(() => r.stop());
  return { rotation: r, steps, ca };
}

describe('root rotation', () => {
  it('a recovered STRAM goes on with the next step when it is due, and adds no root', async () => {
    const path = caFile(tempDir());
    // The first STRAM began a rotation (trust-new), then died.
    await rotateRoot(path, await loadOrCreateCa(path, 'app-1'));
    const changedAt = caChangedAt(path)!;
    const { rotation: r, steps, ca } = await rotation(path, 60_000);
    expect(rotationPhase(ca)).toBe('trusting');
    r.start();
    await waitFor(() => steps.length >= 2, 5_000);
    // sign-with-new a lifetime after trust-new, retire-old a lifetime after that; not trust-new after everyMs.
    expect(steps.map(([s]) => s)).toEqual(['sign-with-new', 'retire-old']);
    expect(steps[0]![1] - changedAt).toBeGreaterThanOrEqual(LIFETIME - 5);
    expect(ca.allRoots()).toHaveLength(1);
    expect((await loadOrCreateCa(path, 'app-1')).rootsDer()).toEqual(ca.rootsDer());
  });

  it('an idle CA rotates everyMs after its roots last changed, also across a restart', async () => {
    const path = caFile(tempDir());
    await loadOrCreateCa(path, 'app-1');
    const made = caChangedAt(path)!;
    await sleep(1_000);
    // A STRAM started a second after the CA was made: the first step is due 1.2 s after the CA was made, not 1.2 s from now.
    const { rotation: r, steps } = await rotation(path, 1_200);
    r.start();
    await waitFor(() => steps.length > 0, 900);
    expect(steps.map(([s]) => s)).toEqual(['trust-new']);
    expect(steps[0]![1] - made).toBeGreaterThanOrEqual(1_200 - 5);
  });

  it('a step whose save failed is retried without adding another root', async () => {
    const path = caFile(tempDir());
    const { rotation: r, steps, ca } = await rotation(path, 50);
    r.start();
    // The CA file cannot be replaced while a directory stands in its place.
    rmSync(path);
    mkdirSync(path);
    await sleep(150);
    expect(steps).toEqual([]);
    expect(ca.allRoots()).toHaveLength(2);
    rmSync(path, { recursive: true });
    // Retried a lifetime after the failure.
    await waitFor(() => steps.length > 0, 5_000);
    expect(steps.map(([s]) => s)).toEqual(['trust-new']);
    expect(ca.allRoots()).toHaveLength(2);
    expect((await loadOrCreateCa(path, 'app-1')).rootsDer()).toEqual(ca.rootsDer());
  });

  it('rotates the app root before it expires, with or without --ca-rotate', () => {
    const HOUR = 3_600_000;
    const DAY = 24 * HOUR;
    // Default 4 h certificates: the root (a year) rotates at about 51 weeks, whatever longer period was asked.
    for (const asked of [undefined, 2 * 365 * DAY]) {
      const period = rotationPeriod(4 * HOUR, asked);
      // The last root was made two lifetimes before the last retire; it signs until a lifetime after the next
      // trust-new, and those leaves live a lifetime more: all of it before the root's end.
      expect(2 * 4 * HOUR + period + 2 * 4 * HOUR).toBeLessThan(ROOT_LIFETIME_MS - 6 * DAY);
      expect(period).toBeGreaterThan(350 * DAY);
    }
    expect(rotationPeriod(4 * HOUR, 30 * DAY)).toBe(30 * DAY);
  });

  it('waits out a period longer than one timer can hold instead of rotating at once', async () => {
    const path = caFile(tempDir());
    // 40 days: past Node's longest setTimeout (24.8 days), which would fire at once.
    const { rotation: r, steps, ca } = await rotation(path, 40 * 24 * 3_600_000);
    r.start();
    await sleep(200);
    expect(steps).toEqual([]);
    expect(ca.allRoots()).toHaveLength(1);
  });

  it('issues no leaf that outlives the root that signs it', async () => {
    const root = await createRoot('app-1', Date.now(), 60_000);
    const ca = new CertificateAuthority('app-1', [root]);
    const issued = await ca.issue((await makeKeyAndCsr('A')).csr, 'A', 3_600_000);
    expect(issued.notAfter).toBe(root.cert.notAfter.getTime());
    expect(Date.parse(new X509Certificate(issued.chain[0]!).validTo)).toBeLessThanOrEqual(root.cert.notAfter.getTime());
  });
});
