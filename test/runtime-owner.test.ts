import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenKind, decodeIdentifier, readCredentials, tokenFromText } from '@sluice/common';
import { RecoveryRun } from './helpers/recovery-wordcount.js';
import { WORDCOUNT, runCli, tempDir } from './helpers/runtime-cli.js';

/**
 * An app launched for someone, as the gateway launches it (`sluice launch --owner <person>
 * --real-user <gateway>`): every token STRAM mints names the person as owner and the gateway as
 * realUser, the web token is the person's, `sluice status` and REST say who the app runs as, and
 * a STRAM killed and recovered with `--recover` goes on minting tokens for the same two.
 */

const OWNER = 'alice@EXAMPLE.TEST';
const GATEWAY = 'HTTP/localhost@EXAMPLE.TEST';
const CONTAINERS = ['c1', 'c2', 'c3', 'c4'];

interface Who {
  kind: string;
  owner: string;
  realUser: string;
  sequenceNumber: number;
}

const who = (text: string): Who => {
  const id = decodeIdentifier(tokenFromText(text).identifier);
  return { kind: id.kind, owner: id.owner, realUser: id.realUser, sequenceNumber: id.sequenceNumber };
};

/** The STRAM token and the subscribe (buffer-server) tokens in a container's credentials file. */
function tokensOf(appDir: string, container: string): { stram: Who; subscribe: Who[] } {
  const c = readCredentials(join(appDir, 'containers', container, 'credentials'));
  return { stram: who(c.stramToken), subscribe: Object.values(c.subscribe).map(who) };
}

describe('sluice launch --owner --real-user: the app runs as its caller', () => {
  let run: RecoveryRun;

  beforeAll(async () => {
    run = new RecoveryRun({ launchArgs: ['--owner', OWNER, '--real-user', GATEWAY] });
    await run.launch();
  });

  afterAll(async () => {
    await run?.cleanup();
  });

  const status = async () => {
    const r = await runCli(['status', '--json', '--app-dir', run.appDir], run.tmp.path);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { app: Record<string, unknown> };
  };

  it('every STRAM token and buffer-server token in the credentials files carries owner and realUser', () => {
    const all = CONTAINERS.map((c) => tokensOf(run.appDir, c));
    const stram = all.map((t) => t.stram);
    const buffer = all.flatMap((t) => t.subscribe);
    expect(stram.map((t) => t.kind)).toEqual(CONTAINERS.map(() => TokenKind.stram));
    // The word count reads c1 from both counters and both counters from the output: four subscribe tokens.
    expect(buffer.map((t) => t.kind)).toEqual([1, 2, 3, 4].map(() => TokenKind.bufferServer));
    for (const t of [...stram, ...buffer]) expect(t).toMatchObject({ owner: OWNER, realUser: GATEWAY });
  });

  it('the web token in <app dir>/web-token is the owner\'s (its subject)', () => {
    const jwt = readFileSync(join(run.appDir, 'web-token'), 'utf8').trim();
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string };
    expect(payload.sub).toBe(OWNER);
  });

  it('REST /ws/v1/app and sluice status (--json and text) show owner and realUser', async () => {
    const rest = await run.rest('/ws/v1/app');
    expect(rest.status).toBe(200);
    expect(JSON.parse(rest.text)).toMatchObject({ owner: OWNER, realUser: GATEWAY });
    expect((await status()).app).toMatchObject({ owner: OWNER, realUser: GATEWAY });
    const text = await runCli(['status', '--app-dir', run.appDir], run.tmp.path);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n')).toContain(`owner ${OWNER} (via ${GATEWAY})`);
  });

  it('after kill -9 of STRAM and --recover, the recovered STRAM still mints tokens for owner and realUser', async () => {
    process.kill(run.stram.child.pid!, 'SIGKILL');
    await run.stram.exited;
    await run.recover();
    await run.untilContainers((cs) => cs.every((c) => c.state === 'running' && c.heartbeats > 0));
    expect((await status()).app).toMatchObject({ owner: OWNER, realUser: GATEWAY });
    // A replaced container gets tokens the recovered STRAM mints now: its own and its downstream's.
    const before = tokensOf(run.appDir, 'c2');
    const c2 = await run.container('c2');
    process.kill(c2.pid!, 'SIGKILL');
    await run.untilContainers((cs) => cs.find((c) => c.id === 'c2')!.restarts === c2.restarts + 1 && cs.every((c) => c.state === 'running' && c.deployed));
    const after = tokensOf(run.appDir, 'c2');
    expect(after.stram.sequenceNumber).not.toBe(before.stram.sequenceNumber);
    expect(after.subscribe.map((t) => t.sequenceNumber)).not.toEqual(before.subscribe.map((t) => t.sequenceNumber));
    for (const t of [after.stram, ...after.subscribe]) expect(t).toMatchObject({ owner: OWNER, realUser: GATEWAY });
  });
});

describe('sluice launch: bad --owner and --real-user are refused', () => {
  const tmp = tempDir('sluice-owner-flags-');
  afterAll(() => tmp.remove());

  const cases: [string, string[], RegExp][] = [
    ['an empty owner', ['--owner', ''], /^sluice launch: --owner must be a principal .*, not empty \[BAD_CONFIG\]$/],
    ['a blank owner', ['--owner', '   '], /^sluice launch: --owner must be a principal .*, not blank \[BAD_CONFIG\]$/],
    ['an owner over 256 characters', ['--owner', `${'a'.repeat(245)}@EXAMPLE.TEST`], /^sluice launch: --owner must be a principal .*, not 258 characters \[BAD_CONFIG\]$/],
    ['a newline in the owner', ['--owner', 'alice\n@EXAMPLE.TEST'], /^sluice launch: --owner must be a principal .*: character 6 is U\+000A \[BAD_CONFIG\]$/],
    ['an escape in the real user', ['--owner', OWNER, '--real-user', 'HTTP/\x1b[31mlocalhost'], /^sluice launch: --real-user must be a principal .*: character 6 is U\+001B \[BAD_CONFIG\]$/],
    ['an app id with capitals and a slash', ['--app-id', 'Demo/../x'], /^sluice launch: --app-id .*an app id: lowercase letters, digits and dashes/],
    ['--real-user without --owner', ['--real-user', GATEWAY], /^sluice launch: --real-user names who launches for someone: give --owner <principal> too \[BAD_USAGE\]$/],
  ];

  for (const [name, flags, line] of cases) {
    it(`refuses ${name} with one line and exit code 2, launching nothing`, async () => {
      const appDir = join(tmp.path, 'app');
      const r = await runCli(['launch', WORDCOUNT, '--app-dir', appDir, ...flags], tmp.path);
      expect(r.code).toBe(2);
      const [first, ...rest] = r.stderr.trimEnd().split('\n');
      expect(first).toMatch(line);
      expect(rest).toEqual([expect.stringMatching(/^see '.* launch --help'$/)]);
      expect(existsSync(appDir)).toBe(false);
    });
  }

  it('refuses --owner with --recover: a recovered app runs as it was launched', async () => {
    const r = await runCli(['launch', '--recover', join(tmp.path, 'app'), '--owner', OWNER], tmp.path);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/^sluice launch: --recover resumes an app as it was launched: .*--owner, --real-user and --app-id do not apply \[BAD_USAGE\]$/);
  });
});
