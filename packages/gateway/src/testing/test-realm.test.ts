import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TestRealm } from './test-realm.js';

const why = TestRealm.unavailable();

function klist(env: Record<string, string>, ccache: string): string {
  return execFileSync('klist', ['-c', ccache], { env: { ...process.env, ...env, LC_ALL: 'C' } }).toString();
}

describe.skipIf(why)(`TestRealm${why ? ` (skipped: ${why})` : ''}`, () => {
  it('runs a KDC that issues tickets from 0600 keytabs, and leaves nothing behind', async () => {
    const realm = await TestRealm.start({ principals: ['alice', 'HTTP/localhost@EXAMPLE.TEST'] });
    const dir = realm.dir;
    try {
      expect(statSync(realm.keytab('alice')).mode & 0o777).toBe(0o600);
      expect(statSync(realm.keytab('HTTP/localhost')).mode & 0o777).toBe(0o600);
      const cc = `FILE:${dir}/alice.ccache`;
      await realm.kinit('alice', cc);
      expect(klist(realm.env(), cc)).toContain('Default principal: alice@EXAMPLE.TEST');
      await expect(realm.kinit('mallory', cc)).rejects.toThrow(/not a principal of this test realm/);
    } finally {
      await realm.stop();
    }
    expect(existsSync(dir)).toBe(false);
  });

  it('gives a principal tickets no longer than its max life', async () => {
    await using realm = await TestRealm.start({ principals: [{ name: 'gw', maxLife: 30 }, 'bob'] });
    const cc = `FILE:${realm.dir}/gw.ccache`;
    await realm.kinit('gw', cc);
    const m = /(\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d)\s+(\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d)\s+krbtgt/.exec(klist(realm.env(), cc));
    const [start, end] = [m![1]!, m![2]!].map((t) => Date.parse(`20${t.slice(6, 8)}-${t.slice(0, 2)}-${t.slice(3, 5)}T${t.slice(9)}`));
    expect(end! - start!).toBe(30_000);
    await realm.setMaxLife('bob', 20);
    await realm.kinit('bob', cc);
    expect(klist(realm.env(), cc)).toContain('bob@EXAMPLE.TEST');
  });

  it('can stop and restart its KDC: no tickets while it is down', async () => {
    await using realm = await TestRealm.start({ principals: ['alice'] });
    const cc = `FILE:${realm.dir}/alice.ccache`;
    await realm.stopKdc();
    await expect(realm.kinit('alice', cc)).rejects.toThrow(/Cannot contact any KDC/);
    await realm.startKdc();
    await realm.kinit('alice', cc);
  });
});

describe.skipIf(why)(`TestRealm's KDC on a taken port${why ? ` (skipped: ${why})` : ''}`, () => {
  it('says why the KDC did not start', async () => {
    await using realm = await TestRealm.start({ principals: ['alice'] });
    await realm.stopKdc();
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(realm.port, '127.0.0.1', r));
    try {
      await expect(realm.startKdc()).rejects.toThrow(/krb5kdc did not start on 127\.0\.0\.1:\d+: .*Address already in use/);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    await realm.startKdc();
    await realm.kinit('alice', `FILE:${realm.dir}/alice.ccache`);
  });
});
