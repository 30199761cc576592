import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { SluiceError } from '@sluice/common';
import { GatewayRefusal, RefusalCode } from './api.js';
import { kerberosLib } from './kerberos-lib.js';

/**
 * The gateway's SPNEGO acceptor (docs/security.md "The gateway API"): one `Authorization:
 * Negotiate <b64>` header in, the client's principal out, or a `GatewayRefusal` with a stable
 * code. Every request gets a fresh GSSAPI context; the keytab reaches GSSAPI only through
 * `KRB5_KTNAME` (the kerberos package takes no keytab argument), and `KRB5RCACHEDIR` points at
 * a private dir so a token seen once is refused the second time.
 */

/** Longest Authorization header accepted; real Kerberos tokens are a few KiB (PAC included). */
export const MAX_NEGOTIATE_HEADER = 64 * 1024;
/** A step that takes longer (a stuck KDC lookup, a locked replay cache) is refused, never awaited forever. */
export const STEP_TIMEOUT_MS = 10_000;

export interface AcceptorOptions {
  /** The gateway's keytab; refused when group or others may read it. */
  keytab: string;
  /** `HTTP/<host>@REALM` (the gateway's `--principal`). */
  principal: string;
  /** Dir for the replay cache (default: a fresh private temp dir). */
  replayCacheDir?: string;
  stepTimeoutMs?: number;
}

export interface Accepted {
  principal: string;
  /** GSSAPI's answer token (base64), for `WWW-Authenticate: Negotiate <it>` (mutual authentication); empty when there is none. */
  response: string;
}

/** `HTTP/host@REALM` → `HTTP@host`, the host-based service name GSSAPI takes. */
export function gssServiceName(principal: string): string {
  const m = /^([^/@\s]+)\/([^/@\s]+)(?:@([^/@\s]+))?$/.exec(principal);
  if (!m) {
    throw new SluiceError('BAD_CONFIG', `--principal ${JSON.stringify(principal)} is not a service principal: give HTTP/<host>@REALM`);
  }
  return `${m[1]}@${m[2]}`;
}

/** Refuses a keytab that is missing or readable by anyone but its owner, in one line. */
export function checkKeytab(path: string): string {
  const abs = isAbsolute(path) ? path : resolve(path);
  let mode: number;
  try {
    const st = statSync(abs);
    if (!st.isFile()) throw new SluiceError('BAD_CONFIG', `keytab ${abs} is not a file`);
    mode = st.mode & 0o777;
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw new SluiceError('BAD_CONFIG', `keytab ${abs} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (mode & 0o077) {
    throw new SluiceError(
      'BAD_CONFIG',
      `keytab ${abs} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}): run chmod 600 ${abs}`,
    );
  }
  return abs;
}

/** What the client's token failed on, from GSSAPI's message: a stable code and a short reason. */
export function classifyGssError(message: string): { code: RefusalCode; reason: string } {
  if (/Request is a replay/i.test(message)) {
    return { code: RefusalCode.replayed, reason: 'this Negotiate token was already used; get a new one for each request' };
  }
  // The ticket names a principal the gateway has no key for ("... not found in keytab"), or one
  // its keytab also holds but that is not the gateway's own ("... found in keytab but does not
  // match server principal ...", older releases: "Wrong principal in request").
  const other = /Request ticket server (\S+) (?:not )?found in keytab/i.exec(message);
  if (other || /Wrong principal in request/i.test(message)) {
    return {
      code: RefusalCode.wrongService,
      reason: `the Kerberos ticket is for ${other?.[1] ?? 'another service'}, not this gateway`,
    };
  }
  const detail = message.replace(/^.*Minor code may provide more information:\s*/s, '').split('\n')[0]!.trim();
  return { code: RefusalCode.negotiateFailed, reason: `the Negotiate token was refused: ${detail.slice(0, 200)}` };
}

/** The token of `Negotiate <base64>`, or a refusal: missing, too long, another scheme, not base64. */
function parseHeader(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new GatewayRefusal(401, RefusalCode.noCredentials, 'no credentials: send Authorization: Negotiate (kinit first)');
  }
  if (header.length > MAX_NEGOTIATE_HEADER) {
    throw new GatewayRefusal(401, RefusalCode.negotiateFailed, `the Authorization header is longer than ${MAX_NEGOTIATE_HEADER} bytes`);
  }
  const m = /^Negotiate\s+(\S+)\s*$/i.exec(header);
  if (!m) {
    throw new GatewayRefusal(401, RefusalCode.negotiateFailed, 'the Authorization header is not "Negotiate <base64 token>"');
  }
  const token = m[1]!;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token) || token.length % 4 === 1) {
    throw new GatewayRefusal(401, RefusalCode.negotiateFailed, 'the Negotiate token is not base64');
  }
  return token;
}

export class KerberosAcceptor {
  readonly service: string;
  readonly keytab: string;
  private readonly stepTimeoutMs: number;
  private readonly rcache: string;
  private readonly ownRcache: boolean;

  constructor(options: AcceptorOptions) {
    this.service = gssServiceName(options.principal);
    this.keytab = checkKeytab(options.keytab);
    this.stepTimeoutMs = options.stepTimeoutMs ?? STEP_TIMEOUT_MS;
    this.ownRcache = options.replayCacheDir === undefined;
    this.rcache = options.replayCacheDir ?? mkdtempSync(join(tmpdir(), 'sluice-rcache-'));
    // GSSAPI reads both from the process environment: one acceptor (one keytab) per process,
    // the last one made.
    process.env['KRB5_KTNAME'] = `FILE:${this.keytab}`;
    process.env['KRB5RCACHEDIR'] = this.rcache;
  }

  /** Removes the replay cache dir the acceptor made for itself. */
  close(): void {
    if (this.ownRcache) rmSync(this.rcache, { recursive: true, force: true });
  }

  /** The client's principal (`alice@EXAMPLE.TEST`), or a GatewayRefusal(401, code, reason). */
  async accept(header: string | undefined): Promise<Accepted> {
    const token = parseHeader(header);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new GatewayRefusal(401, RefusalCode.negotiateFailed, `GSSAPI did not answer within ${this.stepTimeoutMs} ms`)),
        this.stepTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.step(token), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async step(token: string): Promise<Accepted> {
    try {
      const server = await (await kerberosLib()).initializeServer(this.service);
      await server.step(token);
      if (!server.contextComplete || !server.username) {
        // SPNEGO would need another round trip; HTTP Negotiate with Kerberos needs exactly one.
        throw new GatewayRefusal(401, RefusalCode.negotiateFailed, 'the Negotiate exchange did not complete in one step (is the token a Kerberos one?)');
      }
      return { principal: server.username, response: server.response ?? '' };
    } catch (err) {
      if (err instanceof GatewayRefusal) throw err;
      const { code, reason } = classifyGssError(err instanceof Error ? err.message : String(err));
      throw new GatewayRefusal(401, code, reason);
    }
  }
}
