import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { mintBufferToken, parseDuration, readSecretFile, systemClock, tokenToText, writeSecretFile, SluiceError, type BufferAccess } from '@sluice/common';

/** `sluice secret` and `sluice token buffer` (DESIGN.md "Tokens"). */
export function registerSecretCommands(program: Command): void {
  program
    .command('secret')
    .description('write a new 256-bit buffer-server secret to a file (mode 0600; never overwrites)')
    .requiredOption('--out <file>', 'where to write the secret')
    .action((opts: { out: string }) => {
      writeSecretFile(opts.out);
      process.stdout.write(`wrote a new secret to ${opts.out} (mode 0600)\n`);
    });

  const token = program.command('token').description('mint tokens');
  token
    .command('buffer')
    .description('print a buffer-server token minted from that server\'s secret file')
    .requiredOption('--secret-file <file>', 'the buffer server\'s secret file')
    .requiredOption('--bs <id>', 'buffer server id the token is for')
    .requiredOption('--stream <name...>', 'stream(s) the token may use (repeatable)')
    .requiredOption('--access <access>', 'publish, subscribe or control')
    .option('--container <id>', 'container the token is issued to')
    .option('--ttl <duration>', 'lifetime: 500ms, 30s, 10m, 2h, 7d', '10m')
    .action((opts: { secretFile: string; bs: string; stream: string[]; access: string; container?: string; ttl: string }) => {
      if (opts.access !== 'publish' && opts.access !== 'subscribe' && opts.access !== 'control') {
        throw new SluiceError('BAD_CONFIG', `--access must be publish, subscribe or control, not "${opts.access}"`);
      }
      const t = mintBufferToken({
        secret: readSecretFile(opts.secretFile),
        bs: opts.bs,
        streams: opts.stream,
        access: opts.access as BufferAccess,
        container: opts.container ?? null,
        owner: userInfo().username,
        now: systemClock.now(),
        ttlMs: parseDuration(opts.ttl, '--ttl'),
      });
      process.stdout.write(`${tokenToText(t)}\n`);
    });
}
