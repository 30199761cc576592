import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SluiceError } from '@sluice/common';
import { KeytabLogin, parseKlist, reloginAt, type KerberosLoginObserver } from './keytab-login.js';
import { negotiateHeader } from './negotiate-client.js';
import { KerberosAcceptor } from './spnego.js';
import { TestRealm } from './testing/index.js';

const why = TestRealm.unavailable();
const GW = 'HTTP/localhost@EXAMPLE.TEST';

/** Polls `cond` every 50 ms until it holds; fails after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

class Recorder implements KerberosLoginObserver {
  readonly expiries: number[] = [];
  readonly failures: SluiceError[] = [];
  login(expiresAt: number): void {
    this.expiries.push(expiresAt);
  }
  failure(error: SluiceError): void {
    this.failures.push(error);
  }
}

describe('keytab re-login schedule', () => {
  it('logs in again at 75% of a ticket lifetime', () => {
    expect(reloginAt(1_000_000, 1_004_000, 0.75)).toBe(1_003_000);
  });

  it('reads the TGT times out of klist', () => {
    const out = `Ticket cache: FILE:/tmp/x\nDefault principal: HTTP/localhost@EXAMPLE.TEST\n\nValid starting     Expires            Service principal\n12/02/26 06:16:02  12/02/26 06:16:05  krbtgt/EXAMPLE.TEST@EXAMPLE.TEST\n`;
    expect(parseKlist(out)).toEqual({ startsAt: Date.UTC(2026, 11, 2, 6, 16, 2), expiresAt: Date.UTC(2026, 11, 2, 6, 16, 5) });
    expect(parseKlist('klist: No credentials cache found (filename: /tmp/x)')).toBeUndefined();
  });
});

describe.skipIf(why)(`the gateway's keytab login against a real KDC${why ? ` (skipped: ${why})` : ''}`, () => {
  let realm: TestRealm;

  beforeAll(async () => {
    // The gateway's tickets live 3 s: a re-login every ~2.25 s.
    realm = await TestRealm.start({ principals: ['alice', { name: GW, maxLife: 3 }] });
    Object.assign(process.env, realm.env());
  });
  afterAll(async () => {
    await realm?.stop();
  });

  const policy = { backoffInitialMs: 100, backoffMaxMs: 400 };

  it('logs in again before each ticket expires, and the cache always holds a valid TGT', async () => {
    const seen = new Recorder();
    const login = new KeytabLogin({ keytab: realm.keytab(GW), principal: GW, observer: seen, policy });
    try {
      expect(await login.start()).toBe(true);
      expect(login.logins).toBe(1);
      const env = { ...process.env, KRB5CCNAME: login.ccache };
      let checks = 0;
      while (login.logins < 4) {
        execFileSync('klist', ['-s'], { env }); // throws when the cache holds no valid TGT
        checks++;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(checks).toBeGreaterThan(20);
      expect(seen.expiries).toHaveLength(4);
      expect(login.expiresAt).toBe(seen.expiries[3]);
      for (let i = 1; i < 4; i++) expect(seen.expiries[i]!).toBeGreaterThan(seen.expiries[i - 1]!);
      // The ticket it holds is a real one: it gets the gateway a service ticket an acceptor takes.
      process.env['KRB5CCNAME'] = login.ccache;
      const acceptor = new KerberosAcceptor({ keytab: realm.keytab(GW), principal: GW });
      await expect(acceptor.accept(await negotiateHeader('http://localhost:1'))).resolves.toMatchObject({ principal: GW });
      acceptor.close();
    } finally {
      await login.stop();
    }
    expect(existsSync(dirname(login.ccache.slice('FILE:'.length)))).toBe(false);
  });

  it('retries with backoff while the KDC is down and logs in again once it is back', async () => {
    const seen = new Recorder();
    const login = new KeytabLogin({ keytab: realm.keytab(GW), principal: GW, observer: seen, policy });
    try {
      expect(await login.start()).toBe(true);
      await realm.stopKdc();
      await until(() => seen.failures.length >= 3, 15_000, 'three failed logins');
      expect(seen.failures[0]!.code).toBe('KERBEROS_LOGIN_FAILED');
      expect(seen.failures[0]!.message).toContain('Cannot contact any KDC');
      expect(seen.failures[0]!.message).not.toContain('\n');
      const before = login.logins;
      await realm.startKdc();
      await until(() => login.logins > before, 15_000, 'a login after the KDC came back');
    } finally {
      await login.stop();
      await realm.startKdc();
    }
  });

  it('starts without a KDC (start() says false) and logs in once one answers', async () => {
    await realm.stopKdc();
    const seen = new Recorder();
    const login = new KeytabLogin({ keytab: realm.keytab(GW), principal: GW, observer: seen, policy });
    try {
      expect(await login.start()).toBe(false);
      expect(login.expiresAt).toBeUndefined();
      await realm.startKdc();
      await until(() => login.logins === 1, 15_000, 'the first login');
      expect(login.expiresAt).toBeGreaterThan(Date.now() - 3_000);
    } finally {
      await login.stop();
      await realm.startKdc();
    }
  });

  it('says which principal a keytab does not hold, in one line', async () => {
    const seen = new Recorder();
    const login = new KeytabLogin({ keytab: realm.keytab(GW), principal: 'alice@EXAMPLE.TEST', observer: seen, policy });
    try {
      expect(await login.start()).toBe(false);
      expect(seen.failures[0]!.message).toMatch(/^cannot log in as alice@EXAMPLE\.TEST with keytab \S+: [^\n]+$/);
    } finally {
      await login.stop();
    }
  });
});
