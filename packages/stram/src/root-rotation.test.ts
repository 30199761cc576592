import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/common';
import { caChangedAt, caFile, loadOrCreateCa, rotateRoot, rotationPhase } from './ca-store.js';
import { RootRotation, type RotationStep } from './root-rotation.js';

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
});
