import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SluiceError, createLogger } from '@sluice/common';
import { Stram, type TokenStatus, type TokenStore } from '@sluice/stram';
import { ROOT, WORDCOUNT, runCli, startCli, tempDir, until } from './helpers/runtime-cli.js';

/**
 * Long-running tokens (docs/architecture.md "Token lifetimes and rotation"): with lifetimes shortened by configuration the word-count demo
 * runs through many renewals, reissues (STRAM and subscribe tokens) and master key rolls, and its
 * counts stay exact; a token store that is temporarily unavailable makes renewals fail, retry with
 * backoff and recover while the app keeps running.
 */

const CONTAINER_ENTRY = join(ROOT, 'packages', 'container', 'dist', 'main.js');

type Totals = { renewals: number; reissues: number; failures: number; failing: number; keyRolls: number };

/** The value of one sample line of a Prometheus text page (0 when absent). */
function sample(metrics: string, line: string): number {
  const found = metrics.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length).trim()) : 0;
}

async function restGet(appDir: string, path: string): Promise<string> {
  const info = JSON.parse(readFileSync(join(appDir, 'stram.json'), 'utf8')) as { rest: string };
  const token = readFileSync(join(appDir, 'web-token'), 'utf8').trim();
  const res = await fetch(`${info.rest}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return res.text();
}

/** What the app counted that would show a token refused or a connection closed for an expired one. */
interface Refusals {
  /** The most connections any container's buffer server had closed for an expired token. */
  servedClosedExpired: number;
  /** STRAM's refusals and session closes for an expired or cancelled token (metric lines). */
  stram: string[];
  /** How many times both were read: a watcher that never read anything proves nothing. */
  samples: number;
}

const STRAM_REFUSALS = /^sluice_(auth_failures_total|umbilical_session_closes_total)\{[^}]*reason="TOKEN_(EXPIRED|CANCELLED)"\}.*$/gm;

/**
 * Reads the containers' counters and STRAM's metrics every 500 ms until the app stops answering
 * (the demo ends): counters and metrics, never log lines, so rewording a log cannot hide a refusal.
 */
async function watchRefusals(appDir: string): Promise<Refusals> {
  const seen: Refusals = { servedClosedExpired: 0, stram: [], samples: 0 };
  for (;;) {
    try {
      const { containers } = JSON.parse(await restGet(appDir, '/ws/v1/containers')) as { containers: { counters: Record<string, number> }[] };
      for (const c of containers) seen.servedClosedExpired = Math.max(seen.servedClosedExpired, c.counters['servedClosedExpired'] ?? 0);
      seen.stram = [...new Set([...seen.stram, ...(await restGet(appDir, '/metrics')).match(STRAM_REFUSALS) ?? []])];
      seen.samples++;
    } catch {
      return seen;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('sluice demo with short token lifetimes', () => {
  const tmp = tempDir('sluice-longrun-');
  afterAll(() => tmp.remove());

  it('runs 60 s across renewals, reissues and key rolls with exact counts; status and /metrics show them', async () => {
    const appDir = join(tmp.path, 'app');
    const cli = startCli(
      ['demo', '--duration', '60s', '--json', '--renew-interval', '3s', '--max-lifetime', '10s', '--key-roll', '4s', '--token-scan', '5s', '--app-dir', appDir, '--log-level', 'info'],
      tmp.path,
    );
    let refusals: Promise<Refusals> | undefined;
    try {
      // Mid-run (past the first reissues and key rolls): what an operator watching the app sees.
      await until(async () => existsSync(join(appDir, 'stram.json')) && existsSync(join(appDir, 'web-token')));
      let metrics = '';
      await until(async () => {
        metrics = await restGet(appDir, '/metrics');
        return sample(metrics, 'sluice_token_reissues_total{result="success"}') >= 4 && sample(metrics, 'sluice_master_key_rolls_total') >= 2;
      }, 500);
      expect(sample(metrics, 'sluice_token_renewals_total{result="success"}')).toBeGreaterThanOrEqual(4);
      expect(metrics).toMatch(/^sluice_token_expiry_seconds\{container="c1"\} \d+/m);
      const status = await runCli(['status', '--json', '--app-dir', appDir], tmp.path);
      const { app, containers } = JSON.parse(status.stdout) as { app: { tokens: Totals & { renewIntervalMs: number; maxLifetimeMs: number; keyUpdateIntervalMs: number } }; containers: { id: string; tokenExpiry: string; tokens: TokenStatus }[] };
      expect(app.tokens).toMatchObject({ renewIntervalMs: 3_000, maxLifetimeMs: 10_000, keyUpdateIntervalMs: 4_000, failing: 0 });
      for (const c of containers) {
        expect(c.tokenExpiry).toMatch(/^\d{4}-/);
        expect(c.tokens).toMatchObject({ expiry: c.tokenExpiry, lastRenewal: expect.stringMatching(/^\d{4}-/), failures: 0, next: { action: expect.stringMatching(/^(renew|reissue)$/) } });
      }
      // Every container applied pushed credentials, and the readers moved their subscriptions to
      // reissued subscribe tokens (before the old ones expired: see the end of the run).
      await until(async () => {
        const { containers: cs } = JSON.parse(await restGet(appDir, '/ws/v1/containers')) as { containers: { id: string; counters: Record<string, number> }[] };
        const switched = cs.reduce((n, c) => n + (c.counters['subscribeSwitched'] ?? 0), 0);
        return cs.length === 4 && cs.every((c) => (c.counters['credentialsApplied'] ?? 0) >= 1) && switched >= 1;
      }, 500);
      refusals = watchRefusals(appDir);
      const table = await runCli(['status', '--wide', '--app-dir', appDir], tmp.path);
      expect(table.stdout).toMatch(/tokens: \d+ renewals, \d+ reissues, 0 failures, \d+ master key rolls/);
      expect(table.stdout).toContain('token expiry');
    } catch (err) {
      // The demo is still running: a second Ctrl-C shuts it down without the drain.
      cli.kill('SIGINT');
      cli.kill('SIGINT');
      await cli.exited;
      throw err;
    }
    const r = await cli.exited;
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { exact: boolean; windows: number; tuples: number; durationMs: number; tokens: Totals };
    expect(summary, r.stderr.slice(-3000)).toMatchObject({ secure: true, containers: 4, exact: true });
    expect(summary.durationMs).toBeGreaterThanOrEqual(60_000);
    expect(summary.tuples).toBe(summary.windows * 1000);
    // Over 60 s with renew 3 s / max 10 s / key roll 4 s, per container: a renewal every ~2.25 s
    // and a reissue every ~7.5 s; a key roll every 4 s.
    expect(summary.tokens.renewals).toBeGreaterThanOrEqual(20);
    expect(summary.tokens.reissues).toBeGreaterThanOrEqual(4 * 4);
    expect(summary.tokens.keyRolls).toBeGreaterThanOrEqual(8);
    expect(summary.tokens.failures).toBe(0);
    expect(r.code).toBe(0);
    // The containers switched their subscriptions to reissued subscribe tokens before the old ones
    // expired: no buffer server closed a subscriber for an expired token, and STRAM refused no
    // token (renewal failures are summary.tokens.failures, 0 above).
    const seen = await refusals!;
    console.log(`watched the app ${seen.samples} times: ${JSON.stringify(seen)}`);
    expect(seen.samples).toBeGreaterThanOrEqual(10);
    expect({ servedClosedExpired: seen.servedClosedExpired, stram: seen.stram }).toEqual({ servedClosedExpired: 0, stram: [] });
  }, 180_000);
});

describe('a renewal failure', () => {
  const tmp = tempDir('sluice-renewfail-');
  afterAll(() => tmp.remove());

  it('retries with backoff while the app keeps running, shows in status and /metrics, and recovers', async () => {
    // Boundary mock: the token store is temporarily unavailable for renewals (as a remote store
    // would be); issuing, verifying, cancelling, the processes, sockets and files are all real.
    let unavailable = false;
    const attempts: number[] = [];
    const wrap = (store: TokenStore): TokenStore =>
      new Proxy(store, {
        get(target, prop) {
          if (prop === 'renew') {
            return async (token: Parameters<NonNullable<TokenStore['renew']>>[0], renewer: string) => {
              if (unavailable) {
                attempts.push(Date.now());
                throw new SluiceError('CONNECTION_CLOSED', 'token store temporarily unavailable (injected by the test)');
              }
              return target.renew!(token, renewer);
            };
          }
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const config = { seed: 7, tuplesPerWindow: 200, windows: 0 };
    const stram = await Stram.launch({
      appModule: WORDCOUNT,
      config,
      containerEntry: CONTAINER_ENTRY,
      appDir: join(tmp.path, 'app'),
      logger: createLogger({ name: 'stram', level: 'silent' }),
      containerLogLevel: 'warn',
      renewIntervalMs: 4_000,
      maxLifetimeMs: 60_000,
      keyUpdateIntervalMs: 5_000,
      // Small steps so the test sees several attempts within the 1 s left before each expiry.
      renewalPolicy: { backoffInitialMs: 200, backoffMaxMs: 2_000 },
      wrapTokenStore: wrap,
      shutdownGraceMs: 10_000,
    });
    try {
      const totals = () => stram.appView()['tokens'] as Totals;
      const tokens = () => stram.containers().map((c) => c.tokens!);
      const metric = async (line: string) => sample(await stram.metrics.text(), line);
      await until(() => stram.containers().every((c) => c.state === 'running') && totals().renewals >= 4);

      unavailable = true;
      const renewalsBefore = totals().renewals;
      // Several attempts per container: each failed renewal is retried, not left to the next round.
      await until(() => tokens().every((t) => t.consecutiveFailures >= 3));
      const during = tokens();
      for (const t of during) expect(t.lastError).toMatch(/^renew failed: token store temporarily unavailable/);
      expect(totals().failing).toBe(4);
      expect(await metric('sluice_token_renewals_total{result="failure"}')).toBeGreaterThanOrEqual(12);
      expect(stram.containers().every((c) => c.state === 'running')).toBe(true);

      unavailable = false;
      await until(() => tokens().every((t) => t.consecutiveFailures === 0) && totals().renewals >= renewalsBefore + 4);
      const after = tokens();
      for (const t of after) expect(t).toMatchObject({ lastError: null, failures: expect.any(Number) });
      expect(totals().failing).toBe(0);
      expect(await metric('sluice_token_renewals_total{result="success"}')).toBe(totals().renewals);
      // Recovered by renewal, before the tokens expired: nothing had to be reissued.
      expect(totals().reissues).toBe(0);
      expect(attempts.length).toBeGreaterThanOrEqual(12);

      // The app ran on throughout: the generator's windows reach the output, exactly counted.
      const generatorWindow = () => stram.operators().filter((o) => o.operator === 'generator').reduce((m, o) => Math.max(m, o.window), 0);
      const finished = generatorWindow();
      expect(finished).toBeGreaterThan(0);
      const { expectedCounts, readActualCounts } = (await import(WORDCOUNT)) as {
        expectedCounts(c: Record<string, unknown>, w: number[]): Record<string, number>;
        readActualCounts(dir: string): { windows: number[]; counts: Record<string, number> };
      };
      await until(() => readActualCounts(stram.dir.root).windows.filter((w) => w <= finished).length >= finished);
      await stram.shutdown('test over');
      const actual = readActualCounts(stram.dir.root);
      expect(actual.windows.every((w, i) => w === i + 1)).toBe(true);
      expect(actual.counts).toEqual(expectedCounts(config, actual.windows));
      expect(stram.containers().every((c) => c.exit?.code === 0)).toBe(true);
    } finally {
      await stram.shutdown('test over');
    }
  }, 120_000);
});
