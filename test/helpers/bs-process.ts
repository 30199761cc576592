import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { generateSecret, mintBufferToken, writeSecretFile, type BoundNames, type BufferAccess, type TlsMaterial, type Token } from '@sluice/common';
import { watchChild } from './child-output.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'packages', 'cli', 'bin', 'sluice.js');

export interface BsProcessOptions {
  id?: string;
  memoryLimit?: string;
  spoolLimit?: string;
  handshakeTimeout?: string;
  maxPayload?: string;
  /** Written to a JSON file passed as --bound-names. */
  boundNames?: BoundNames;
  subscriberNamesPerHolder?: number;
  preAuthMaxPayload?: string;
  maxPendingHandshakes?: number;
  /** Mutual TLS: written to files passed as --tls-cert, --tls-key (0600) and --tls-ca. */
  tls?: TlsMaterial;
}

/** A real `sluice buffer-server` process on port 0, with its own temp dir, secret and spool. */
export interface BsProcess {
  readonly id: string;
  readonly url: string;
  readonly secret: Buffer;
  readonly dir: string;
  readonly spoolDir: string;
  readonly proc: ChildProcess;
  /** Everything the process wrote to stderr so far (its pino logs). */
  stderr(): string;
  /** A token of this server (owner "tester", no container unless given). */
  mint(access: BufferAccess, streams: string[], o?: { ttlMs?: number; sequenceNumber?: number; bs?: string; secret?: Uint8Array; container?: string; owner?: string }): Token;
  /** SIGTERM, then waits for exit; returns the exit code. Removes the temp dir. */
  stop(): Promise<number | null>;
}

export async function startBsProcess(o: BsProcessOptions = {}): Promise<BsProcess> {
  const id = o.id ?? 'bs-test';
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bs-'));
  const secretFile = join(dir, 'secret');
  const secret = generateSecret();
  writeSecretFile(secretFile, secret);
  const spoolDir = join(dir, 'spool');
  const args = [CLI, 'buffer-server', '--host', '127.0.0.1', '--port', '0', '--id', id, '--secret-file', secretFile, '--spool-dir', spoolDir];
  if (o.memoryLimit) args.push('--memory-limit', o.memoryLimit);
  if (o.spoolLimit) args.push('--spool-limit', o.spoolLimit);
  if (o.handshakeTimeout) args.push('--handshake-timeout', o.handshakeTimeout);
  if (o.maxPayload) args.push('--max-payload', o.maxPayload);
  if (o.boundNames) {
    const file = join(dir, 'bound-names.json');
    writeFileSync(file, JSON.stringify(o.boundNames));
    args.push('--bound-names', file);
  }
  if (o.subscriberNamesPerHolder !== undefined) args.push('--subscriber-names-per-holder', String(o.subscriberNamesPerHolder));
  if (o.preAuthMaxPayload) args.push('--pre-auth-max-payload', o.preAuthMaxPayload);
  if (o.maxPendingHandshakes !== undefined) args.push('--max-pending-handshakes', String(o.maxPendingHandshakes));
  if (o.tls) {
    const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') };
    writeFileSync(files.cert, o.tls.cert);
    writeFileSync(files.key, o.tls.key, { mode: 0o600 });
    writeFileSync(files.ca, o.tls.ca);
    args.push('--tls-cert', files.cert, '--tls-key', files.key, '--tls-ca', files.ca);
  }
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLUICE_LOG_LEVEL: 'info' } });
  const child = watchChild(proc, dir);
  const url = await new Promise<string>((res, rej) => {
    const lines = createInterface({ input: proc.stdout! });
    lines.on('line', (line) => {
      const m = /^listening (wss?:\/\/\S+)$/.exec(line);
      if (m) res(m[1]!);
    });
    void child.exited.then((code) => {
      rmSync(dir, { recursive: true, force: true });
      rej(new Error(`buffer server exited with ${code} before listening:\n${child.stderr()}`));
    });
  });
  return {
    id,
    url,
    secret,
    dir,
    spoolDir,
    proc,
    stderr: child.stderr,
    mint: (access, streams, m = {}) =>
      mintBufferToken({
        secret: m.secret ?? secret,
        bs: m.bs ?? id,
        streams,
        access,
        container: m.container ?? null,
        owner: m.owner ?? 'tester',
        now: Date.now(),
        ttlMs: m.ttlMs ?? 600_000,
        ...(m.sequenceNumber === undefined ? {} : { sequenceNumber: m.sequenceNumber }),
      }),
    stop: child.stop,
  };
}
