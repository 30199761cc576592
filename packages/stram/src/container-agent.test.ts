import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, SluiceError, generateSecret, mintBufferToken, openCredentials, readCredentials, tokenToText, type Command, type Credentials, type HeartbeatMessage } from '@sluice/common';
import { ContainerAgent } from './container-agent.js';
import { ContainerState, type ContainerRecord } from './container-table.js';
import { FailureLog } from './failure-log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A token whose identifier carries `seq` (its kind does not matter to the agent). */
const token = (seq: number) => tokenToText(mintBufferToken({ secret: Buffer.alloc(32, 1), bs: 'bs-c1', streams: ['s'], access: 'subscribe', owner: 'alice', now: 1_795_000_000_000, ttlMs: 60_000, sequenceNumber: seq }));

function credentials(seq: number): Credentials {
  return {
    version: 1,
    app: 'app-1',
    container: 'c1',
    stram: 'ws://127.0.0.1:1',
    stramToken: token(seq),
    bufferServer: { id: 'bs-c1', secret: generateSecret().toString('hex') },
    subscribe: {},
    appModule: '/app.js',
    appDir: '/app',
    settings: { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 30000, windowMs: 500, checkpointWindows: 60, insecure: false },
  };
}

function record(): ContainerRecord {
  return { id: 'c1', bufferServer: 'bs-c1', operators: ['gen#0'], state: ContainerState.launching, process: undefined, exit: undefined, launchedAt: 0, lastHeartbeatAt: undefined, heartbeats: 0, bufferServerUrl: null, reportedState: undefined, stats: new Map(), errors: [], failures: new FailureLog(), restartAt: undefined, counters: {}, deployed: false, committedSent: 0, restarts: 0, requestedRestarts: 0, lastRestart: undefined, restore: 0, announce: false, adopted: false };
}

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-agent-'));
  dirs.push(dir);
  const path = join(dir, 'containers', 'c1', 'credentials');
  const agent = ContainerAgent.launching(record(), path, credentials(1));
  const key = new Uint8Array(32).fill(9);
  const conn = () => ({ session: { credentialsKey: key } });
  /** A heartbeat from a container that has applied revision `applied` of its credentials. */
  const hb = (applied = 0, fields: Partial<HeartbeatMessage> = {}): HeartbeatMessage => ({ t: 'heartbeat', container: 'c1', bufferServer: null, state: 'running', operators: [], credentialsRevision: applied, ...fields });
  const pushed = (commands: Command[]) => commands.filter((c) => c.c === 'credentials').map((c) => openCredentials(key, (c as { box: Uint8Array }).box) as Partial<Credentials>);
  return { agent, path, conn, hb, pushed };
}

