import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/runtime-cli.js';

/**
 * `sluice demo --tls on` end to end (docs/architecture.md "Transport encryption"): four container
 * processes enrol with the app CA, serve their buffer servers over mutual TLS and renew their
 * certificates live; the counts stay exact.
 */
describe('sluice demo --tls on', () => {
  const tmp = tempDir('sluice-demo-tls-');
  afterAll(() => tmp.remove());

  it('counts exactly over mutual TLS with certificates of seconds renewed live and a root rotation mid-run, with no link refused or closed for a certificate', async () => {
    const appDir = join(tmp.path, 'app');
    const args = ['demo', '--tls', 'on', '--cert-lifetime', '3s', '--ca-rotate', '4s', '--duration', '16s', '--json', '--log-level', 'info', '--app-dir', appDir];
    const r = await runCli(args, tmp.path);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary, r.stderr.slice(-3000)).toMatchObject({ tls: true, secure: true, containers: 4, exact: true });
    expect(summary.tuples).toBe(summary.windows * 1000);
    expect(r.code).toBe(0);
    // The CA's root key is 0600 in the app directory.
    expect(statSync(join(appDir, 'stram', 'ca')).mode & 0o777).toBe(0o600);
    const perContainer = readdirSync(join(appDir, 'containers')).map((id) => readFileSync(join(appDir, 'containers', id, 'container.log'), 'utf8'));
    const logs = perContainer.join('\n');
    // Every container enrolled, and renewed at 75% of 3 s several times in 16 s.
    expect(logs.match(/"certificate received"/g)?.length).toBe(4);
    expect(logs.match(/"certificate renewed"/g)?.length ?? 0).toBeGreaterThanOrEqual(8);
    // The root rotated through its three steps while the app ran; containers held both roots, then the new one alone.
    const stramLog = readFileSync(join(appDir, 'stram.log'), 'utf8');
    for (const step of ['trust-new', 'sign-with-new', 'retire-old']) expect(stramLog).toContain(`"step":"${step}"`);
    // Steps at 4 s, 7 s and 10 s, the next rotation at 14 s: each container renews (every 2.25 s)
    // with both roots during the rotation, and with the new one alone once the old is retired.
    for (const log of perContainer) {
      const roots = [...log.matchAll(/"roots":(\d),"msg":"certificate renewed"/g)].map((m) => Number(m[1]));
      expect(roots.indexOf(2), log.slice(-1500)).toBeGreaterThanOrEqual(0);
      expect(roots.slice(roots.indexOf(2))).toContain(1);
    }
    expect(stramLog).not.toMatch(/certificate refused/);
    expect(logs).toMatch(/"bufferServer":"wss:\/\//);
    // The umbilical is TLS too: every container reached STRAM at wss://, and STRAM's own
    // certificate was reissued at each rotation step (a container that reconnected then checked it).
    expect(logs.match(/"url":"wss:\/\/[^"]+","msg":"connected to STRAM"/g)?.length ?? 0).toBeGreaterThanOrEqual(4);
    expect(logs).not.toMatch(/"url":"ws:\/\//);
    for (const step of ['trust-new', 'sign-with-new', 'retire-old']) expect(stramLog).toContain(`"why":"root rotation: ${step}"`);
    expect(stramLog).not.toMatch(/umbilical refused/);
    expect(logs).not.toMatch(/CERT_EXPIRED|TLS client refused/);
    expect(logs).not.toContain('PRIVATE KEY');
  });

  it('refuses a certificate lifetime over 30 days in one line, before anything is written', async () => {
    const appDir = join(tmp.path, 'long-certs');
    const r = await runCli(['demo', '--tls', 'on', '--cert-lifetime', '60d', '--duration', '1s', '--app-dir', appDir], tmp.path);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')[0]).toBe('sluice demo: --cert-lifetime must be at most 30d (certificates are short-lived and renewed live), not 60d [BAD_CONFIG]');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(appDir)).toBe(false);
  });
});
