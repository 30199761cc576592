import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT, generateKeyPair } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '@sluice/common';
import { GatewayRefusal, RefusalCode } from './api.js';
import { KEYS_FILE } from './session-keys.js';
import { SESSION_AUDIENCE, SESSION_ISSUER, WebSessions, csrfMatches } from './web-session.js';

const MIN = 60_000;

describe('web sessions', () => {
  const dirs: string[] = [];
  const open = async (clock: ManualClock, dir = newDir(), o: { ttl?: number; roll?: number } = {}) => ({
    dir,
    sessions: await WebSessions.open({ stateDir: dir, clock, tokenTtlMs: o.ttl ?? 10 * MIN, keyRollMs: o.roll ?? 60 * MIN }),
  });
  const newDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'sluice-gw-sessions-'));
    dirs.push(d);
    return d;
  };
  const refusal = async (p: Promise<unknown>): Promise<GatewayRefusal> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayRefusal);
    return err as GatewayRefusal;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('issues a token that verifies to its principal and binds the CSRF token it returns', async () => {
    const clock = new ManualClock();
    const { sessions } = await open(clock);
    const login = await sessions.issue('alice@EXAMPLE.TEST');
    expect(login.expiresAt).toBe(clock.now() + 10 * MIN);
    const session = await sessions.verify(login.token);
    expect(session.principal).toBe('alice@EXAMPLE.TEST');
    expect(csrfMatches(session, login.csrfToken)).toBe(true);
    expect(csrfMatches(session, (await sessions.issue('alice@EXAMPLE.TEST')).csrfToken)).toBe(false);
    expect(csrfMatches(session, undefined)).toBe(false);
  });

  it('refuses an expired token with TOKEN_EXPIRED', async () => {
    const clock = new ManualClock();
    const { sessions } = await open(clock);
    const { token } = await sessions.issue('alice@EXAMPLE.TEST');
    clock.advance(10 * MIN + 1_000);
    const r = await refusal(sessions.verify(token));
    expect([r.status, r.code]).toEqual([401, RefusalCode.tokenExpired]);
  });

  it('refuses a token signed by another key with BAD_SIGNATURE, kid of ours or not', async () => {
    const clock = new ManualClock();
    const { sessions } = await open(clock);
    const other = await open(clock);
    const foreign = (await other.sessions.issue('alice@EXAMPLE.TEST')).token;
    expect((await refusal(sessions.verify(foreign))).code).toBe(RefusalCode.badSignature);
    // Our kid on a token signed with someone else's key.
    const ours = (await sessions.issue('alice@EXAMPLE.TEST')).token;
    const kid = JSON.parse(Buffer.from(ours.split('.')[0]!, 'base64url').toString()).kid as string;
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ csrf: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(SESSION_ISSUER)
      .setAudience(SESSION_AUDIENCE)
      .setSubject('mallory@EXAMPLE.TEST')
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await refusal(sessions.verify(forged))).code).toBe(RefusalCode.badSignature);
    // An altered payload under our own signature.
    const [h, , s] = ours.split('.');
    const payload = Buffer.from(JSON.stringify({ sub: 'mallory@EXAMPLE.TEST', iss: SESSION_ISSUER, aud: SESSION_AUDIENCE, exp: 9e9, csrf: 'x' })).toString('base64url');
    expect((await refusal(sessions.verify(`${h}.${payload}.${s}`))).code).toBe(RefusalCode.badSignature);
  });

  it('refuses alg none, another algorithm and garbage with BAD_TOKEN', async () => {
    const { sessions } = await open(new ManualClock());
    const none = new UnsecuredJWT({ csrf: 'x' }).setIssuer(SESSION_ISSUER).setAudience(SESSION_AUDIENCE).setSubject('alice@EXAMPLE.TEST').setExpirationTime('5m').encode();
    const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice@EXAMPLE.TEST').sign(new Uint8Array(32));
    for (const token of [none, hs, 'garbage', '', 'a.b.c', `${'x'.repeat(5000)}`]) {
      const r = await refusal(sessions.verify(token));
      expect([r.status, r.code]).toEqual([401, RefusalCode.badToken]);
    }
  });

  it('rolls its key, still verifying the old key until its tokens have expired, then dropping it', async () => {
    const clock = new ManualClock();
    const { sessions } = await open(clock, undefined, { ttl: 10 * MIN, roll: 30 * MIN });
    const first = (await sessions.issue('alice@EXAMPLE.TEST')).token;
    clock.advance(31 * MIN);
    const second = (await sessions.issue('alice@EXAMPLE.TEST')).token; // signed by a new key
    const kid = (t: string) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).kid as string;
    expect(kid(second)).not.toBe(kid(first));
    expect((await sessions.verify(second)).principal).toBe('alice@EXAMPLE.TEST');
    // The first key is kept while a token it signed could still be live, and dropped after.
    clock.advance(11 * MIN);
    await sessions.issue('bob@EXAMPLE.TEST');
    expect((await refusal(sessions.verify(first))).code).toBe(RefusalCode.badSignature);
  });

  it('rolls once when many logins find the key due at the same moment', async () => {
    const clock = new ManualClock();
    const { dir, sessions } = await open(clock, undefined, { ttl: 10 * MIN, roll: 30 * MIN });
    clock.advance(31 * MIN);
    const tokens = await Promise.all(Array.from({ length: 5 }, () => sessions.issue('alice@EXAMPLE.TEST')));
    const kids = new Set(tokens.map((t) => JSON.parse(Buffer.from(t.token.split('.')[0]!, 'base64url').toString()).kid as string));
    expect(kids.size).toBe(1);
    const stored = JSON.parse(readFileSync(join(dir, KEYS_FILE), 'utf8')) as { keys: { retiredAt?: number }[] };
    expect(stored.keys.map((k) => k.retiredAt === undefined)).toEqual([false, true]);
  });

  it('keeps its keys 0600 in the state dir: a restarted gateway accepts the tokens it issued', async () => {
    const clock = new ManualClock();
    const { dir, sessions } = await open(clock);
    const { token } = await sessions.issue('alice@EXAMPLE.TEST');
    expect(statSync(join(dir, KEYS_FILE)).mode & 0o777).toBe(0o600);
    const restarted = await open(clock, dir);
    expect((await restarted.sessions.verify(token)).principal).toBe('alice@EXAMPLE.TEST');
  });
});
