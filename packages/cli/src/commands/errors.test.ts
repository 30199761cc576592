import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, WORDCOUNT, assertBuilt, runSluice, type SluiceRun } from '../test-support.js';

// What a person sees when a command cannot do what was asked (docs/guide.md "Exit codes"): the
// built CLI in a child process, as a user runs it.

let dir: string;
beforeAll(assertBuilt);
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-cli-errors-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sluice = (...args: string[]): SluiceRun => runSluice(args, { cwd: dir });
const HINT = `node ${BIN}`;

/** A usage error: exit 2, one line naming the command, then where its help is; no help text, no stack. */
function expectUsageError(r: SluiceRun, command: string, line: RegExp): void {
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n');
  expect(lines).toHaveLength(3); // two lines and the final newline
  expect(lines[0]).toMatch(new RegExp(`^sluice ${command}: `));
  expect(lines[0]).toMatch(line);
  expect(lines[1]).toBe(`see '${HINT} ${command} --help'`);
  expect(r.stderr).not.toMatch(/Usage:|\n\s+at /);
}

function secretFile(): string {
  const file = join(dir, 'bs.secret');
  expect(sluice('secret', '--out', file).status).toBe(0);
  return file;
}

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

describe('sluice buffer-server refusals', () => {
  it('a port in use: one line, exit 2, no stack trace, and no spool directory left behind', async () => {
    const file = secretFile();
    const spool = join(dir, 'spool');
    mkdirSync(spool);
    const { port, server } = await occupiedPort();
    try {
      const r = sluice('buffer-server', '--id', 'bs-1', '--secret-file', file, '--port', String(port), '--spool-dir', spool);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`sluice buffer-server: cannot listen on 127.0.0.1:${port}: the port is in use by another process; choose another --port (0: any free port) [LISTEN_FAILED]\n`);
      expect(readdirSync(spool)).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('a port in use with a --spool-dir that did not exist: the directories it made are gone again', async () => {
    const file = secretFile();
    const spool = join(dir, 'made', 'spool');
    const { port, server } = await occupiedPort();
    try {
      const r = sluice('buffer-server', '--id', 'bs-1', '--secret-file', file, '--port', String(port), '--spool-dir', spool);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/\[LISTEN_FAILED\]\n$/);
      expect(existsSync(join(dir, 'made'))).toBe(false);
    } finally {
      server.close();
    }
  });

  it('--log-format pretty renders its log readably on a pipe, json (the default there) as pino lines', () => {
    const file = secretFile();
    // SIGTERM after a moment: the server stops cleanly, having logged that it listened.
    const run = (...extra: string[]) => spawnSync('node', [BIN, 'buffer-server', '--id', 'bs-1', '--secret-file', file, ...extra], { cwd: dir, encoding: 'utf8', timeout: 2_000 });
    const pretty = run('--log-format', 'pretty').stderr.split('\n').filter((l) => l.startsWith('['));
    expect(pretty.length).toBeGreaterThan(0);
    for (const l of pretty) expect(l).toMatch(/^\[\d{4}-\d\d-\d\d [\d:.]+\] (INFO|WARN) \(buffer-server\): /);
    const json = run().stderr.split('\n').filter((l) => l !== '');
    expect(json.length).toBeGreaterThan(0);
    for (const l of json) expect(JSON.parse(l)).toMatchObject({ name: 'buffer-server', bs: 'bs-1' });
  });

  it('--port 99999 is a usage error naming the flag', () => {
    const r = sluice('buffer-server', '--id', 'bs-1', '--secret-file', secretFile(), '--port', '99999');
    expectUsageError(r, 'buffer-server', /--port must be a port number from 0 to 65535 .*not "99999" \[BAD_CONFIG\]$/);
  });

  it('--log-level loud is a usage error listing the levels', () => {
    const r = sluice('buffer-server', '--id', 'bs-1', '--secret-file', secretFile(), '--log-level', 'loud');
    expectUsageError(r, 'buffer-server', /--log-level must be one of fatal, error, warn, info, debug, trace, silent, not "loud" \[BAD_CONFIG\]$/);
  });

  it('names the flag, not the option, when a value is out of range', () => {
    const r = sluice('buffer-server', '--id', 'bs-1', '--secret-file', secretFile(), '--max-payload', '100');
    expectUsageError(r, 'buffer-server', /--max-payload: 100 is below 1 KiB \[BAD_CONFIG\]$/);
  });

  it('a missing secret file says so in one line', () => {
    const r = sluice('buffer-server', '--id', 'bs-1', '--secret-file', 'nope.secret');
    expectUsageError(r, 'buffer-server', /secret file nope\.secret does not exist \[BAD_CONFIG\]$/);
  });
});

describe('sluice launch refusals', () => {
  /** A launch refused before it started leaves the working directory as it was. */
  function expectNothingCreated(): void {
    expect(existsSync(join(dir, '.sluice'))).toBe(false);
  }

  it('an unknown flag is one line and the see-help hint, not the whole help', () => {
    expectUsageError(sluice('launch', WORDCOUNT, '--bogus'), 'launch', /unknown option '--bogus' \[BAD_USAGE\]$/);
  });

  it('--log-level loud is refused before anything starts', () => {
    expectUsageError(sluice('launch', WORDCOUNT, '--log-level', 'loud'), 'launch', /--log-level must be one of .*not "loud"/);
    expectNothingCreated();
  });

  it('--heartbeat-timeout 500ms names both flags, in durations', () => {
    const r = sluice('launch', WORDCOUNT, '--heartbeat-timeout', '500ms');
    expectUsageError(r, 'launch', /: --heartbeat-timeout \(500ms\) must be longer than --heartbeat-interval \(1s\) \[BAD_CONFIG\]$/);
    expectNothingCreated();
  });

  it('a config key no operator declares is refused at launch, listing the known keys', () => {
    const r = sluice('launch', WORDCOUNT, '--config', 'perWindw=50');
    expectUsageError(
      r,
      'launch',
      /: config key "perWindw" is not declared by any operator; known keys: seed, tuplesPerWindow, windows; per operator: generator\.seed, generator\.tuplesPerWindow, generator\.windows \[BAD_CONFIG\]$/,
    );
    expectNothingCreated();
  });

  it('a config value its schema refuses names the key', () => {
    const r = sluice('launch', WORDCOUNT, '--config', 'generator.seed=abc');
    expectUsageError(r, 'launch', /: config key "seed" of operator "generator": "abc" is refused \(.*number.*\) \[BAD_CONFIG\]$/);
    expectNothingCreated();
  });

  it('--config a=1 --config b=2 ./app.js keeps the app path as the app', () => {
    // The app path is taken as the app (not swallowed as a config value): the error names it.
    const r = sluice('launch', '--config', 'seed=1', '--config', 'windows=2', './missing-app.js');
    expectUsageError(r, 'launch', new RegExp(`: app module ${join(dir, 'missing-app.js')} does not exist .*\\[BAD_CONFIG\\]$`));
  });

  it('refuses an --app-dir that is not empty, and writes nothing into it', () => {
    const used = join(dir, 'used');
    mkdirSync(used);
    writeFileSync(join(used, 'notes.txt'), 'mine\n');
    const r = sluice('launch', WORDCOUNT, '--app-dir', used);
    expectUsageError(r, 'launch', new RegExp(`: --app-dir ${used} is not empty: give a new or empty directory .*\\[BAD_CONFIG\\]$`));
    expect(readdirSync(used)).toEqual(['notes.txt']);
  });

  it('a missing app is a usage error, and so are too many', () => {
    expectUsageError(sluice('launch'), 'launch', /give an app module, or --recover <app dir> \(not both\) \[BAD_USAGE\]$/);
    expectUsageError(sluice('launch', WORDCOUNT, WORDCOUNT), 'launch', /too many arguments .*\[BAD_USAGE\]$/);
    // --recover resumes an app as it was launched; flags that would change it are refused, not ignored.
    expectUsageError(sluice('launch', '--recover', dir, '--config', 'seed=1'), 'launch', /--recover resumes an app as it was launched: .*\[BAD_USAGE\]$/);
  });
});

describe('sluice', () => {
  it('--version prints the CLI package version', () => {
    const r = sluice('--version');
    expect(r.status).toBe(0);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')) as { version: string };
    expect(r.stdout).toBe(`${version}\n`);
  });

  it('--help lists the commands with examples and exit codes, but not the internal container command', () => {
    const r = sluice('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\s+launch \[options\] \[app\]/m);
    expect(r.stdout).not.toMatch(/^\s+container\b/m);
    expect(r.stdout).toContain(`Examples:\n  ${HINT} demo --duration 10s`);
    expect(r.stdout).toMatch(/Exit codes:\n\s+0 +done\n\s+1 .*\n\s+2 +refused/);
  });

  it('marks required options and shows every default one way', () => {
    const r = sluice('buffer-server', '--help');
    expect(r.status).toBe(0);
    const text = r.stdout.replace(/\s+/g, ' ');
    expect(text).toContain('--id <id> this server\'s id (tokens name it in scope.bs) (required)');
    expect(text).toContain('(default: 256MiB)');
    expect(text).toContain('(default: 127.0.0.1)');
    expect(text).not.toMatch(/default: "|\(default [^:]/);
  });

  it('an unknown command is one line with a suggestion', () => {
    const r = sluice('lanch');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`sluice: unknown command 'lanch' (Did you mean launch?) [BAD_USAGE]\nsee '${HINT} --help'\n`);
  });

  it('shutdown --wait takes a duration (and bare seconds); a bad one names --wait', () => {
    for (const wait of ['30s', '30']) {
      const r = sluice('shutdown', '--app-dir', dir, '--wait', wait);
      // Parsed: the refusal is about the app directory, not the flag.
      expectUsageError(r, 'shutdown', /no running app in .* \[BAD_CONFIG\]$/);
    }
    expectUsageError(sluice('shutdown', '--wait', 'soon'), 'shutdown', /--wait: "soon" is not a duration/);
  });

  it('through ./sluice, hints name ./sluice, which runs as printed', () => {
    const r = spawnSync('./sluice', ['launch', '--bogus'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("sluice launch: unknown option '--bogus' [BAD_USAGE]\nsee './sluice launch --help'\n");
    const help = spawnSync('sh', ['-c', "./sluice launch --help"], { cwd: ROOT, encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('  ./sluice launch ./my-app.js --config seed=7');
  });
});
