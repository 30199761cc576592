import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSubscriber, type Subscriber } from '@sluice/buffer-server';
import { readCredentials, tokenFromText, type Token } from '@sluice/common';
import { rawAuth } from './helpers/bs-clients.js';
import { RecoveryRun } from './helpers/recovery-wordcount.js';
import { runCli, until } from './helpers/runtime-cli.js';

/**
 * docs/protocol.md "Subscriber names", end to end on the word count (c1 generator → c2 counter#0,
 * c3 counter#1 → c4 output). The attack seen in the field: with c2's own subscribe token for
 * `words`, a client subscribed at c1's buffer server under c3's subscriber name and cut c3 off for
 * good while its heartbeats went on. Now it is refused 4403 and counted, c3 never notices, and the
 * counts are exact. And when c3's own token is used against it (the only way left to take its
 * name), c3 reports every takeover to STRAM, takes its name back with a growing backoff, shows as
 * stalled meanwhile, and catches up once left alone. And when c1 is replaced, its new buffer server
 * (empty when it starts) holds c3's name from the deploy STRAM sends it, before c3 is back.
 */

const NAME = 'counter#1.words';

function subscribeToken(run: RecoveryRun, container: string): Token {
  const text = readCredentials(join(run.appDir, 'containers', container, 'credentials')).subscribe['bs-c1'];
  if (text === undefined) throw new Error(`${container} holds no subscribe token for bs-c1`);
  return tokenFromText(text);
}

