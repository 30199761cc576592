import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { mintBufferToken, readSecretFile, systemClock, tokenToText, writeSecretFile, type BufferAccess } from '@sluice/common';
import { duration, flag, oneOf, required } from '../flags.js';
import { withExamples } from '../help.js';

const ACCESS = ['publish', 'subscribe', 'control'] as const satisfies readonly BufferAccess[];

/** `sluice secret` and `sluice token buffer` (docs/protocol.md "Tokens"). */
export function registerSecretCommands(program: Command): void {
  const secret = program
    .command('secret')
    .description('write a new 256-bit buffer-server secret to a file (mode 0600; never overwrites)')
    .addOption(required('--out <file>', 'where to write the secret'))
    .action((opts: { out: string }) => {
      writeSecretFile(opts.out);
      process.stdout.write(`wrote a new secret to ${opts.out} (mode 0600)\n`);
    });
  withExamples(secret, ['secret --out bs.secret']);
  const token = program.command('token').description('mint tokens');
  const buffer = token
    .command('buffer')
    .description("print a buffer-server token minted from that server's secret file")
    .addOption(required('--secret-file <file>', "the buffer server's secret file"))
    .addOption(required('--bs <id>', 'buffer server id the token is for'))
    .addOption(required('--stream <name...>', 'stream(s) the token may use'))
    .addOption(required('--access <access>', 'what the token allows', { choices: ACCESS, parse: oneOf(ACCESS) }))
    .addOption(flag('--container <id>', 'container the token is issued to'))
    .addOption(flag('--ttl <duration>', 'lifetime: 500ms, 30s, 10m, 2h, 7d', { parse: duration, default: '10m' }))
    .action((opts: { secretFile: string; bs: string; stream: string[]; access: BufferAccess; container?: string; ttl: number }) => {
      const t = mintBufferToken({
        secret: readSecretFile(opts.secretFile),
        bs: opts.bs,
        streams: opts.stream,
        access: opts.access,
        container: opts.container ?? null,
        owner: userInfo().username,
        now: systemClock.now(),
        ttlMs: opts.ttl,
      });
      process.stdout.write(`${tokenToText(t)}\n`);
    });
  withExamples(buffer, ['token buffer --secret-file bs.secret --bs bs-1 --stream orders --access subscribe --ttl 2h']);
}
