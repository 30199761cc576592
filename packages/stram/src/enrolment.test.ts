import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, ConnectionClosedError, createLogger, makeKeyAndCsr, sanUri, uriNames } from '@sluice/common';
import { caFile } from './ca-store.js';
import { Stram, type StramOptions } from './stram.js';
import { FakeContainer, NoopLauncher, writeTestApp } from './testing/index.js';

/** Certificate enrolment over the umbilical (docs/protocol.md "Transport encryption"), with scripted containers. */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const silent = createLogger({ name: 'stram-test', level: 'silent' });

async function launch(extra: Partial<StramOptions> = {}): Promise<{ stram: Stram; appDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-enrol-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const appDir = join(dir, 'app');
  const stram = await Stram.launch({ appModule: writeTestApp(dir, 'pipeline'), appDir, launcher: new NoopLauncher(), logger: silent, shutdownGraceMs: 100, tls: true, ...extra });
  cleanups.push(() => stram.shutdown('test over'));
  return { stram, appDir };
}

async function connect(appDir: string, container: string): Promise<FakeContainer> {
  const fake = await FakeContainer.fromCredentials(join(appDir, 'containers', container, 'credentials'));
  cleanups.push(() => fake.close());
  return fake;
}

async function metric(stram: Stram, line: string): Promise<number | undefined> {
  const found = (await stram.metrics.text()).split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('certificate enrolment over the umbilical', () => {
  it("gives container c1's token a certificate naming c1 even when its CSR asks for c2", async () => {
    const { stram, appDir } = await launch({ certLifetimeMs: 60_000 });
    const fake = await connect(appDir, 'c1');
    const { csr } = await makeKeyAndCsr('c2', sanUri(stram.appId, 'c2'));
    const cert = await fake.enrol(csr);
    const leaf = new X509Certificate(cert.chain[0]!);
    expect(uriNames(leaf.subjectAltName)).toEqual([sanUri(stram.appId, 'c1')]);
    expect(leaf.checkIssued(new X509Certificate(cert.roots[0]!))).toBe(true);
    expect(Date.parse(leaf.validTo) - Date.now()).toBeLessThanOrEqual(60_000);
    expect(await metric(stram, 'sluice_certificate_enrolments_total{outcome="issued"}')).toBe(1);
    // The root key is the app's, 0600 in its directory.
    expect(statSync(caFile(join(appDir, 'stram'))).mode & 0o777).toBe(0o600);
  });

  it('closes the session with 4400 BAD_CSR on a CSR that is not one, and counts it', async () => {
    const { stram, appDir } = await launch();
    const fake = await connect(appDir, 'c1');
    const err = await fake.enrol(Buffer.from('not a certificate request')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(err).toMatchObject({ remoteCode: CloseCode.malformed, remoteReason: expect.stringMatching(/^BAD_CSR/) });
    expect(await metric(stram, 'sluice_certificate_enrolments_total{outcome="BAD_CSR"}')).toBe(1);
  });

  it('refuses a csr with 4400 when the app runs without TLS', async () => {
    const { appDir } = await launch({ tls: false });
    const fake = await connect(appDir, 'c1');
    const err = await fake.enrol((await makeKeyAndCsr('c1')).csr).catch((e: unknown) => e);
    expect(err).toMatchObject({ remoteCode: CloseCode.malformed, remoteReason: expect.stringMatching(/^UNEXPECTED_MESSAGE/) });
  });
});
