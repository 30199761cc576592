import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSubscriber } from '@sluice/buffer-server';
import { CloseCode, ConnectionClosedError, bufferTokenPassword, mintBufferToken, readCredentials, tokenFromText } from '@sluice/common';
import { RecoveryRun, sample } from './helpers/recovery-wordcount.js';
import { until } from './helpers/runtime-cli.js';

/**
 * A secret rotation under way when STRAM is killed (docs/architecture.md "Recovery", "Token
 * lifetimes and rotation"): the word count runs with short token lifetimes, STRAM is killed -9
 * while the generator's buffer server (c1's) is between its old and new secret, and
 * `sluice launch --recover` resumes that rotation from the owner's credentials file. The old
 * secret is then retired by the resumed rotation itself — while the new one is still current,
 * not at some later rotation — and the counts are exact.
 */

const LIFETIME = ['--renew-interval', '6s', '--max-lifetime', '8s', '--heartbeat-timeout', '5s'];

/** A token for c1's `words` stream minted from `secret` (hex), as anyone holding that secret could make one. */
function tokenFrom(secret: string) {
  return mintBufferToken({ secret: Buffer.from(secret, 'hex'), bs: 'bs-c1', streams: ['words'], access: 'subscribe', owner: 'probe', now: Date.now(), ttlMs: 60_000 });
}

/** Whether subscribe token `text` was minted from `secret` (hex). */
function ofSecret(text: string, secret: string): boolean {
  const t = tokenFromText(text);
  return Buffer.from(bufferTokenPassword(Buffer.from(secret, 'hex'), t.identifier).password).equals(Buffer.from(t.password));
}

/** Subscribes at `url` with a token minted from `secret`; `onClose` hears how a welcomed subscription ends. */
function subscribe(url: string, secret: string, name: string, onClose?: (code: number, reason: string) => void) {
  return connectSubscriber({ url, token: tokenFrom(secret), stream: 'words', subscriber: name, window: 0, onBegin() {}, onData() {}, onEnd() {}, ...(onClose ? { onClose } : {}) });
}

/** A fresh subscription's fate: 'welcomed' (then closed), or the refusal's close code and reason. */
async function probe(url: string, secret: string): Promise<'welcomed' | { code: number; reason: string }> {
  try {
    await (await subscribe(url, secret, 'probe')).close();
    return 'welcomed';
  } catch (err) {
    if (err instanceof ConnectionClosedError) return { code: err.remoteCode, reason: err.remoteReason };
    throw err;
  }
}

