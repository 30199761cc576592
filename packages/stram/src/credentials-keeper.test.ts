import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, SluiceError, StramSecretManager, bufferTokenPassword, createLogger, decodeIdentifier, openCredentials, readCredentials, tokenFromText, type Command, type Credentials, type Token } from '@sluice/common';
import { AgentTable } from './agent-table.js';
import { AppDir } from './app-dir.js';
import { StramAuthority } from './authority.js';
import { ContainerAgent } from './container-agent.js';
import { newRecord } from './container-table.js';
import { CredentialsIssuer } from './credentials-issuer.js';
import { CredentialsKeeper } from './credentials-keeper.js';
import { StramMetrics } from './metrics.js';
import { adoptedSecrets } from './recover.js';
import { planModule } from './stram.js';
import { writeTestApp } from './testing/index.js';

const S = 1_000;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/**
 * A keeper over a real in-memory secret manager on a ManualClock, with one agent per container
 * of the pipeline test app; `down` makes renew() fail (the store is unavailable). `beat(id)` is a
 * heartbeat from container `id` on its one connection: the keeper sees it, the agent's outbox
 * drains into the ack's commands.
 */
async function setup() {
  const root = mkdtempSync(join(tmpdir(), 'sluice-keeper-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const clock = new ManualClock();
  const manager = await StramSecretManager.open({ app: 'app-1', stateDir: null, clock, renewIntervalMs: 3 * S, maxLifetimeMs: 10 * S, keyUpdateIntervalMs: 4 * S });
  const dir = new AppDir(join(root, 'app'));
  dir.create();
  const plan = await planModule(writeTestApp(root, 'pipeline'));
  const authorityOptions = { app: 'app-1', tokens: manager, clock, owner: 'alice', realUser: '', bufferTokenTtlMs: 10 * S, insecure: false };
  const authority = new StramAuthority(authorityOptions);
  const metrics = new StramMetrics();
  const store = { down: false, calls: 0 };
  const issuerFor = (a: StramAuthority) => new CredentialsIssuer(plan, a, { app: 'app-1', stramUrl: 'ws://127.0.0.1:1', appModule: '/app.js', appDir: dir.root, config: {}, settings: { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 30000, windowMs: 500, checkpointWindows: 60, insecure: false } });
  const issuer = issuerFor(authority);
  const key = new Uint8Array(32);
  /** A keeper over `list`, and `beat(id)` for its containers, each applying every push as soon as its ack arrives. */
  const keeperOver = (list: ContainerAgent[], a: StramAuthority, m: StramMetrics) => {
    const agents = new AgentTable(plan, list);
    const keeper = new CredentialsKeeper({
      agents,
      issuer: issuerFor(a),
      authority: a,
      clock,
      metrics: m,
      logger: createLogger({ name: 'keeper-test', level: 'silent' }),
      renew: async (token: Token, renewer: string) => {
        store.calls++;
        if (store.down) throw new SluiceError('CONNECTION_CLOSED', 'token store unavailable');
        return manager.renew(token, renewer);
      },
      random: () => 0.5,
    });
    cleanups.push(() => void keeper.cancelAll());
    const channels = new Map(plan.containers.map((c) => [c.id, { session: { credentialsKey: key } }]));
    const applied = new Map(plan.containers.map((c) => [c.id, readCredentials(dir.credentials(c.id)).revision ?? 0]));
    const beat = (id: string): Command[] => {
      const agent = agents.get(id)!;
      const channel = channels.get(id)!;
      agent.heartbeat({ t: 'heartbeat', container: id, bufferServer: null, state: 'running', operators: [], credentialsRevision: applied.get(id)! }, channel, clock.now());
      keeper.onHeartbeat(agent);
      const commands = agent.drain(channel);
      for (const c of commands) if (c.c === 'credentials') applied.set(id, (openCredentials(key, c.box) as Credentials).revision ?? 0);
      return commands;
    };
    return { keeper, beat };
  };
  const list: ContainerAgent[] = [];
  for (const c of plan.containers) list.push(ContainerAgent.launching(newRecord(plan, c.id, clock.now()), dir.credentials(c.id), (await issuer.issue(c.id)).credentials));
  const { keeper, beat } = keeperOver(list, authority, metrics);
  /**
   * A STRAM restart as recover.ts does it: a new authority over the same token store, the
   * secrets and agents taken over from the credentials files, everything pushed again.
   */
  const recovered = () => {
    const a = new StramAuthority(authorityOptions);
    const adopted = plan.containers.map((c) => {
      const held = readCredentials(dir.credentials(c.id));
      a.adoptSecret(c.bufferServer, ...adoptedSecrets(held));
      const agent = ContainerAgent.adopted(newRecord(plan, c.id, clock.now()), dir.credentials(c.id), held);
      agent.resendAll();
      return agent;
    });
    const m = new StramMetrics();
    return { ...keeperOver(adopted, a, m), metrics: m };
  };
  /** Moves the clock to the next due action of container `id` and runs it. */
  const step = async (id = 'c1') => {
    clock.set(Date.parse(keeper.statusOf(id)!.next!.at));
    await keeper.tick();
  };
  const rotations = async (id: string, m = metrics, name = 'sluice_secret_rotations_total') => {
    const line = (await m.text()).split('\n').find((l) => l.startsWith(`${name}{container="${id}"} `));
    return line ? Number(line.split(' ')[1]) : 0;
  };
  return { clock, keeper, manager, metrics, store, dir, step, plan, beat, key, rotations, recovered };
}

describe('credentials keeper', () => {
  it('renews at 75% of the renew interval and reissues before max date, pushing the new tokens once', async () => {
    const { clock, keeper, manager, dir, step, beat } = await setup();
    keeper.start(); // statusOf shows the next action only while running
    const t0 = clock.now();
    const first = readCredentials(dir.credentials('c2'));
    await step('c2');
    expect(clock.now() - t0).toBe(2_250);
    expect(keeper.statusOf('c2')).toMatchObject({ renewals: 1, reissues: 0 });
    expect(keeper.expiryOf('c2')).toBe(t0 + 2_250 + 3 * S);
    while (keeper.statusOf('c2')!.reissues === 0) await step('c2');
    expect(clock.now() - t0).toBe(7_500);
    const second = readCredentials(dir.credentials('c2'));
    expect(second.stramToken).not.toBe(first.stramToken);
    expect(second.subscribe).not.toEqual(first.subscribe);
    expect(beat('c2').map((c) => c.c)).toEqual(['credentials']);
    expect(beat('c2')).toEqual([]); // pushed once; this heartbeat proves delivery
    await new Promise((r) => setImmediate(r));
    expect(manager.cancelledCount).toBe(1); // the replaced token
  });

  it('keeps a reissued token valid while the process has not spoken: a slow start may have read it from the file', async () => {
    const { keeper, manager, dir, step, beat } = await setup();
    keeper.start();
    // c2's process is slow to start: STRAM reissues before its first heartbeat, and the process
    // reads its file only then, holding the reissued token, never pushed to it.
    while (keeper.statusOf('c2')!.reissues === 0) await step('c2');
    const read = tokenFromText(readCredentials(dir.credentials('c2')).stramToken);
    while (keeper.statusOf('c2')!.reissues === 1) await step('c2');
    await new Promise((r) => setImmediate(r));
    // Cancelled here, it was refused 4401 TOKEN_CANCELLED when the process connected (and exited 5).
    expect(() => manager.checkLive(decodeIdentifier(read.identifier))).not.toThrow();
    beat('c2'); // the first heartbeat (the revision of the launch): pushes go out now
    await new Promise((r) => setImmediate(r));
    expect(() => manager.checkLive(decodeIdentifier(read.identifier))).not.toThrow();
  });

  it('retries a failed renewal with backoff capped at a third of the validity left, reports it, and recovers', async () => {
    const { clock, keeper, metrics, store, step } = await setup();
    keeper.start();
    const t0 = clock.now();
    store.down = true;
    await step(); // due at 2.25 s: 750 ms of validity left
    const waits: number[] = [];
    let last = clock.now();
    for (let i = 0; i < 4; i++) {
      await step();
      waits.push(clock.now() - last);
      last = clock.now();
    }
    // A third of what is left each time (the 1 s initial backoff is larger): 250, 166, 111, 74 ms.
    expect(waits).toEqual([250, 166, 111, 74]);
    expect(keeper.statusOf('c1')).toMatchObject({ renewals: 0, failures: 5, consecutiveFailures: 5, lastError: 'renew failed: token store unavailable', next: { action: 'renew' } });
    expect(keeper.totals()).toMatchObject({ failing: 4 });
    expect(await metrics.text()).toMatch(/sluice_token_renewals_total\{result="failure"\} \d+/);
    store.down = false;
    await step();
    expect(keeper.statusOf('c1')).toMatchObject({ renewals: 1, failures: 5, consecutiveFailures: 0, lastError: null });
    expect(keeper.expiryOf('c1')).toBeGreaterThan(t0 + 3 * S);
  });

  it('reissues a token whose renewal expiry passed while the store was down', async () => {
    const { clock, keeper, store, step, beat } = await setup();
    keeper.start();
    const t0 = clock.now();
    store.down = true;
    clock.set(t0 + 3 * S + 1); // past the renewal expiry without a renewal
    const calls = store.calls;
    await keeper.tick();
    expect(store.calls).toBe(calls); // renew() would refuse it: not even tried
    expect(keeper.statusOf('c1')).toMatchObject({ reissues: 1, consecutiveFailures: 0 });
    expect(beat('c1')).toHaveLength(1);
    store.down = false;
    await step();
    expect(keeper.statusOf('c1')!.failures).toBe(0);
    expect(keeper.statusOf('c1')!.next!.action).toBe('renew');
  });

  it('rotates a buffer-server secret at reissue: owner first, then downstream subscribe tokens, then the old secret is retired', async () => {
    const { keeper, dir, step, plan, beat, key, rotations } = await setup();
    keeper.start();
    const first = readCredentials(dir.credentials('c1'));
    const bs = first.bufferServer.id;
    const downstream = plan.containers.map((c) => c.id).filter((id) => readCredentials(dir.credentials(id)).subscribe[bs] !== undefined);
    expect(downstream.length).toBeGreaterThan(0);
    /** Does this subscribe token verify under that secret (hex)? */
    const mintedFrom = (text: string, secret: string) => {
      const t = tokenFromText(text);
      return bufferTokenPassword(Buffer.from(secret, 'hex'), t.identifier).password.equals(Buffer.from(t.password));
    };
    const opened = (cmds: Command[]) => cmds.filter((c) => c.c === 'credentials').map((c) => openCredentials(key, (c as { box: Uint8Array }).box) as Partial<Credentials>);
    const all = () => plan.containers.map((c) => c.id);

    while (keeper.statusOf('c1')!.reissues === 0) await step('c1');
    const rotated = readCredentials(dir.credentials('c1'));
    expect(rotated.bufferServer.secret).not.toBe(first.bufferServer.secret);
    expect(rotated.bufferServer.previous).toEqual([first.bufferServer.secret]);
    // Until the owner has the new secret, downstream tokens are still minted from the old one.
    for (const id of downstream) expect(mintedFrom(readCredentials(dir.credentials(id)).subscribe[bs]!, first.bufferServer.secret)).toBe(true);

    // The push to the owner carries the new secret and keeps the old one accepted.
    const toOwner = opened(beat('c1'));
    expect(toOwner).toHaveLength(1);
    expect(toOwner[0]!.bufferServer).toEqual({ id: bs, secret: rotated.bufferServer.secret, previous: [first.bufferServer.secret] });
    for (const id of all()) if (id !== 'c1') beat(id); // other reissue pushes go out

    // The owner's next heartbeat: downstream subscribe tokens are minted from the new secret.
    expect(opened(beat('c1')).map((c) => c.bufferServer)).toEqual([]);
    for (const id of downstream) {
      expect(mintedFrom(readCredentials(dir.credentials(id)).subscribe[bs]!, rotated.bufferServer.secret)).toBe(true);
      const pushed = opened(beat(id));
      expect(pushed).toHaveLength(1);
      expect(mintedFrom(pushed[0]!.subscribe![bs]!, rotated.bufferServer.secret)).toBe(true);
    }
    expect(await rotations('c1')).toBe(0);
    // Their next heartbeats: the owner is told to retire the old secret (an explicit command, no push).
    for (const id of downstream) beat(id);
    expect(beat('c1')).toEqual([{ c: 'retire-secrets' }]);
    expect(readCredentials(dir.credentials('c1')).bufferServer).toEqual({ id: bs, secret: rotated.bufferServer.secret });
    expect(await rotations('c1')).toBe(1);
  });

  it('keeps one rotation per buffer server: a reissue during one carries it on, the next reissue after it starts another', async () => {
    const { keeper, dir, step, plan, beat } = await setup();
    keeper.start();
    const first = readCredentials(dir.credentials('c1')).bufferServer.secret;
    while (keeper.statusOf('c1')!.reissues === 0) await step('c1');
    const rotating = readCredentials(dir.credentials('c1')).bufferServer;
    // The owner never heartbeats: its next reissue keeps the rotation's pair, no third secret.
    while (keeper.statusOf('c1')!.reissues === 1) await step('c1');
    expect(readCredentials(dir.credentials('c1')).bufferServer).toEqual({ id: rotating.id, secret: rotating.secret, previous: [first] });
    // The owner and then its readers heartbeat: the rotation ends.
    beat('c1');
    beat('c1');
    for (const c of plan.containers) if (c.id !== 'c1') beat(c.id);
    for (const c of plan.containers) if (c.id !== 'c1') beat(c.id);
    expect(beat('c1')).toEqual([{ c: 'retire-secrets' }]);
    while (keeper.statusOf('c1')!.reissues === 2) await step('c1');
    expect(readCredentials(dir.credentials('c1')).bufferServer).toMatchObject({ previous: [rotating.secret] });
    expect(readCredentials(dir.credentials('c1')).bufferServer.secret).not.toBe(rotating.secret);
  });

  it('resumes after a STRAM restart a rotation its predecessor left unfinished: the old secret is retired once downstream holds tokens of the new one', async () => {
    const { keeper, dir, step, plan, key, rotations, recovered } = await setup();
    keeper.start();
    const old = readCredentials(dir.credentials('c1')).bufferServer.secret;
    while (keeper.statusOf('c1')!.reissues === 0) await step('c1');
    const rotating = readCredentials(dir.credentials('c1')).bufferServer;
    expect(rotating.previous).toEqual([old]);
    const bs = rotating.id;
    const downstream = plan.containers.map((c) => c.id).filter((id) => readCredentials(dir.credentials(id)).subscribe[bs] !== undefined);
    expect(downstream.length).toBeGreaterThan(0);
    const mintedFrom = (text: string, secret: string) => {
      const t = tokenFromText(text);
      return bufferTokenPassword(Buffer.from(secret, 'hex'), t.identifier).password.equals(Buffer.from(t.password));
    };
    const opened = (cmds: Command[]) => cmds.filter((c) => c.c === 'credentials').map((c) => openCredentials(key, (c as { box: Uint8Array }).box) as Partial<Credentials>);

    // STRAM dies before the owner heard of the new secret; the recovered one finds it in the file.
    const next = recovered();
    expect(await rotations('c1', next.metrics, 'sluice_secret_rotations_resumed_total')).toBe(1);
    expect(opened(next.beat('c1'))[0]!.bufferServer).toEqual({ id: bs, secret: rotating.secret, previous: [old] });
    for (const id of downstream) {
      // Pushed everything again; their tokens for the owner's server still come from the old secret.
      expect(mintedFrom(opened(next.beat(id))[0]!.subscribe![bs]!, old)).toBe(true);
    }
    expect(next.beat('c1').filter((c) => c.c === 'retire-secrets')).toEqual([]); // the owner holds the new secret now
    for (const id of downstream) {
      const pushed = opened(next.beat(id));
      expect(pushed).toHaveLength(1);
      expect(mintedFrom(pushed[0]!.subscribe![bs]!, rotating.secret)).toBe(true);
    }
    expect(await rotations('c1', next.metrics)).toBe(0);
    for (const id of downstream) next.beat(id);
    expect(next.beat('c1')).toEqual([{ c: 'retire-secrets' }]);
    expect(readCredentials(dir.credentials('c1')).bufferServer).toEqual({ id: bs, secret: rotating.secret });
    expect(await rotations('c1', next.metrics)).toBe(1);
  });

  it('cancels after a STRAM restart the token its predecessor replaced and had not cancelled, once the container holds what the recovered STRAM pushed', async () => {
    const { keeper, manager, dir, step, recovered } = await setup();
    keeper.start();
    const replaced = tokenFromText(readCredentials(dir.credentials('c2')).stramToken);
    while (keeper.statusOf('c2')!.reissues === 0) await step('c2');
    // c2 never heartbeated since: the dead STRAM kept its old token valid (c2 might still hold it).
    expect(() => manager.verify(replaced)).not.toThrow();
    const next = recovered();
    await new Promise((r) => setImmediate(r));
    expect(() => manager.verify(replaced)).not.toThrow();
    next.beat('c2'); // carries the push of everything
    next.beat('c2'); // reports it applied
    await new Promise((r) => setImmediate(r));
    expect(() => manager.verify(replaced)).toThrow(expect.objectContaining({ code: 'TOKEN_CANCELLED' }));
    // The token the file names is the one c2 goes on with.
    expect(() => manager.verify(tokenFromText(readCredentials(dir.credentials('c2')).stramToken))).not.toThrow();
  });

  it('cancels at shutdown after a STRAM restart the replaced tokens nobody confirmed', async () => {
    const { keeper, manager, dir, step, recovered } = await setup();
    keeper.start();
    const replaced = tokenFromText(readCredentials(dir.credentials('c2')).stramToken);
    while (keeper.statusOf('c2')!.reissues === 0) await step('c2');
    await recovered().keeper.cancelAll();
    expect(() => manager.verify(replaced)).toThrow(expect.objectContaining({ code: 'TOKEN_CANCELLED' }));
  });
});
