import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRealm } from '@sluice/gateway/testing';
import { GATEWAY_PRINCIPAL } from './helpers/gateway-process.js';
import { runCli, tempDir } from './helpers/runtime-cli.js';

/**
 * `sluice gateway` refuses to start in one line (exit 2, the code in brackets, no stack trace)
 * when it cannot serve: a port in use, a keytab that is missing, readable by others, not a
 * keytab or another principal's, no keytab at all, a principal that is not a service's, a
 * registry it cannot read.
 */
describe.skipIf(TestRealm.unavailable())('sluice gateway: refusals at start', () => {
  const tmp = tempDir('sluice-gateway-cli-');
  let realm: TestRealm;
  let keytab: string;
  let busy: Server;
  let busyPort: number;

  beforeAll(async () => {
    realm = await TestRealm.start({ dir: tmp.path, principals: ['alice', GATEWAY_PRINCIPAL] });
    keytab = realm.keytab(GATEWAY_PRINCIPAL);
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    busyPort = (busy.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((r) => busy.close(() => r()));
    await realm?.stop();
    tmp.remove();
  });

  const gateway = (args: string[], env: Record<string, string> = {}) =>
    runCli(['gateway', '--principal', GATEWAY_PRINCIPAL, '--state-dir', join(tmp.path, 'state'), ...args], tmp.path, { ...realm.env(), ...env });

  const expectOneLine = (r: { code: number | null; stderr: string }, code: string, text: RegExp) => {
    expect(r.code, r.stderr).toBe(2);
    const first = r.stderr.split('\n').find((l) => l.startsWith('sluice gateway:'));
    expect(first).toMatch(text);
    expect(first).toContain(`[${code}]`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  };

  it('refuses a port in use', async () => {
    expectOneLine(await gateway(['--keytab', keytab, '--port', String(busyPort)]), 'LISTEN_FAILED', /in use/);
  });

  it('takes the keytab from KRB5_KTNAME when --keytab is not given (and still refuses the busy port)', async () => {
    expectOneLine(await gateway(['--port', String(busyPort)], { KRB5_KTNAME: `FILE:${keytab}` }), 'LISTEN_FAILED', /in use/);
  });

  it('refuses a keytab others may read, a missing one, and none at all', async () => {
    const open = join(tmp.path, 'open.keytab');
    writeFileSync(open, 'x', { mode: 0o644 });
    expectOneLine(await gateway(['--keytab', open]), 'BAD_CONFIG', /chmod 600/);
    expectOneLine(await gateway(['--keytab', join(tmp.path, 'missing.keytab')]), 'BAD_CONFIG', /missing\.keytab/);
    expectOneLine(await gateway([], { KRB5_KTNAME: '' }), 'BAD_USAGE', /--keytab/);
  });

  it("refuses a file that is not a keytab, and another principal's keytab", async () => {
    const garbage = join(tmp.path, 'garbage.keytab');
    writeFileSync(garbage, 'not a keytab at all', { mode: 0o600 });
    expectOneLine(await gateway(['--keytab', garbage]), 'KERBEROS_LOGIN_FAILED', /garbage\.keytab/);
    expectOneLine(await gateway(['--keytab', realm.keytab('alice')]), 'KERBEROS_LOGIN_FAILED', /HTTP\/localhost@EXAMPLE\.TEST/);
  });

  it('refuses a principal that is not a service principal', async () => {
    const r = await runCli(['gateway', '--principal', 'alice', '--keytab', keytab, '--state-dir', join(tmp.path, 'state')], tmp.path);
    expectOneLine(r, 'BAD_CONFIG', /HTTP\/<host>@REALM/);
  });

  it('refuses an app registry it cannot read, naming the file', async () => {
    const state = join(tmp.path, 'corrupt');
    mkdirSync(state, { mode: 0o700 });
    writeFileSync(join(state, 'apps.json'), '{"apps": [{"id": 1}]}', { mode: 0o600 });
    const r = await runCli(['gateway', '--principal', GATEWAY_PRINCIPAL, '--keytab', keytab, '--state-dir', state], tmp.path, realm.env());
    expectOneLine(r, 'STATE_CORRUPT', /apps\.json/);
  });

  it('refuses a policy that fails validation, naming its line, and a policy file that is not there', async () => {
    const policy = join(tmp.path, 'bad-policy.yaml');
    writeFileSync(policy, 'roles:\n  dev: [LAUNCH_APPS]\nbindings:\n  - role: devs\n    principals: [alice@EXAMPLE.TEST]\n');
    expectOneLine(await gateway(['--keytab', keytab, '--policy', policy]), 'BAD_POLICY', /bad-policy\.yaml:4:11: bindings\.0\.role: no role "devs"/);
    expectOneLine(await gateway(['--keytab', keytab, '--policy', join(tmp.path, 'none.yaml')]), 'BAD_POLICY', /none\.yaml: no such policy file/);
  });
});
