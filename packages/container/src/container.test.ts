import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import {
  CloseCode,
  ServerHandshake,
  StramSecretManager,
  acceptAuthenticated,
  ConnectionClosedError,
  appFromModule,
  boundNamesAt,
  connectAuthenticated,
  createLogger,
  decodeIdentifier,
  readCredentials,
  sealCredentials,
  deployFor,
  generateSecret,
  hashString,
  matchesPartition,
  mintBufferToken,
  openSealed,
  partitionFilter,
  partitionValue,
  planApp,
  tokenToText,
  toBuffer,
  validateApp,
  writeCredentials,
  type Command,
  type Credentials,
  type HeartbeatMessage,
  type PhysicalPlan,
  type Session,
} from '@sluice/common';
import { connectPublisher, connectSubscriber, startBufferServer, type BufferServer } from '@sluice/buffer-server';
import { FileCheckpointStore } from './checkpoint-store.js';
import { Container, ExitCode } from './container.js';

/**
 * Two real container processes running the word-count demo (generator container c1 → counter
 * container c2, the first counter partition) against a minimal STRAM-side umbilical written
 * here from the common pieces: ServerHandshake with the real StramSecretManager as the token
 * authority, sealed heartbeats and acks, and deploy commands from the planner. Needs the build
 * (`pnpm exec tsc -b`): containers run dist/main.js and load the demo from packages/cli/dist.
 */

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const containerMain = join(repo, 'packages', 'container', 'dist', 'main.js');
const appModule = join(repo, 'packages', 'cli', 'dist', 'demo', 'wordcount.js');
const APP = 'wordcount';
const config = { seed: 42, tuplesPerWindow: 300, windows: 6 };
const silent = createLogger({ name: 'test', level: 'silent' });

interface TestStram {
  url: string;
  heartbeats: HeartbeatMessage[];
  /** Close codes the server used when refusing a connection after the handshake. */
  refusals: { container: string; code: number }[];
  /** Commands waiting for each container's next heartbeat (a function gets that connection's session). */
  pending: Map<string, (Command | ((session: Session) => Command))[]>;
  /** Sequence numbers of the STRAM tokens each accepted hello used, in order. */
  hellos: { container: string; seq: number }[];
  /** Drops a container's umbilical connection (it reconnects). */
  drop(container: string): void;
  onHeartbeat?: (h: HeartbeatMessage) => void;
  close(): Promise<void>;
}

/** A minimal umbilical server: accepts hello from a container's STRAM token, answers heartbeats. */
async function startTestStram(authority: StramSecretManager, app = APP): Promise<TestStram> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const sockets = new Set<WebSocket>();
  const owners = new Map<WebSocket, string>();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const stram: TestStram = {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    heartbeats: [],
    refusals: [],
    pending: new Map(),
    hellos: [],
    drop: (container) => {
      for (const [s, c] of owners) if (c === container) s.terminate();
    },
    close: async () => {
      for (const s of sockets) s.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  wss.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    acceptAuthenticated(socket, new ServerHandshake(`stram:${app}`, authority), {
      onAccepted: (accepted) => {
        const container = (accepted.request as { container: string }).container;
        const session: Session = accepted.session;
        owners.set(socket, container);
        socket.once('close', () => owners.delete(socket));
        stram.hellos.push({ container, seq: accepted.identifier.sequenceNumber });
        socket.on('message', (data, isBinary) => {
          let hb: HeartbeatMessage;
          try {
            hb = openSealed(session, toBuffer(data), isBinary, ['heartbeat']);
          } catch {
            socket.close(CloseCode.unauthenticated, 'bad frame');
            return;
          }
          // A container's token speaks only for that container (umbilical.ts).
          if (hb.container !== container) {
            stram.refusals.push({ container, code: CloseCode.forbidden });
            socket.close(CloseCode.forbidden, `OUT_OF_SCOPE: heartbeat names ${hb.container}, token is for ${container}`);
            return;
          }
          stram.heartbeats.push(hb);
          stram.onHeartbeat?.(hb);
          const commands = (stram.pending.get(container) ?? []).map((c) => (typeof c === 'function' ? c(session) : c));
          stram.pending.set(container, []);
          socket.send(session.seal({ t: 'heartbeat-ack', commands }));
        });
        socket.send(accepted.welcome());
      },
    });
  });
  return stram;
}