describe('a secret rotation across a STRAM restart', () => {
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it('STRAM killed -9 mid-rotation: the recovered STRAM retires the old secret (its subscriptions closed 4401 SECRET_RETIRED) while the new one is current; counts exact', async () => {
    run = new RecoveryRun({ windows: 250, launchArgs: LIFETIME });
    await run.launch();
    const url = (await run.container('c1')).bufferServerUrl!;
    const file = join(run.appDir, 'containers', 'c1', 'credentials');
    const before = readCredentials(file).bufferServer.secret;
    // The rotation starts at c1's first reissue: the file lists the old secret as previous until retire-secrets is sent.
    let rotating = readCredentials(file).bufferServer;
    await until(() => {
      rotating = readCredentials(file).bufferServer;
      return (rotating.previous?.length ?? 0) > 0;
    }, 10);
    process.kill(run.stram.child.pid!, 'SIGKILL');
    await run.stram.exited;
    expect(rotating.previous).toEqual([before]);
    const old = before;
    const fresh = rotating.secret;
    // STRAM is gone with the rotation unfinished: the old secret is still accepted there. A
    // subscription with a token of it stays open until the secret is retired.
    let closed: { code: number; reason: string } | undefined;
    await subscribe(url, old, 'holder', (code, reason) => (closed = { code, reason }));

    await run.recover();
    await until(() => closed !== undefined, 50);
    // Retired by the resumed rotation: the new secret is still c1's current one (a later rotation
    // would have had to come first without it, making a third secret current and retiring this one too).
    const now = readCredentials(file).bufferServer;
    expect([now.secret, ...(now.previous ?? [])]).toContain(fresh);
    expect(closed).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^SECRET_RETIRED/) });
    // From now on a token of the old secret is unknown there; one of the new secret is welcome.
    expect(await probe(url, old)).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^BAD_PROOF/) });
    expect(await probe(url, fresh)).toBe('welcomed');

    const metrics = (await run.rest('/metrics')).text;
    expect(sample(metrics, 'sluice_secret_rotations_resumed_total{container="c1"}')).toBe(1);
    expect(sample(metrics, 'sluice_secret_rotations_total{container="c1"}')).toBeGreaterThanOrEqual(1);
    const counts = await run.finalCounts();
    console.log(`rotation across a STRAM restart: ${counts.windows.length} windows, ${counts.tuples} words, exact=${counts.exact}`);
    expect(counts, run.log('c4')).toMatchObject({ exact: true, tuples: 250 * 200 });
    expect(counts.actual).toEqual(counts.expected);
    // The same processes throughout: c1's buffer server is the one that took the old secret.
    const containers = await run.containers();
    expect(containers.map((c) => [c.id, c.restarts])).toEqual([['c1', 0], ['c2', 0], ['c3', 0], ['c4', 0]]);
    // c1 reports the holder's close in its heartbeat counters (its buffer server's closes by code).
    expect(containers.find((c) => c.id === 'c1')!.counters['servedClosedRetired'], run.log('c1')).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('STRAM killed -9 after it noted the retire but before retire-secrets reached the owner: the recovered STRAM sends it again and the old secret is retired', async () => {
    run = new RecoveryRun({ windows: 250, launchArgs: LIFETIME });
    await run.launch();
    const r = run;
    const c1 = await r.container('c1');
    const url = c1.bufferServerUrl!;
    const file = join(r.appDir, 'containers', 'c1', 'credentials');
    const reader = join(r.appDir, 'containers', 'c2', 'credentials');
    const old = readCredentials(file).bufferServer.secret;
    // The rotation starts at c1's first reissue: its file lists the old secret as previous.
    await until(() => (readCredentials(file).bufferServer.previous?.length ?? 0) > 0, 10);
    const fresh = readCredentials(file).bufferServer.secret;
    // c1 holds the new secret once its readers get subscribe tokens of it; c1 is stopped then, so
    // the retire-secrets STRAM queues for it when the readers confirm waits for a heartbeat it never sends.
    await until(() => ofSecret(readCredentials(reader).subscribe['bs-c1']!, fresh), 10);
    process.kill(c1.pid!, 'SIGSTOP');
    await until(() => (readCredentials(file).bufferServer.previous?.length ?? 0) === 0, 10);
    process.kill(r.stram.child.pid!, 'SIGKILL');
    await r.stram.exited;
    process.kill(c1.pid!, 'SIGCONT');
    // The retire never reached c1: its buffer server still takes the old secret.
    let closed: { code: number; reason: string; current: string } | undefined;
    await subscribe(url, old, 'holder', (code, reason) => (closed = { code, reason, current: readCredentials(file).bufferServer.secret }));

    await r.recover();
    await until(() => closed !== undefined, 50);
    // Retired at the recovery, with the rotation's new secret still current: not by the next rotation
    // (which would retire it too, a reissue later, with a third secret current by then).
    expect(closed).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^SECRET_RETIRED/), current: fresh });
    expect(await probe(url, old)).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^BAD_PROOF/) });
    const counts = await r.finalCounts();
    expect(counts, r.log('c4')).toMatchObject({ exact: true, tuples: 250 * 200 });
    expect((await r.containers()).map((c) => [c.id, c.restarts])).toEqual([['c1', 0], ['c2', 0], ['c3', 0], ['c4', 0]]);
  }, 120_000);
});
