import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppDir, AppLock } from '@sluice/stram';
import { AppState } from './api.js';
import { REGISTRY_FILE, Registry, appState, type AppEntry } from './registry.js';

describe('the app registry', () => {
  const dirs: string[] = [];
  const newDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'sluice-gw-registry-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const entry = (state: string, id = 'demo-1'): AppEntry => ({
    id,
    name: 'wordcount',
    owner: 'alice@EXAMPLE.TEST',
    realUser: 'HTTP/localhost@EXAMPLE.TEST',
    appDir: join(state, 'apps', id),
    startedAt: 1,
    grants: { view: [], manage: [] },
  });

  it('writes through to apps.json (0600), so a reopened registry has the same apps and grants', () => {
    const state = newDir();
    const r = Registry.open(state);
    r.add(entry(state));
    r.setGrants('demo-1', { view: ['bob@EXAMPLE.TEST'], manage: [] });
    expect(statSync(join(state, REGISTRY_FILE)).mode & 0o777).toBe(0o600);
    expect(Registry.open(state).list()).toEqual([{ ...entry(state), grants: { view: ['bob@EXAMPLE.TEST'], manage: [] } }]);
  });

  it('refuses a registry file that is not one, naming it', () => {
    const state = newDir();
    writeFileSync(join(state, REGISTRY_FILE), '{"apps":[{"id":3}]}', { mode: 0o600 });
    expect(() => Registry.open(state)).toThrow(/apps\.json is not the gateway's app registry/);
  });

  it("reads each app's state from its directory: UNREACHABLE, FINISHED, RUNNING, FAILED", () => {
    const state = newDir();
    const e = entry(state);
    const dir = new AppDir(e.appDir);
    expect(appState(e)).toBe(AppState.unreachable); // launched, its STRAM not started yet
    dir.create();
    expect(appState(e)).toBe(AppState.finished);
    const info = { appId: 'wordcount-1', name: 'wordcount', pid: process.pid, umbilical: 'ws://x', rest: 'http://x', startedAt: '', insecure: false };
    dir.writeInfo(info);
    expect(appState(e)).toBe(AppState.unreachable); // a STRAM that died leaving stram.json
    const lock = AppLock.acquire(dir, 'wordcount-1');
    try {
      expect(appState(e)).toBe(AppState.running);
    } finally {
      lock.release();
    }
    writeFileSync(dir.failed, '{}', { mode: 0o600 });
    rmSync(dir.info);
    expect(appState(e)).toBe(AppState.failed);
  });
});
