import { readFileSync, readdirSync, statSync } from 'node:fs';
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

  it('counts exactly over mutual TLS with certificates of seconds, renewed live, and no link closed for an expired certificate', async () => {
    const appDir = join(tmp.path, 'app');
    const r = await runCli(['demo', '--tls', 'on', '--cert-lifetime', '4s', '--duration', '10s', '--json', '--log-level', 'info', '--app-dir', appDir], tmp.path);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary, r.stderr.slice(-3000)).toMatchObject({ tls: true, secure: true, containers: 4, exact: true });
    expect(summary.tuples).toBe(summary.windows * 1000);
    expect(r.code).toBe(0);
    // The CA's root key is 0600 in the app directory.
    expect(statSync(join(appDir, 'stram', 'ca')).mode & 0o777).toBe(0o600);
    const logs = readdirSync(join(appDir, 'containers')).map((id) => readFileSync(join(appDir, 'containers', id, 'container.log'), 'utf8')).join('\n');
    // Every container enrolled, and renewed at 75% of 4 s at least once in 10 s.
    expect(logs.match(/"certificate received"/g)?.length).toBe(4);
    expect(logs.match(/"certificate renewed"/g)?.length ?? 0).toBeGreaterThanOrEqual(4);
    expect(logs).toMatch(/"bufferServer":"wss:\/\//);
    expect(logs).not.toMatch(/CERT_EXPIRED|TLS client refused/);
    expect(logs).not.toContain('PRIVATE KEY');
  });
});
