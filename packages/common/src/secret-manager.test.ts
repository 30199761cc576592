import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { mintBufferToken } from './buffer-token.js';
import { SluiceError } from './errors.js';
import { StramSecretManager, type SecretManagerOptions } from './secret-manager.js';
import { computePassword, decodeIdentifier, encodeIdentifier, tokenFromText, tokenToText, type Token, type TokenIdentifier } from './token.js';
import { codeOf } from './test-support.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function codeOfAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SluiceError) return err.code;
    throw err;
  }
  return undefined;
}

const req = { owner: 'alice', renewer: 'stram', app: 'app-1', container: 'c-1' };

let dir: string;
let clock: ManualClock;
const opened: StramSecretManager[] = [];

async function openManager(extra: Partial<SecretManagerOptions> = {}): Promise<StramSecretManager> {
  const m = await StramSecretManager.open({ app: req.app, stateDir: join(dir, 'stram'), clock, ...extra });
  opened.push(m);
  return m;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-sm-'));
  clock = new ManualClock();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((m) => m.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** Re-encodes the identifier with one field changed, keeping the original password. */
function tamper(token: Token, change: (id: TokenIdentifier) => void): Token {
  const id = decodeIdentifier(token.identifier);
  change(id);
  return { ...token, identifier: encodeIdentifier(id) };
}

describe('StramSecretManager (Hadoop TestDelegationToken behaviours)', () => {
  it('round-trips every identifier field through the token and its text form', async () => {
    const m = await openManager();
    const t = await m.issue({ ...req, realUser: 'root' });
    const id = decodeIdentifier(t.identifier);
    expect(id).toEqual({
      version: 1,
      kind: 'STRAM_DELEGATION',
      owner: 'alice',
      renewer: 'stram',
      realUser: 'root',
      issueDate: clock.now(),
      maxDate: clock.now() + 7 * DAY,
      sequenceNumber: 1,
      keyId: m.currentKeyId,
      scope: { app: 'app-1', container: 'c-1' },
    });
    expect(t.kind).toBe('STRAM_DELEGATION');
    expect(t.service).toBe('stram:app-1');
    expect(t.password).toHaveLength(32);
    const back = tokenFromText(tokenToText(t));
    expect(Buffer.from(back.identifier).equals(Buffer.from(t.identifier))).toBe(true);
    expect(Buffer.from(back.password).equals(Buffer.from(t.password))).toBe(true);
    expect(back.kind).toBe(t.kind);
    expect(back.service).toBe(t.service);
    expect(m.verify(back)).toEqual(id);
    expect(m.expiryOf(id)).toBe(clock.now() + DAY);
  });

  it('counts tokens up on issue and down on cancel', async () => {
    const m = await openManager();
    expect(m.tokenCount).toBe(0);
    const a = await m.issue(req);
    await m.issue(req);
    expect(m.tokenCount).toBe(2);
    await m.cancel(a, 'alice');
    expect(m.tokenCount).toBe(1);
    expect(m.cancelledCount).toBe(1);
  });

  it('refuses renewal by anyone but the named renewer', async () => {
    const m = await openManager();
    const t = await m.issue(req);
    expect(await codeOfAsync(m.renew(t, 'mallory'))).toBe('RENEWER_MISMATCH');
    expect(await codeOfAsync(m.renew(t, 'alice'))).toBe('RENEWER_MISMATCH');
    const noRenewer = await m.issue({ ...req, renewer: '' });
    expect(await codeOfAsync(m.renew(noRenewer, ''))).toBe('RENEWER_MISMATCH');
    try {
      await m.renew(t, 'mallory');
    } catch (err) {
      expect((err as SluiceError).closeCode).toBe(4403);
    }
  });

  it('renewal extends the expiry but never past the max date', async () => {
    const m = await openManager();
    const t = await m.issue(req);
    const id = decodeIdentifier(t.identifier);
    clock.advance(12 * HOUR);
    expect(await m.renew(t, 'stram')).toBe(clock.now() + DAY);
    expect(m.expiryOf(id)).toBe(clock.now() + DAY);
    // Keep renewing inside the interval until the max date caps the expiry.
    while (clock.now() + DAY < id.maxDate) {
      clock.advance(20 * HOUR);
      const expiry = await m.renew(t, 'stram');
      expect(expiry).toBeLessThanOrEqual(id.maxDate);
    }
    expect(m.expiryOf(id)).toBe(id.maxDate);
    clock.set(id.maxDate);
    expect(m.verify(t).sequenceNumber).toBe(id.sequenceNumber);
    clock.advance(1);
    expect(codeOf(() => m.verify(t))).toBe('TOKEN_EXPIRED');
    expect(await codeOfAsync(m.renew(t, 'stram'))).toBe('TOKEN_EXPIRED');
  });

  it('expires a token that is not renewed within the renew interval, and will not renew it', async () => {
    const m = await openManager();
    const t = await m.issue(req);
    clock.advance(DAY);
    m.verify(t);
    clock.advance(1);
    expect(codeOf(() => m.verify(t))).toBe('TOKEN_EXPIRED');
    expect(await codeOfAsync(m.renew(t, 'stram'))).toBe('TOKEN_EXPIRED');
    try {
      m.verify(t);
    } catch (err) {
      expect((err as SluiceError).closeCode).toBe(4401);
    }
  });

  it('refuses cancellation by a stranger and allows it by the renewer and by the owner', async () => {
    const m = await openManager();
    const a = await m.issue(req);
    const b = await m.issue(req);
    expect(await codeOfAsync(m.cancel(a, 'mallory'))).toBe('NOT_ALLOWED');
    expect(await codeOfAsync(m.cancel(a, ''))).toBe('NOT_ALLOWED');
    m.verify(a);
    expect((await m.cancel(a, 'stram')).sequenceNumber).toBe(1);
    expect((await m.cancel(b, 'alice')).sequenceNumber).toBe(2);
    expect(await codeOfAsync(m.cancel(b, 'alice'))).toBe('TOKEN_CANCELLED');
  });

  it('a cancelled token fails verify and renew as cancelled until its max date, then the record goes', async () => {
    const m = await openManager();
    const t = await m.issue(req);
    await m.cancel(t, 'stram');
    expect(codeOf(() => m.verify(t))).toBe('TOKEN_CANCELLED');
    expect(await codeOfAsync(m.renew(t, 'stram'))).toBe('TOKEN_CANCELLED');
    clock.advance(3 * DAY); // past the renew interval, before the max date
    await m.removeExpired();
    expect(codeOf(() => m.verify(t))).toBe('TOKEN_CANCELLED');
    expect(m.cancelledCount).toBe(1);
    clock.advance(5 * DAY);
    await m.removeExpired();
    expect(m.cancelledCount).toBe(0);
  });

  it('rolling the master key keeps old tokens valid and removes keys once expired', async () => {
    const m = await openManager();
    const old = await m.issue(req);
    const firstKey = m.currentKeyId;
    await m.rollMasterKey();
    expect(m.currentKeyId).toBe(firstKey + 1);
    expect(m.keyCount).toBe(2);
    const fresh = await m.issue(req);
    expect(decodeIdentifier(fresh.identifier).keyId).toBe(firstKey + 1);
    expect(m.verify(old).keyId).toBe(firstKey);
    await m.removeExpired();
    expect(m.keyCount).toBe(2);
    // The old key stopped signing at the roll; it lives until every token it signed is past max date.
    clock.advance(7 * DAY + 1);
    await m.removeExpired();
    expect(m.keyCount).toBe(1);
    expect(m.tokenCount).toBe(0);
    expect(codeOf(() => m.verify(old))).toBe('TOKEN_UNKNOWN_KEY');
    expect(codeOf(() => m.verify(fresh))).toBe('TOKEN_EXPIRED'); // past max date: expired, record or not
  });

  it('rolls a key that is past its update interval before it signs again', async () => {
    const m = await openManager();
    const first = m.currentKeyId;
    clock.advance(DAY);
    const t = await m.issue(req);
    expect(m.currentKeyId).toBe(first + 1);
    expect(decodeIdentifier(t.identifier).keyId).toBe(first + 1);
  });

  it('tick rolls the key and scans for expired tokens on the injected clock', async () => {
    const m = await openManager({ removalScanIntervalMs: HOUR });
    const t = await m.issue(req);
    const first = m.currentKeyId;
    await m.tick();
    expect(m.currentKeyId).toBe(first);
    expect(m.tokenCount).toBe(1);
    clock.advance(DAY + 1);
    await m.tick();
    expect(m.currentKeyId).toBe(first + 1);
    expect(m.tokenCount).toBe(0);
    expect(codeOf(() => m.verify(t))).toBe('TOKEN_UNKNOWN');
    m.start();
    m.stop();
  });

  it('issues 10,000 tokens concurrently that all verify, with few writes', async () => {
    const m = await openManager();
    const before = m.stateWrites.tokens;
    const tokens = await Promise.all(Array.from({ length: 10_000 }, (_, i) => m.issue({ ...req, container: `c-${i}` })));
    const seqs = new Set(tokens.map((t) => m.verify(t).sequenceNumber));
    expect(seqs.size).toBe(10_000);
    expect(m.tokenCount).toBe(10_000);
    expect(m.stateWrites.tokens - before).toBeLessThanOrEqual(2);
    const reopened = await StramSecretManager.open({ app: req.app, stateDir: join(dir, 'stram'), clock });
    expect(reopened.tokenCount).toBe(10_000);
    expect(reopened.verify(tokens[9_999]!).scope).toEqual({ app: 'app-1', container: 'c-9999' });
  });
});

describe('StramSecretManager refuses what it did not issue', () => {
  it('refuses an identifier re-signed with a random key', async () => {
    const m = await openManager();
    const t = await m.issue(req);
    const forged = { ...t, password: computePassword(randomBytes(32), t.identifier) };
    expect(codeOf(() => m.verify(forged))).toBe('TOKEN_BAD_PASSWORD');
    expect(await codeOfAsync(m.renew(forged, 'stram'))).toBe('TOKEN_BAD_PASSWORD');
    expect(await codeOfAsync(m.cancel(forged, 'alice'))).toBe('TOKEN_BAD_PASSWORD');
    expect(m.tokenCount).toBe(1);
  });

  it('refuses a token of another manager', async () => {
    const m = await openManager();
    const other = await StramSecretManager.open({ app: req.app, stateDir: null, clock });
    const t = await other.issue(req);
    expect(codeOf(() => m.verify(t))).toBe('TOKEN_BAD_PASSWORD');
  });

  it('refuses a token with any identifier field changed', async () => {
    const m = await openManager();
    const t = await m.issue(req);
    await m.rollMasterKey(); // so that keyId + 1 names a key that exists
    const changes: ((id: TokenIdentifier) => void)[] = [
      (id) => (id.owner = 'mallory'),
      (id) => (id.renewer = 'mallory'),
      (id) => (id.realUser = 'root'),
      (id) => (id.issueDate += 1),
      (id) => (id.maxDate += DAY),
      (id) => (id.sequenceNumber += 1),
      (id) => (id.keyId += 1),
      (id) => (id.scope = { app: 'app-1', container: 'c-2' }),
      (id) => (id.scope = { app: 'app-2', container: 'c-1' }),
    ];
    for (const change of changes) {
      expect(codeOf(() => m.verify(tamper(t, change)))).toBe('TOKEN_BAD_PASSWORD');
    }
    expect(codeOf(() => m.verify(tamper(t, (id) => (id.keyId = 99))))).toBe('TOKEN_UNKNOWN_KEY');
    expect(codeOf(() => m.verify(tamper(t, (id) => (id.kind = 'BUFFER_SERVER'))))).toBe('TOKEN_WRONG_KIND');
    expect(codeOf(() => m.verify(tamper(t, (id) => (id.scope = { bs: 'x' }))))).toBe('MALFORMED_TOKEN');
    // A byte flipped in the raw identifier is refused too (damaged or mismatched).
    const bytes = Buffer.from(t.identifier);
    bytes[bytes.length - 2]! ^= 0x01;
    expect(['TOKEN_BAD_PASSWORD', 'MALFORMED_TOKEN']).toContain(codeOf(() => m.verify({ ...t, identifier: bytes })));
  });

  it('refuses a truncated text form', async () => {
    const m = await openManager();
    const text = tokenToText(await m.issue(req));
    for (const cut of [1, 10, text.length - 5]) {
      expect(codeOf(() => tokenFromText(text.slice(0, text.length - cut)))).toBe('MALFORMED_TOKEN');
    }
  });

  it('refuses a buffer-server token as the wrong kind', async () => {
    const m = await openManager();
    const bt = mintBufferToken({ secret: randomBytes(32), bs: 'bs-1', streams: ['s'], access: 'publish', owner: 'alice', now: clock.now(), ttlMs: HOUR });
    expect(codeOf(() => m.verify(bt))).toBe('TOKEN_WRONG_KIND');
    expect(codeOf(() => m.checkLive(decodeIdentifier(bt.identifier)))).toBe('TOKEN_WRONG_KIND');
  });

  it('calls a validly signed identifier it has no record of unknown', async () => {
    const m = await openManager();
    const t = await m.issue(req);
    const id = decodeIdentifier(t.identifier);
    expect(codeOf(() => m.checkLive({ ...id, sequenceNumber: 42 }))).toBe('TOKEN_UNKNOWN');
    expect(codeOf(() => m.checkLive({ ...id, owner: 'bob' }))).toBe('TOKEN_UNKNOWN');
    expect(m.expiryOf({ ...id, sequenceNumber: 42 })).toBeUndefined();
  });

  it('authorizes hello for its own container only', async () => {
    const m = await openManager();
    const id = m.verify(await m.issue(req));
    m.authorize(id, { role: 'hello', container: 'c-1' });
    expect(codeOf(() => m.authorize(id, { role: 'hello', container: 'c-2' }))).toBe('OUT_OF_SCOPE');
    expect(codeOf(() => m.authorize(id, { role: 'control' }))).toBe('NOT_ALLOWED');
  });

  it("refuses hello for a genuine token of another app (OUT_OF_SCOPE, 4403), as STRAM's own authority does", async () => {
    const m = await openManager();
    const foreign = m.verify(await m.issue({ ...req, app: 'app-2' }));
    let refusal: unknown;
    try {
      m.authorize(foreign, { role: 'hello', container: 'c-1' });
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toMatchObject({ code: 'OUT_OF_SCOPE', closeCode: 4403 });
    m.authorize(m.verify(await m.issue(req)), { role: 'hello', container: 'c-1' });
  });

  it('needs to know its app', async () => {
    expect(await codeOfAsync(StramSecretManager.open({ app: '', stateDir: null }))).toBe('BAD_CONFIG');
  });

  it('rejects bad options and empty requests', async () => {
    expect(await codeOfAsync(StramSecretManager.open({ app: req.app, stateDir: null, renewIntervalMs: 0 }))).toBe('BAD_CONFIG');
    expect(await codeOfAsync(StramSecretManager.open({ app: req.app, stateDir: null, maxLifetimeMs: 1.5 }))).toBe('BAD_CONFIG');
    const m = await openManager();
    expect(await codeOfAsync(m.issue({ ...req, owner: '' }))).toBe('BAD_CONFIG');
    expect(await codeOfAsync(m.issue({ ...req, container: '' }))).toBe('BAD_CONFIG');
  });
});

describe('StramSecretManager state on disk', () => {
  it('a new manager over the same directory honours keys, renewals, cancellations and sequence numbers', async () => {
    const m1 = await openManager();
    const a = await m1.issue(req);
    await m1.rollMasterKey();
    const b = await m1.issue(req);
    const c = await m1.issue(req);
    clock.advance(20 * HOUR);
    const renewed = await m1.renew(a, 'stram');
    await m1.cancel(b, 'alice');
    // No close(): each mutation above resolved only once it was on disk.
    const m2 = await StramSecretManager.open({ app: req.app, stateDir: join(dir, 'stram'), clock });
    opened.push(m2);
    expect(m2.currentKeyId).toBe(m1.currentKeyId);
    expect(m2.keyCount).toBe(2);
    expect(m2.verify(a).sequenceNumber).toBe(1);
    expect(m2.expiryOf(decodeIdentifier(a.identifier))).toBe(renewed);
    expect(codeOf(() => m2.verify(b))).toBe('TOKEN_CANCELLED');
    expect(m2.verify(c).sequenceNumber).toBe(3);
    expect(m2.tokenCount).toBe(2);
    expect(decodeIdentifier((await m2.issue(req)).identifier).sequenceNumber).toBe(4);
    // c was not renewed: its expiry survives the restart too.
    clock.advance(4 * HOUR + 1);
    expect(codeOf(() => m2.verify(c))).toBe('TOKEN_EXPIRED');
    m2.verify(a);
  });

  it('writes the state files with mode 0600 in a 0700 directory', async () => {
    const m = await openManager();
    await m.issue(req);
    expect(statSync(join(dir, 'stram')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'stram', 'keys')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'stram', 'tokens')).mode & 0o777).toBe(0o600);
    const keysText = readFileSync(join(dir, 'stram', 'keys'), 'utf8');
    expect(JSON.parse(keysText)).toMatchObject({ version: 1 });
  });

  it('keeps no state on disk when stateDir is null', async () => {
    const m = await StramSecretManager.open({ app: req.app, stateDir: null, clock });
    const t = await m.issue(req);
    expect(m.verify(t).sequenceNumber).toBe(1);
    expect(m.stateWrites).toEqual({ keys: 0, tokens: 0 });
  });

  it('rejects a mutation whose state could not be written', async () => {
    const m = await openManager();
    const tokensPath = join(dir, 'stram', 'tokens');
    rmSync(tokensPath);
    mkdirSync(join(tokensPath, 'blocker'), { recursive: true }); // rename over a non-empty directory fails
    expect(await codeOfAsync(m.issue(req))).toBe('STATE_IO');
  });

  describe('refuses damaged state instead of starting fresh', () => {
    const cases: [string, (stateDir: string) => void][] = [
      ['garbage keys', (d) => writeFileSync(join(d, 'keys'), 'not json at all', { mode: 0o600 })],
      ['empty tokens', (d) => writeFileSync(join(d, 'tokens'), '', { mode: 0o600 })],
      [
        'truncated tokens',
        (d) => {
          const text = readFileSync(join(d, 'tokens'), 'utf8');
          writeFileSync(join(d, 'tokens'), text.slice(0, Math.floor(text.length / 2)));
        },
      ],
      [
        'wrong version',
        (d) => {
          const obj = JSON.parse(readFileSync(join(d, 'keys'), 'utf8'));
          writeFileSync(join(d, 'keys'), JSON.stringify({ ...obj, version: 2 }));
        },
      ],
      [
        'key of the wrong length',
        (d) => {
          const obj = JSON.parse(readFileSync(join(d, 'keys'), 'utf8'));
          obj.keys[0].key = 'abcd';
          writeFileSync(join(d, 'keys'), JSON.stringify(obj));
        },
      ],
      [
        'token with a sequence number past the counter',
        (d) => {
          const obj = JSON.parse(readFileSync(join(d, 'tokens'), 'utf8'));
          obj.sequenceNumber = 0;
          writeFileSync(join(d, 'tokens'), JSON.stringify(obj));
        },
      ],
      ['missing tokens file', (d) => rmSync(join(d, 'tokens'))],
      ['a group-readable keys file', (d) => chmodSync(join(d, 'keys'), 0o640)],
      ['keys file that is a directory', (d) => (rmSync(join(d, 'keys')), mkdirSync(join(d, 'keys')))],
    ];
    for (const [name, damage] of cases) {
      it(name, async () => {
        const m = await openManager();
        await m.issue(req);
        await m.close();
        damage(join(dir, 'stram'));
        const err = await StramSecretManager.open({ app: req.app, stateDir: join(dir, 'stram'), clock }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SluiceError);
        expect((err as SluiceError).code).toBe('STATE_CORRUPT');
        expect((err as SluiceError).message).toContain(join(dir, 'stram'));
      });
    }
  });
});