describe('container agent', () => {
  it('writes every change through to its 0600 file and pushes it once, sealed with its revision, ahead of the outbox', () => {
    const { agent, path, conn, hb, pushed } = setup();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const c = conn();
    const launched = agent.held;
    agent.change({ subscribe: { 'bs-c0': token(7) } });
    const revision = agent.change({ stramToken: token(2) });
    agent.send({ c: 'committed', w: 10 });
    expect(readCredentials(path)).toMatchObject({ stramToken: token(2), subscribe: { 'bs-c0': token(7) }, revision });
    agent.heartbeat(hb(launched), c, 1);
    const ack = agent.drain(c);
    expect(ack.map((x) => x.c)).toEqual(['credentials', 'committed']);
    expect(pushed(ack)).toEqual([{ subscribe: { 'bs-c0': token(7) }, stramToken: token(2), revision }]);
    agent.heartbeat(hb(revision), c, 2);
    expect(agent.drain(c)).toEqual([]);
  });

  it('counts a push as held only once a heartbeat reports its revision: one queued behind a slow command is not held yet', () => {
    const { agent, conn, hb } = setup();
    const c = conn();
    const launched = agent.held;
    const revision = agent.change({ subscribe: { 'bs-c0': token(7) } });
    agent.heartbeat(hb(launched), c, 1);
    agent.drain(c);
    expect([agent.sent, agent.held]).toEqual([revision, launched]);
    // The container is still busy with an earlier deploy: the push waits in its command queue.
    agent.heartbeat(hb(launched), c, 2);
    agent.heartbeat(hb(launched), c, 3);
    expect(agent.held).toBe(launched);
    expect(agent.drain(c)).toEqual([]); // same connection: not lost, just not applied yet
    agent.heartbeat(hb(revision), c, 4);
    expect(agent.held).toBe(revision);
  });

  it('never counts more than was sent, whatever a heartbeat claims', () => {
    const { agent, conn, hb } = setup();
    const c = conn();
    const launched = agent.held;
    agent.heartbeat(hb(launched), c, 0); // the process has spoken: what is written now reaches it only by push
    agent.change({ subscribe: { 'bs-c0': token(7) } }); // written, not pushed yet
    agent.heartbeat(hb(launched + 100), c, 1);
    expect(agent.held).toBe(launched);
  });

  it('pushes again when a heartbeat on another connection has not applied it: the ack may have been lost with its connection', () => {
    const { agent, conn, hb, pushed } = setup();
    const first = conn();
    const launched = agent.held;
    agent.change({ subscribe: { 'bs-c0': token(7) } });
    agent.heartbeat(hb(launched), first, 1);
    agent.drain(first);
    const second = conn();
    agent.heartbeat(hb(launched), second, 2);
    expect(agent.held).toBeLessThan(agent.sent);
    const again = pushed(agent.drain(second));
    expect(again).toEqual([{ subscribe: { 'bs-c0': token(7) }, revision: agent.sent }]);
    agent.heartbeat(hb(agent.sent), second, 3);
    expect(agent.held).toBe(agent.sent);
  });

  it('counts a push applied before its connection dropped as held from a heartbeat on the next one', () => {
    const { agent, conn, hb } = setup();
    const old = conn();
    const revision = agent.change({ stramToken: token(2) });
    agent.heartbeat(hb(agent.held), old, 1);
    agent.drain(old);
    agent.heartbeat(hb(revision), conn(), 2); // the container moved its umbilical to the pushed token
    expect(agent.held).toBe(revision);
    expect(agent.drain(conn())).toEqual([]);
  });

  it('changes the file without a push for what the container learns otherwise', () => {
    const { agent, path, conn, hb } = setup();
    agent.note({ stram: 'ws://127.0.0.1:2' });
    expect(readCredentials(path).stram).toBe('ws://127.0.0.1:2');
    const c = conn();
    agent.heartbeat(hb(agent.held), c, 1);
    expect(agent.drain(c)).toEqual([]);
  });

  it('refuses a heartbeat that reports another container\'s operators (OUT_OF_SCOPE, 4403) and records none of it', () => {
    const { agent, conn, hb } = setup();
    const stats = { id: 'count#0', window: 5, tuplesIn: 1, tuplesOut: 1, latencyMs: 1, checkpoint: 1_000 };
    let refused: unknown;
    try {
      agent.heartbeat(hb(0, { operators: [stats], bufferServer: 'ws://127.0.0.1:9' }), conn(), 1);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(SluiceError);
    expect(refused).toMatchObject({ code: 'OUT_OF_SCOPE', closeCode: CloseCode.forbidden });
    expect(agent.record).toMatchObject({ heartbeats: 0, bufferServerUrl: null, stats: new Map() });
  });

  it('starts a new process from a fresh file: nothing in flight, nothing queued', () => {
    const { agent, path, conn, hb } = setup();
    agent.change({ subscribe: { 'bs-c0': token(7) } });
    agent.send({ c: 'committed', w: 10 });
    const fresh = credentials(3);
    agent.restart(fresh);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ ...fresh, revision: agent.sent });
    expect(agent.held).toBe(agent.sent);
    const c = conn();
    agent.heartbeat(hb(agent.sent), c, 1);
    expect(agent.drain(c)).toEqual([]);
  });

  it('after a STRAM restart pushes again everything the file holds, since what reached the container is unknown', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-agent-'));
    dirs.push(dir);
    const held = { ...credentials(4), revision: 41 };
    const path = join(dir, 'credentials');
    const agent = ContainerAgent.adopted(record(), path, held);
    agent.resendAll();
    // Revisions go on from the file's: the push comes after anything the previous STRAM sent.
    expect(readCredentials(path).revision).toBe(42);
    const key = new Uint8Array(32).fill(9);
    const c = { session: { credentialsKey: key } };
    agent.heartbeat({ t: 'heartbeat', container: 'c1', bufferServer: null, state: 'running', operators: [], credentialsRevision: 41 }, c, 1);
    expect(agent.held).toBe(41);
    const [push] = agent.drain(c);
    expect(openCredentials(key, (push as { box: Uint8Array }).box)).toEqual({ stram: held.stram, stramToken: held.stramToken, bufferServer: held.bufferServer, subscribe: held.subscribe, revision: 42 });
  });

  it('a recovered STRAM pushes the store credentials it issued to an adopted container with the rest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-agent-'));
    dirs.push(dir);
    const old = { postgres: { user: 'app_g1', password: 'old' } };
    const path = join(dir, 'credentials');
    const agent = ContainerAgent.adopted(record(), path, { ...credentials(4), stores: old, revision: 7 });
    const issued = { postgres: { user: 'app_g2', password: 'new' } };
    agent.note({ stores: issued });
    agent.resendAll();
    const key = new Uint8Array(32).fill(3);
    const c = { session: { credentialsKey: key } };
    const [push] = agent.drain(c);
    expect(openCredentials(key, (push as { box: Uint8Array }).box)).toMatchObject({ stores: issued, revision: 8 });
    expect(readCredentials(path).stores).toEqual(issued);
  });
});
