import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '@sluice/common';
import { durationOrSeconds, port } from './flags.js';
import { invocation } from './invocation.js';
import { ExitCode, commandOf, report } from './report.js';

function program(): Command {
  const p = new Command('sluice').exitOverride().configureOutput({ outputError: () => undefined, writeErr: () => undefined, writeOut: () => undefined });
  p.command('token').command('buffer').requiredOption('--bs <id>').action(() => undefined);
  p.command('launch').argument('[app]').action(() => undefined);
  return p;
}

function reported(err: unknown, args: string[]): { code: number; text: string } {
  let text = '';
  const p = program();
  const code = report(err, commandOf(p, args), './sluice', (t) => (text += t));
  return { code, text };
}

async function parseError(args: string[]): Promise<unknown> {
  try {
    await program().parseAsync(['node', 'sluice', ...args]);
  } catch (err) {
    return err;
  }
  throw new Error('expected the parse to fail');
}

describe('report', () => {
  it('a commander usage error: one line naming the subcommand, then its help, exit 2', async () => {
    const r = reported(await parseError(['token', 'buffer']), ['token', 'buffer']);
    expect(r).toEqual({ code: ExitCode.refused, text: "sluice token buffer: required option '--bs <id>' not specified [BAD_USAGE]\nsee './sluice token buffer --help'\n" });
  });

  it('a bad value (BAD_CONFIG) is a usage error too', () => {
    const r = reported(new SluiceError('BAD_CONFIG', '--port must be a port'), ['launch', '--port', 'x']);
    expect(r).toEqual({ code: 2, text: "sluice launch: --port must be a port [BAD_CONFIG]\nsee './sluice launch --help'\n" });
  });

  it('another Sluice error is one line, exit 2, without the help hint', () => {
    const r = reported(new SluiceError('LISTEN_FAILED', 'cannot listen on 127.0.0.1:1: the port is in use\nby another process'), ['launch']);
    expect(r).toEqual({ code: 2, text: 'sluice launch: cannot listen on 127.0.0.1:1: the port is in use by another process [LISTEN_FAILED]\n' });
  });

  it('an unexpected error is a bug: its stack is shown, exit 1', () => {
    const r = reported(new TypeError('x is undefined'), []);
    expect(r.code).toBe(ExitCode.failed);
    expect(r.text).toMatch(/^sluice: unexpected error, a bug in Sluice .*TypeError: x is undefined\n\s+at /s);
  });

  it('help and version end the parse with their own exit code', async () => {
    expect(reported(await parseError(['--help']), ['--help']).code).toBe(0);
  });
});

describe('invocation', () => {
  it('is what the ./sluice wrapper says it was called as', () => {
    expect(invocation({ SLUICE_INVOKED_AS: './sluice' }, '/repo/packages/cli/bin/sluice.js', '/repo')).toBe('./sluice');
    expect(invocation({ SLUICE_INVOKED_AS: '/my repo/sluice' }, '/x.js', '/')).toBe("'/my repo/sluice'");
  });

  it('is node and the script otherwise, relative when under the working directory', () => {
    expect(invocation({}, '/repo/packages/cli/bin/sluice.js', '/repo')).toBe('node packages/cli/bin/sluice.js');
    expect(invocation({}, '/repo/packages/cli/bin/sluice.js', '/elsewhere')).toBe('node /repo/packages/cli/bin/sluice.js');
    expect(invocation({}, '/usr/local/bin/sluice', '/home/me')).toBe('/usr/local/bin/sluice');
  });
});

describe('flag values', () => {
  it('a port is 0 to 65535', () => {
    expect(port('0', '--port')).toBe(0);
    expect(port('65535', '--port')).toBe(65535);
    for (const bad of ['65536', '-1', '80.5', 'http', '']) expect(() => port(bad, '--port')).toThrow(/--port must be a port number/);
  });

  it('--wait takes a duration or bare seconds', () => {
    expect(durationOrSeconds('30s', '--wait')).toBe(30_000);
    expect(durationOrSeconds('30', '--wait')).toBe(30_000);
    expect(durationOrSeconds('500ms', '--wait')).toBe(500);
    expect(() => durationOrSeconds('soon', '--wait')).toThrow(SluiceError);
  });
});