interface Proc {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: string[];
}

function launch(credentialsPath: string): Proc {
  const child = spawn(process.execPath, [containerMain], {
    env: { PATH: process.env['PATH'] ?? '', SLUICE_CREDENTIALS: credentialsPath, SLUICE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr!.on('data', (b: Buffer) => stderr.push(b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr };
}

/** Polls a condition (no timing assertions: the test timeout is the only deadline). */
async function until<T>(what: string, fn: () => T | undefined | false): Promise<T> {
  for (;;) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
    void what;
  }
}

describe('container processes', () => {
  let appDir: string;
  let authority: StramSecretManager;
  let stram: TestStram;
  let plan: PhysicalPlan;
  const secrets = new Map<string, Buffer>();
  const procs = new Map<string, Proc>();
  const urls = new Map<string, string>();
  const deployed = new Set<string>();
  let expectedPartitionTuples = -1;
  const restore = new Map<string, number>();

  const lastWindow = (c: string): number => [...stram.heartbeats].reverse().find((h) => h.container === c)?.operators[0]?.window ?? 0;
  const listCheckpoints = (op: string): number[] => {
    const dir = join(appDir, 'checkpoints', op);
    return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+$/.test(f)).map(Number).sort((a, b) => a - b) : [];
  };

  beforeAll(async () => {
    for (const f of [containerMain, appModule]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: run \`pnpm exec tsc -b\` first`);
    }
    appDir = mkdtempSync(join(tmpdir(), 'sluice-container-'));
    const app = appFromModule(await import(pathToFileURL(appModule).href));
    plan = planApp(validateApp(app, config));
    authority = await StramSecretManager.open({ app: APP, stateDir: null, logger: silent });
    stram = await startTestStram(authority);
    // Deploy each container once its upstreams' buffer servers are known, as STRAM does.
    stram.onHeartbeat = (hb) => {
      if (hb.bufferServer) urls.set(hb.container, hb.bufferServer);
      for (const c of ['c1', 'c2']) {
        if (deployed.has(c) || !urls.has(c) || (c === 'c2' && !urls.has('c1'))) continue;
        deployed.add(c);
        stram.pending.set(c, [...(stram.pending.get(c) ?? []), { c: 'deploy', operators: deployFor(plan, c, urls, restore), boundNames: boundNamesAt(plan, c) }]);
      }
    };
    for (const c of ['c1', 'c2']) secrets.set(c, generateSecret());
    for (const c of ['c1', 'c2']) procs.set(c, launch(await writeContainerCredentials(c)));
  });

  /** Issues fresh tokens for container c and writes its credentials file, as STRAM does before a launch. */
  async function writeContainerCredentials(c: string): Promise<string> {
    {
      const now = Date.now();
      const subscribe: Record<string, string> = {};
      if (c === 'c2') {
        subscribe['bs-c1'] = tokenToText(
          mintBufferToken({ secret: secrets.get('c1')!, bs: 'bs-c1', streams: ['words'], access: 'subscribe', container: 'c2', owner: 'test', now, ttlMs: 3_600_000 }),
        );
      }
      const credentials: Credentials = {
        version: 1,
        app: APP,
        container: c,
        stram: stram.url,
        stramToken: tokenToText(await authority.issue({ owner: 'test', renewer: 'stram', app: APP, container: c })),
        bufferServer: { id: `bs-${c}`, secret: secrets.get(c)!.toString('hex') },
        subscribe,
        appModule,
        appDir,
        config,
        settings: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2_000, windowMs: 20, checkpointWindows: 2, insecure: false },
      };
      const path = join(appDir, 'containers', c, 'credentials');
      writeCredentials(path, credentials);
      return path;
    }
  }

  afterAll(async () => {
    for (const [c, p] of procs) {
      if (process.env['SLUICE_TEST_DEBUG']) console.log(`--- ${c} stderr\n${p.stderr.join('')}`);
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    await stram?.close().catch(() => undefined);
    await authority?.close();
    if (appDir) rmSync(appDir, { recursive: true, force: true });
  });

  it('heartbeats with its buffer server and per-operator stats', async () => {
    const hb = await until('c2 stats', () => stram.heartbeats.find((h) => h.container === 'c2' && h.state === 'running' && (h.operators[0]?.window ?? 0) >= 2));
    expect(hb.bufferServer).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(hb.operators.map((o) => o.id)).toEqual(['counter#0']);
    expect(hb.operators[0]).toMatchObject({ id: 'counter#0', checkpoint: expect.any(Number) });
    expect(existsSync(join(appDir, 'checkpoints', 'generator#0'))).toBe(true);
  });

  it('the counter receives every tuple of its partition, and its counts are right', async () => {
    // Read the counter's output stream from its own buffer server, as a downstream would.
    const perWindow = new Map<number, Record<string, number>>();
    let done = 0;
    const sub = await connectSubscriber({
      url: urls.get('c2')!,
      token: mintBufferToken({ secret: secrets.get('c2')!, bs: 'bs-c2', streams: ['counts'], access: 'subscribe', container: 'c4', owner: 'test', now: Date.now(), ttlMs: 600_000 }),
      stream: 'counts',
      subscriber: 'test-reader',
      window: 1,
      onBegin: () => undefined,
      onData: (_w, tuples) => {
        for (const t of tuples as { w: number; counts: Record<string, number> }[]) perWindow.set(t.w, t.counts);
      },
      onEnd: (w) => {
        done = w;
      },
    });
    try {
      await until('counter past the last generated window', () => done > config.windows);
    } finally {
      await sub.close();
    }
    const mod = (await import(pathToFileURL(appModule).href)) as { wordsOf(c: typeof config, w: number): string[] };
    const filter = partitionFilter(0, 2);
    const expected: Record<string, number> = {};
    let expectedTuples = 0;
    for (let w = 1; w <= config.windows; w++) {
      for (const word of mod.wordsOf(config, w)) {
        if (!matchesPartition(partitionValue(word, (t) => hashString(t as string)), filter)) continue;
        expected[word] = (expected[word] ?? 0) + 1;
        expectedTuples++;
      }
    }
    const actual: Record<string, number> = {};
    for (const counts of perWindow.values()) for (const [word, n] of Object.entries(counts)) actual[word] = (actual[word] ?? 0) + n;
    expect(actual).toEqual(expected);
    const hb = await until('c2 heartbeat after the last window', () => [...stram.heartbeats].reverse().find((h) => h.container === 'c2' && (h.operators[0]?.window ?? 0) > config.windows));
    expect(hb.operators[0]!.tuplesIn).toBe(expectedTuples);
    expectedPartitionTuples = expectedTuples;
    expect(expectedTuples).toBeGreaterThan(0);
    expect(expectedTuples).toBeLessThan(config.windows * config.tuplesPerWindow);
  });

  it("reserves the subscriber names of its deploy at its buffer server: another container's token is refused 4403 under a name nobody used yet, and reported", async () => {
    // counter#1 (container c3) is not running in this test: nobody has subscribed under its name.
    const taker = connectSubscriber({
      url: urls.get('c1')!,
      token: mintBufferToken({ secret: secrets.get('c1')!, bs: 'bs-c1', streams: ['words'], access: 'subscribe', container: 'c2', owner: 'test', now: Date.now(), ttlMs: 600_000 }),
      stream: 'words',
      subscriber: 'counter#1.words',
      window: 1,
      onBegin: () => undefined,
      onData: () => undefined,
      onEnd: () => undefined,
    });
    const err = await taker.then(
      async (sub) => {
        await sub.close();
        throw new Error('the taker was welcomed');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(err).toMatchObject({ remoteCode: 4403, remoteReason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN: subscriber "counter#1\.words" belongs to another holder: reserved for its container/) });
    await until('c1 reports the refusal', () => stram.heartbeats.find((h) => h.container === 'c1' && (h.takeovers?.refused ?? 0) >= 1));
  });

  it('refuses a heartbeat naming another container', async () => {
    const token = await authority.issue({ owner: 'test', renewer: 'stram', app: APP, container: 'c9' });
    const { socket, session } = await connectAuthenticated(stram.url, token, { role: 'hello', container: 'c9' });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(session.seal({ t: 'heartbeat', container: 'c1', bufferServer: null, state: 'running', operators: [] }));
    expect(await closed).toBe(CloseCode.forbidden);
    expect(stram.heartbeats.some((h) => h.container === 'c9')).toBe(false);
  });


  it('switches to credentials pushed over the umbilical without dropping streams, and leaves STRAM\'s file alone', async () => {
    const fresh = await authority.issue({ owner: 'test', renewer: 'stram', app: APP, container: 'c2' });
    const seq = decodeIdentifier(fresh.identifier).sequenceNumber;
    const path = join(appDir, 'containers', 'c2', 'credentials');
    const onDisk = readFileSync(path, 'utf8');
    stram.pending.get('c2')!.push((session) => ({ c: 'credentials', box: sealCredentials(session.credentialsKey, { stramToken: tokenToText(fresh) }) }));
    // A later max date: the container moves its umbilical to the pushed token as soon as it has it.
    await until('c2 reconnects with the pushed token', () => stram.hellos.some((h) => h.container === 'c2' && h.seq === seq));
    // The pushed token lives in the container's memory; the file is STRAM's to write.
    expect(readFileSync(path, 'utf8')).toBe(onDisk);
    expect(readCredentials(path).stramToken).not.toBe(tokenToText(fresh));
    const windowBefore = lastWindow('c2');
    const hellos = stram.hellos.filter((h) => h.container === 'c2' && h.seq === seq).length;
    stram.drop('c2');
    await until('c2 reconnects with the pushed token again', () => stram.hellos.filter((h) => h.container === 'c2' && h.seq === seq).length > hellos);
    await until('c2 still processing', () => lastWindow('c2') > windowBefore + 2);
  });

  it('purges committed checkpoints on command', async () => {
    await until('counter checkpoints', () => listCheckpoints('counter#0').length >= 3 && listCheckpoints('counter#0'));
    const committed = listCheckpoints('counter#0')[1]!;
    stram.pending.get('c2')!.push({ c: 'committed', w: committed });
    await until('older checkpoints pruned', () => listCheckpoints('counter#0')[0] === committed);
  });

  it('a replacement container restores its operator from the last checkpoint', async () => {
    const c2 = procs.get('c2')!;
    c2.child.kill('SIGKILL');
    await c2.exited;
    const checkpoint = listCheckpoints('counter#0').at(-1)!;
    const store = new FileCheckpointStore(appDir);
    const before = (await store.load('counter#0', checkpoint)) as { totals: Record<string, number> };
    expect(Object.values(before.totals).reduce((a, b) => a + b, 0)).toBe(expectedPartitionTuples);
    restore.set('counter#0', checkpoint);
    deployed.delete('c2');
    procs.set('c2', launch(await writeContainerCredentials('c2')));
    // Only the replacement can write a later checkpoint; it holds the restored totals.
    const later = await until('replacement checkpoint', () => listCheckpoints('counter#0').find((w) => w > checkpoint));
    expect(await store.load('counter#0', later)).toEqual(before);
    const hb = await until('replacement heartbeat', () => stram.heartbeats.find((h) => h.container === 'c2' && (h.operators[0]?.checkpoint ?? 0) > checkpoint));
    expect(hb.state).toBe('running');
  });

  it('tears down and exits 0 on a shutdown command', async () => {
    stram.pending.get('c1')!.push({ c: 'shutdown', reason: 'test' });
    expect(await procs.get('c1')!.exited).toBe(0);
  });

  it('stops its operators and exits non-zero when STRAM is gone past the heartbeat timeout', async () => {
    await stram.close();
    expect(await procs.get('c2')!.exited).toBe(3);
    // Buffer servers were closed: their spool directories are gone.
    const spool = join(appDir, 'spool');
    for (const c of ['c1', 'c2']) {
      const dir = join(spool, c);
      expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    }
    expect(procs.get('c2')!.stderr.join('')).not.toContain(secrets.get('c2')!.toString('hex'));
  });
});


describe('a container whose operator fails', () => {
  it('reports the error with its stack in a heartbeat, stops and exits 4', async () => {
    const failingApp = join(repo, 'packages', 'container', 'dist', 'fixtures', 'failing-app.js');
    const appDir = mkdtempSync(join(tmpdir(), 'sluice-failing-'));
    const authority = await StramSecretManager.open({ app: 'failing', stateDir: null, logger: silent });
    const stram = await startTestStram(authority, 'failing');
    let proc: Proc | undefined;
    try {
      const plan = planApp(validateApp(appFromModule(await import(pathToFileURL(failingApp).href))));
      let sent = false;
      stram.onHeartbeat = (hb) => {
        if (sent || !hb.bufferServer) return;
        sent = true;
        stram.pending.set('c1', [{ c: 'deploy', operators: deployFor(plan, 'c1', new Map()) }]);
      };
      const credentials: Credentials = {
        version: 1,
        app: 'failing',
        container: 'c1',
        stram: stram.url,
        stramToken: tokenToText(await authority.issue({ owner: 'test', renewer: 'stram', app: 'failing', container: 'c1' })),
        bufferServer: { id: 'bs-c1', secret: generateSecret().toString('hex') },
        subscribe: {},
        appModule: failingApp,
        appDir,
        settings: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 5_000, windowMs: 20, checkpointWindows: 100, insecure: false },
      };
      const path = join(appDir, 'containers', 'c1', 'credentials');
      writeCredentials(path, credentials);
      proc = launch(path);
      expect(await proc.exited).toBe(4);
      const reported = stram.heartbeats.flatMap((h) => h.errors ?? []);
      expect(reported).toContain('operator flaky#0 failed: boom in window 3');
      // The failure with its stack, which names the line of the app module that threw.
      const failures = stram.heartbeats.flatMap((h) => h.failures ?? []);
      expect(failures[0]).toEqual({ operator: 'flaky#0', message: 'Error: boom in window 3', stack: expect.stringContaining('failing-app.js'), at: expect.any(Number) });
      expect(failures[0]!.stack).toMatch(/^Error: boom in window 3\n\s+at /);
      expect(stram.heartbeats.at(-1)!.state).toBe('stopping');
    } finally {
      if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await stram.close();
      await authority.close();
      rmSync(appDir, { recursive: true, force: true });
    }
  });
});

describe('a container whose teardown does not finish', () => {
  it('exits with the code it stopped for once the stop grace is over, not 0 when its event loop drains', async () => {
    // Fault injection at the one boundary a real run cannot be made to hit on purpose: the
    // container's own buffer server is real, but its close() never settles (as a close waiting on
    // a peer that never answers would). The container runs in this process so the hang can be set.
    const appDir = mkdtempSync(join(tmpdir(), 'sluice-stuck-'));
    const authority = await StramSecretManager.open({ app: APP, stateDir: null, logger: silent });
    const stram = await startTestStram(authority);
    const servers: BufferServer[] = [];
    try {
      const credentials: Credentials = {
        version: 1,
        app: APP,
        container: 'c1',
        stram: stram.url,
        stramToken: tokenToText(await authority.issue({ owner: 'test', renewer: 'stram', app: APP, container: 'c1' })),
        bufferServer: { id: 'bs-c1', secret: generateSecret().toString('hex') },
        subscribe: {},
        appModule,
        appDir,
        config,
        settings: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 5_000, windowMs: 20, checkpointWindows: 100, insecure: false },
      };
      const path = join(appDir, 'containers', 'c1', 'credentials');
      writeCredentials(path, credentials);
      let exited!: (code: number) => void;
      const exit = new Promise<number>((r) => (exited = r));
      const container = new Container({
        credentialsPath: path,
        credentials,
        logger: silent,
        stopGraceMs: 300,
        exit: (code) => exited(code),
        dataPlane: {
          startBufferServer: async (o) => {
            const real = await startBufferServer(o);
            servers.push(real);
            return new Proxy(real, { get: (target, key) => (key === 'close' ? () => new Promise<void>(() => undefined) : Reflect.get(target, key, target)) });
          },
          connectPublisher,
          connectSubscriber,
        },
      });
      await container.start();
      await until('a heartbeat with its buffer server', () => stram.heartbeats.find((h) => h.container === 'c1' && h.bufferServer));
      void container.stop(ExitCode.stramRefused, 'test: refused');
      expect(await exit).toBe(ExitCode.stramRefused);
    } finally {
      for (const s of servers) await s.close();
      await stram.close();
      await authority.close();
      rmSync(appDir, { recursive: true, force: true });
    }
  });
});
