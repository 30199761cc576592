import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, makeKeyAndCsr, pemToDer, readCredentials, type CertMessage } from '@sluice/common';
import { Stram } from '@sluice/stram';
import { FakeContainer, NoopLauncher, makeOperatorCa, writeTestApp, type OperatorCa } from '@sluice/stram/testing';
import { RecoveryRun } from './helpers/recovery-wordcount.js';
import { runCli, tempDir } from './helpers/runtime-cli.js';

/**
 * An operator-supplied intermediate CA (`--ca-cert --ca-key --ca-chain`; docs/architecture.md
 * "Transport encryption"): STRAM issues the app's certificates under the operator's intermediate,
 * sends the chain with them, and every peer trusts the operator's root.
 */
describe('sluice with an operator-supplied intermediate CA', () => {
  const tmp = tempDir('sluice-tls-intermediate-');
  let op: OperatorCa;
  const files = { cert: '', key: '', chain: '' };

  beforeAll(async () => {
    op = await makeOperatorCa();
    files.cert = join(tmp.path, 'issuing.pem');
    files.key = join(tmp.path, 'issuing.key');
    files.chain = join(tmp.path, 'root.pem');
    writeFileSync(files.cert, op.intermediatePem);
    writeFileSync(files.key, op.intermediateKeyPem, { mode: 0o600 });
    writeFileSync(files.chain, op.rootPem);
  });
  afterAll(() => tmp.remove());

  it('counts the demo exactly with every certificate issued under the intermediate', async () => {
    const appDir = join(tmp.path, 'demo');
    const args = ['demo', '--tls', 'on', '--ca-cert', files.cert, '--ca-key', files.key, '--ca-chain', files.chain, '--cert-lifetime', '4s', '--duration', '8s', '--json', '--log-level', 'info', '--app-dir', appDir];
    const r = await runCli(args, tmp.path);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary, r.stderr.slice(-3000)).toMatchObject({ tls: true, secure: true, containers: 4, exact: true });
    expect(r.code).toBe(0);
    const logs = readdirSync(join(appDir, 'containers')).map((id) => readFileSync(join(appDir, 'containers', id, 'container.log'), 'utf8')).join('\n');
    expect(logs.match(/"certificate received"/g)?.length).toBe(4);
    expect(logs).toMatch(/"url":"wss:\/\/[^"]+","msg":"connected to STRAM"/);
    // The key stays where the operator keeps it: no CA file of the app's own.
    expect(readdirSync(join(appDir, 'stram'))).not.toContain('ca');
  }, 60_000);

  it('keeps using the same intermediate after STRAM is killed and recovered (--recover remembers the paths, copies no key)', async () => {
    const run = new RecoveryRun({ windows: 120, launchArgs: ['--tls', 'on', '--ca-cert', files.cert, '--ca-key', files.key, '--ca-chain', files.chain], logLevel: 'info' });
    try {
      await run.launch();
      await run.untilOutputHas(20);
      const state = readFileSync(join(run.appDir, 'stram', 'state.json'), 'utf8');
      expect(state).toContain(`"caKey":${JSON.stringify(files.key)}`);
      expect(state).not.toContain('PRIVATE KEY');
      process.kill(run.stram.child.pid!, 'SIGKILL');
      await run.stram.exited;
      await run.recover();
      // Every container reconnects over TLS to the recovered STRAM, whose certificate the same intermediate issued.
      await run.untilContainers((cs) => cs.every((c) => c.state === 'running' && c.heartbeats > 0));
      const counts = await run.finalCounts();
      expect(counts, run.log('c1')).toMatchObject({ exact: true, tuples: 120 * 200 });
      expect(readdirSync(join(run.appDir, 'stram'))).not.toContain('ca');
      for (const c of ['c1', 'c2', 'c3', 'c4']) expect(run.log(c)).not.toMatch(/CERT_|certificate refused|self-signed/);
    } finally {
      await run.cleanup();
    }
  }, 120_000);

  it('issues a leaf that chains through the intermediate to the operator root, and the roots peers trust are the operator root', async () => {
    const dir = join(tmp.path, 'api');
    const stram = await Stram.launch({ appModule: writeTestApp(tmp.path, 'pipeline'), appDir: join(dir, 'app'), launcher: new NoopLauncher(), logger: createLogger({ name: 't', level: 'silent' }), shutdownGraceMs: 100, tls: true, caCert: files.cert, caKey: files.key, caChain: files.chain });
    try {
      const credentials = join(dir, 'app', 'containers', 'c1', 'credentials');
      expect(readCredentials(credentials).caRoots).toEqual([op.rootPem.replace(/\r\n/g, '\n')].map((p) => p.trim() + '\n'));
      const fake = await FakeContainer.fromCredentials(credentials);
      const cert: CertMessage = await fake.enrol((await makeKeyAndCsr('c1')).csr);
      fake.close();
      const [leaf, issuing] = cert.chain.map((d) => new X509Certificate(d));
      const root = new X509Certificate(pemToDer(op.rootPem)[0]!);
      expect(cert.roots.map((r) => Buffer.from(r).equals(root.raw))).toEqual([true]);
      expect(issuing!.raw.equals(new X509Certificate(op.intermediatePem).raw)).toBe(true);
      expect(leaf!.verify(issuing!.publicKey)).toBe(true);
      expect(issuing!.verify(root.publicKey)).toBe(true);
      expect(leaf!.checkIssued(root)).toBe(false);
      expect(leaf!.subjectAltName).toBe(`URI:sluice://${stram.appId}/c1`);
    } finally {
      await stram.shutdown('test over');
    }
  });

  it('refuses a key file others can read with one line, and --ca-cert without TLS', async () => {
    const open = join(tmp.path, 'open.key');
    writeFileSync(open, op.intermediateKeyPem);
    chmodSync(open, 0o644);
    const r = await runCli(['demo', '--tls', 'on', '--ca-cert', files.cert, '--ca-key', open, '--ca-chain', files.chain, '--duration', '1s', '--app-dir', join(tmp.path, 'refused')], tmp.path);
    expect(r.code).not.toBe(0);
    // One line saying what is wrong (then the usual pointer to --help), no stack trace, no app directory left.
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe(`sluice demo: --ca-key file ${open} has mode 644; it holds secrets and must be readable by its owner only (chmod 600 ${open}) [BAD_CONFIG]`);
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^see '.*demo --help'$/)]);
    expect(existsSync(join(tmp.path, 'refused'))).toBe(false);
    const off = await runCli(['demo', '--tls', 'off', '--ca-cert', files.cert, '--ca-key', files.key, '--duration', '1s'], tmp.path);
    expect(off.stderr.trim().split('\n')[0]).toBe('sluice demo: --ca-cert is the CA of TLS: it needs TLS on [BAD_USAGE]');
  });
});