/** The value of one sample line of STRAM's /metrics, or undefined when absent. */
async function metric(run: RecoveryRun, line: string): Promise<number | undefined> {
  const found = (await run.rest('/metrics')).text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

interface Status {
  app: { subscriberTakeovers: { refused: number; takenOver: number } };
  operators: { id: string; stalled: boolean }[];
}

async function status(run: RecoveryRun): Promise<Status> {
  return JSON.parse((await runCli(['status', '--json', '--app-dir', run.appDir], run.tmp.path)).stdout) as Status;
}

/**
 * Holds c3's subscriber name with c3's own token: every time c3 takes it back (4409 to us), take
 * it again at once. Resolves, once stopped, with how many times it connected.
 */
function holdName(url: string, token: Token): { stop(): Promise<number> } {
  let holding = true;
  let current: Subscriber | null = null;
  const loop = (async () => {
    let connects = 0;
    while (holding) {
      try {
        current = await connectSubscriber({ url, token, stream: 'words', subscriber: NAME, window: 0, onBegin() {}, onData() {}, onEnd() {} });
        connects++;
        if (!holding) break;
        await current.closed;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await current?.close();
    return connects;
  })();
  return {
    stop: async () => {
      holding = false;
      await current?.close();
      return loop;
    },
  };
}

describe('subscriber-name takeovers while the word count runs', () => {
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it("refuses c2's token under c3's name (4403, counted), and c3's own token used against it is reported, shows as a stall and is recovered from; counts exact", async () => {
    run = new RecoveryRun({ windows: 200 });
    await run.launch();
    await run.untilOutputHas(5);
    const url = (await run.container('c1')).bufferServerUrl!;

    // The attack: c2's valid subscribe token for `words`, c3's subscriber name.
    const attack = await rawAuth(url, subscribeToken(run, 'c2'), { role: 'subscribe', stream: 'words', subscriber: NAME, window: 0 });
    expect(await attack.closed).toMatchObject({ code: 4403, reason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN: subscriber "counter#1\.words" belongs to another holder/) });
    expect(attack.frames.map((f) => f['t'])).toEqual(['challenge']);
    // c1 counts the refusal and reports it; STRAM shows it in /metrics and status.
    await until(async () => (await metric(run!, 'sluice_subscriber_takeovers_refused_total{container="c1"}')) === 1, 200);
    expect((await status(run)).app.subscriberTakeovers).toEqual({ refused: 1, takenOver: 0 });

    // c3's own token in another hand: the one way left to replace its connection (4409).
    const rogue = holdName(url, subscribeToken(run, 'c3'));
    try {
      await until(async () => ((await metric(run!, 'sluice_subscriber_takeovers_total{operator="counter#1",port="words"}')) ?? 0) >= 2, 200);
      // c3 keeps heartbeating, but its window stands still while the generator's goes on.
      await until(async () => (await metric(run!, 'sluice_operator_stalled{operator="counter#1"}')) === 1, 200);
      await until(async () => (await status(run!)).operators.find((o) => o.id === 'counter#1')?.stalled === true, 200);
      await until(async () => (await runCli(['status', '--app-dir', run!.appDir], run!.tmp.path)).stdout.includes('STALLED: counter#1'), 200);
      expect(await metric(run, 'sluice_operator_stalled{operator="counter#0"}')).toBe(0);
    } finally {
      expect(await rogue.stop()).toBeGreaterThanOrEqual(2);
    }
    // Left alone, c3 takes its name back (it never stopped trying) and catches up.
    await until(async () => (await metric(run!, 'sluice_operator_stalled{operator="counter#1"}')) === 0, 200);

    const counts = await run.finalCounts();
    expect(counts, run.log('c3')).toMatchObject({ exact: true, tuples: 200 * 200 });
    expect(counts.actual).toEqual(counts.expected);
    const takeovers = (await status(run)).app.subscriberTakeovers;
    expect(takeovers.refused).toBe(1);
    expect(takeovers.takenOver).toBeGreaterThanOrEqual(2);
    console.log(`takeovers: ${JSON.stringify(takeovers)}`);
    // Nobody was replaced: c3 was never silent to STRAM, and it never gave up its input.
    expect((await run.containers()).map((c) => [c.id, c.restarts])).toEqual([['c1', 0], ['c2', 0], ['c3', 0], ['c4', 0]]);
  }, 120_000);

  it("a replaced upstream's buffer server holds c3's name from its deploy on: c2's token for the new server is refused 4403 before c3 is back; counts exact", async () => {
    // c3 is held stopped while c1 is replaced, so the taker surely comes first; the longer
    // heartbeat timeout keeps STRAM from replacing c3 meanwhile.
    run = new RecoveryRun({ windows: 200, launchArgs: ['--heartbeat-timeout', '30s'] });
    await run.launch();
    await run.untilOutputHas(20);
    const [c1, c3] = [await run.container('c1'), await run.container('c3')];
    const oldToken = subscribeToken(run, 'c2');
    process.kill(c3.pid!, 'SIGSTOP');
    try {
      process.kill(c1.pid!, 'SIGKILL');
      // The replacement reports its new buffer server; STRAM answered that heartbeat with its deploy.
      const after = await run.untilContainers((cs) => {
        const c = cs.find((x) => x.id === 'c1')!;
        return c.restarts === 1 && c.bufferServerUrl !== null && c.deployed;
      });
      const url = after.find((c) => c.id === 'c1')!.bufferServerUrl!;
      expect(url).not.toBe(c1.bufferServerUrl);
      // c2 holds a subscribe token for the new server once STRAM has pushed it.
      await until(() => !Buffer.from(subscribeToken(run!, 'c2').identifier).equals(Buffer.from(oldToken.identifier)), 20);
      const token = subscribeToken(run, 'c2');

      const attack = await rawAuth(url, token, { role: 'subscribe', stream: 'words', subscriber: NAME, window: 0 });
      // The reply to the auth is the close frame, not a welcome.
      await expect(attack.next()).rejects.toThrow(/^closed 4403 /);
      expect(await attack.closed).toMatchObject({ code: 4403, reason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN: subscriber "counter#1\.words" belongs to another holder: reserved for its container/) });
      expect(attack.frames.map((f) => f['t'])).toEqual(['challenge']);
      await until(async () => (await metric(run!, 'sluice_subscriber_takeovers_refused_total{container="c1"}')) === 1, 200);
    } finally {
      process.kill(c3.pid!, 'SIGCONT');
    }

    const counts = await run.finalCounts();
    expect(counts, run.log('c3')).toMatchObject({ exact: true, tuples: 200 * 200 });
    expect(counts.actual).toEqual(counts.expected);
    expect((await status(run)).app.subscriberTakeovers).toEqual({ refused: 1, takenOver: 0 });
    expect((await run.containers()).map((c) => [c.id, c.restarts])).toEqual([['c1', 1], ['c2', 0], ['c3', 0], ['c4', 0]]);
  }, 120_000);
});
