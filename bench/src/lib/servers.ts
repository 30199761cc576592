import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecret, makeKeyAndCsr, mintBufferToken, sanUri, tlsMaterial, tokenToText, type BufferAccess, type ClientTls } from '@sluice/common';
import { CertificateAuthority, createRoot } from '@sluice/stram';
import { connectControl, type Control } from '@sluice/buffer-server';
import { profileArgs, startNode, startRole, type Role } from './child.js';
import type { Ctx } from './suite.js';

/**
 * The servers a case runs against, each in its own process:
 *   raw      — bench/src/roles/relay.ts (no auth, no retention)
 *   secure   — `sluice buffer-server` with a fresh random secret
 *   insecure — `sluice buffer-server` has no `--insecure` flag, so insecure =
 *              the same server with the well-known all-zero secret. That is also what Sluice's
 *              insecure mode is (`sluice launch|demo --insecure`: "well-known all-zero keys"):
 *              the same code path with a key anyone could mint tokens from.
 *   secure-tls — secure, plus `--tls-cert/--tls-key/--tls-ca` from a CA of the case's own (the
 *              app CA's code): clients connect with certificates (`clientTlsDir`, role-io readTls).
 */
export type ServerMode = 'raw' | 'secure' | 'insecure' | 'secure-tls';

export interface RunningServer {
  mode: ServerMode;
  url: string;
  role: Role;
  /** Writes a 0600 token file for this server (at `path`, if given) and returns its path (raw: no token, returns ''). */
  token(access: BufferAccess, streams?: string[], path?: string): string;
  /** A control connection (Sluice modes only). */
  control(): Promise<Control>;
  stop(): Promise<void>;
}

let serial = 0;

export const cliPath = (ctx: Ctx): string => join(ctx.root, 'packages/cli/bin/sluice.js');

export interface ServerOptions {
  memoryLimit?: string;
  spoolLimit?: string;
  spoolDir?: string;
  nodeArgs?: string[];
  /** secure-tls: where to write the clients' certificate, key, roots and the server's name. */
  clientTlsDir?: string;
}

/** A server leaf and a client leaf of one fresh CA, as the app CA issues them. */
async function benchTls(dir: string, clientDir: string): Promise<{ args: string[]; client: ClientTls }> {
  const ca = new CertificateAuthority('bench', [await createRoot('bench')]);
  const leaf = async (name: string) => {
    const { keyPem, csr } = await makeKeyAndCsr(name);
    const issued = await ca.issue(csr, name, 3_600_000);
    return tlsMaterial(issued.chain, issued.roots, keyPem);
  };
  const server = await leaf('server');
  const client = { ...(await leaf('client')), server: sanUri('bench', 'server') };
  writeFileSync(join(dir, 'tls.crt'), server.cert);
  writeFileSync(join(dir, 'tls.key'), server.key, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), server.ca);
  mkdirSync(clientDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(clientDir, 'cert.pem'), client.cert);
  writeFileSync(join(clientDir, 'key.pem'), client.key, { mode: 0o600 });
  writeFileSync(join(clientDir, 'ca.pem'), client.ca);
  writeFileSync(join(clientDir, 'server'), client.server);
  return { args: ['--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--tls-ca', join(dir, 'ca.crt')], client };
}

export async function startServer(ctx: Ctx, mode: ServerMode, o: ServerOptions = {}): Promise<RunningServer> {
  const n = ++serial;
  if (mode === 'raw') {
    const role = startRole('relay', [], { timeoutMs: 60 * 60_000, nodeArgs: [...(o.nodeArgs ?? []), ...profileArgs(ctx.profileDir, 'relay')] });
    const ready = await role.ready;
    return {
      mode,
      url: String(ready['url']),
      role,
      token: () => '',
      control: () => Promise.reject(new Error('the raw relay has no control role')),
      stop: () => role.stop(),
    };
  }
  const dir = join(ctx.tmp, `server-${n}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secret = mode === 'insecure' ? Buffer.alloc(32) : generateSecret();
  const id = `bench-bs-${n}`;
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, `${secret.toString('hex')}\n`, { mode: 0o600 });
  const args = ['buffer-server', '--host', '127.0.0.1', '--port', '0', '--id', id, '--secret-file', secretFile];
  args.push('--spool-dir', o.spoolDir ?? join(dir, 'spool'));
  if (o.memoryLimit) args.push('--memory-limit', o.memoryLimit);
  if (o.spoolLimit) args.push('--spool-limit', o.spoolLimit);
  const tls = mode === 'secure-tls' ? await benchTls(dir, o.clientTlsDir ?? join(dir, 'client-tls')) : undefined;
  if (tls) args.push(...tls.args);
  const role = startNode(`buffer-server(${mode})`, cliPath(ctx), args, {
    readyLine: /listening (wss?:\/\/\S+)/,
    timeoutMs: 60 * 60_000,
    nodeArgs: [...(o.nodeArgs ?? []), ...profileArgs(ctx.profileDir, `buffer-server-${mode}`)],
  });
  const ready = await role.ready;
  const url = (ready['match'] as RegExpExecArray)[1]!;
  let tokens = 0;
  const mint = (access: BufferAccess, streams: string[]) =>
    mintBufferToken({ secret, bs: id, streams, access, owner: 'bench', now: Date.now(), ttlMs: 3_600_000 });
  return {
    mode,
    url,
    role,
    token: (access, streams = ['bench'], path) => {
      const file = path ?? join(dir, `token-${++tokens}`);
      writeFileSync(file, tokenToText(mint(access, streams)), { mode: 0o600 });
      return file;
    },
    control: () => connectControl({ url, token: mint('control', []), tls: tls?.client }),
    stop: () => role.stop(),
  };
}

export function cliBuilt(ctx: Ctx): string | null {
  return existsSync(join(ctx.root, 'packages/cli/dist/commands/buffer-server.js')) ? null : 'packages/cli is not built';
}
