import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, writeFileAtomic } from '@sluice/common';
import { AppDir, verifyWebToken } from '@sluice/stram';
import { StramTargets } from './stram-targets.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An app directory as a running STRAM leaves it: stram.json and the web key, both written by rename. */
function appDir(): { dir: AppDir; publish(rest: string, appId?: string): void; newKey(): Buffer } {
  const root = mkdtempSync(join(tmpdir(), 'sluice-targets-'));
  dirs.push(root);
  const dir = new AppDir(root);
  dir.create();
  return {
    dir,
    publish: (rest, appId = 'app-1') => dir.writeInfo({ appId, name: 'demo', pid: process.pid, umbilical: 'ws://127.0.0.1:1', rest, startedAt: new Date().toISOString(), insecure: false }),
    newKey: () => {
      const key = randomBytes(32);
      writeFileAtomic(dir.webKey, `${key.toString('hex')}\n`);
      return key;
    },
  };
}

describe('StramTargets: where an app STRAM listens and the tokens to call it, read once per STRAM', () => {
  it('reuses the token for half its minute, signs a new one after, and keeps callers and scopes apart', async () => {
    const app = appDir();
    const key = app.newKey();
    app.publish('http://127.0.0.1:4001');
    const clock = new ManualClock();
    const targets = new StramTargets(clock);
    const first = await targets.target(app.dir.root, 'alice@R', ['view']);
    expect(first.rest).toBe('http://127.0.0.1:4001');
    await expect(verifyWebToken(`Bearer ${first.token}`, key, 'app-1', clock.now())).resolves.toEqual({ user: 'alice@R', scope: ['view'] });
    clock.advance(29_000);
    expect((await targets.target(app.dir.root, 'alice@R', ['view'])).token).toBe(first.token);
    const bob = await targets.target(app.dir.root, 'bob@R', ['view']);
    expect(bob.token).not.toBe(first.token);
    await expect(verifyWebToken(`Bearer ${bob.token}`, key, 'app-1', clock.now())).resolves.toMatchObject({ user: 'bob@R' });
    expect((await targets.target(app.dir.root, 'alice@R', ['view', 'manage'])).token).not.toBe(first.token);
    clock.advance(2_000);
    const renewed = await targets.target(app.dir.root, 'alice@R', ['view']);
    expect(renewed.token).not.toBe(first.token);
    // Never handed out past its life: a reused token is always more than half a minute from expiry.
    clock.advance(29_000);
    await expect(verifyWebToken(`Bearer ${renewed.token}`, key, 'app-1', clock.now())).resolves.toMatchObject({ user: 'alice@R' });
  });

  it('reads again once STRAM is replaced: a new stram.json (port, app id) or a new web key', async () => {
    const app = appDir();
    app.newKey();
    app.publish('http://127.0.0.1:4001');
    const clock = new ManualClock();
    const targets = new StramTargets(clock);
    expect((await targets.target(app.dir.root, 'alice@R', ['view'])).rest).toBe('http://127.0.0.1:4001');
    app.publish('http://127.0.0.1:4002');
    const moved = await targets.target(app.dir.root, 'alice@R', ['view']);
    expect(moved.rest).toBe('http://127.0.0.1:4002');
    const key = app.newKey();
    const rekeyed = await targets.target(app.dir.root, 'alice@R', ['view']);
    expect(rekeyed.token).not.toBe(moved.token);
    await expect(verifyWebToken(`Bearer ${rekeyed.token}`, key, 'app-1', clock.now())).resolves.toMatchObject({ user: 'alice@R' });
  });

  it('refuses while STRAM has not said where it listens, and after it removed stram.json', async () => {
    const app = appDir();
    app.newKey();
    const targets = new StramTargets(new ManualClock());
    await expect(targets.target(app.dir.root, 'alice@R', ['view'])).rejects.toThrow(/stram\.json/);
    app.publish('http://127.0.0.1:4001');
    await expect(targets.target(app.dir.root, 'alice@R', ['view'])).resolves.toMatchObject({ rest: 'http://127.0.0.1:4001' });
    rmSync(app.dir.info);
    await expect(targets.target(app.dir.root, 'alice@R', ['view'])).rejects.toThrow(/stram\.json/);
  });
});
