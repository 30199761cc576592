import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { tokenFromText, type ClientTls, type Token } from '@sluice/common';

/** The role side of child.ts: `--key value` arguments in, one JSON object per stdout line out. */
export function parseArgs(argv: string[] = process.argv.slice(2)): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out.set(a.slice(2), 'true');
    else {
      out.set(a.slice(2), next);
      i++;
    }
  }
  return out;
}

export function str(args: Map<string, string>, key: string, fallback?: string): string {
  const v = args.get(key) ?? fallback;
  if (v === undefined) throw new Error(`missing --${key}`);
  return v;
}

export function num(args: Map<string, string>, key: string, fallback?: number): number {
  const v = args.get(key);
  if (v === undefined) {
    if (fallback === undefined) throw new Error(`missing --${key}`);
    return fallback;
  }
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${key}: ${v} is not a number`);
  return n;
}

/** Tokens reach roles through 0600 files, never argv or the environment (docs/architecture.md "State on disk"). */
export function readToken(path: string): Token {
  return tokenFromText(readFileSync(path, 'utf8'));
}

export function emit(kind: 'ready' | 'progress' | 'result' | 'error', payload: unknown): void {
  process.stdout.write(`${JSON.stringify({ [kind]: payload })}\n`);
}

/** Runs a role's main; reports a failure as an `error` line and a non-zero exit. */
export function runRole(main: () => Promise<void>): void {
  // A normal exit on SIGTERM, so `--cpu-prof` profiles get written (the runner stops roles so).
  process.once('SIGTERM', () => setImmediate(() => process.exit(0)));
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      emit('error', err instanceof Error ? `${err.message}` : String(err));
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

export const now = (): number => performance.now();

/**
 * Commands from the runner, one JSON object per stdin line (`{"run": {...}}`, `{"stop": true}`).
 * Roles that are reused across runs wait here; stdin closing (the runner died) ends the stream.
 */
export async function* commands(): AsyncGenerator<Record<string, unknown>> {
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.startsWith('{')) continue;
    const cmd = JSON.parse(line) as Record<string, unknown>;
    if (cmd['stop']) return;
    yield cmd;
  }
}

/**
 * The server's URL: `--url`, or (for roles the runner starts while the server is still booting)
 * the first command on stdin, `{"connect": {"url": ...}}`. Module loading then overlaps the
 * server's start-up.
 */
export async function serverUrl(args: Map<string, string>, cmds: AsyncGenerator<Record<string, unknown>>): Promise<string> {
  const given = args.get('url');
  if (given) return given;
  const first = await cmds.next();
  const connect = first.done ? undefined : (first.value['connect'] as { url?: string } | undefined);
  if (!connect?.url) throw new Error('expected {"connect": {"url": ...}} as the first command');
  return connect.url;
}

/**
 * `--tls-dir DIR`: client TLS material a case wrote there (cert.pem, key.pem, ca.pem and the
 * server's expected SAN in `server`), read when the role connects; absent: no TLS.
 */
export function readTls(args: Map<string, string>): ClientTls | undefined {
  const dir = args.get('tls-dir');
  if (dir === undefined) return undefined;
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return { cert: read('cert.pem'), key: read('key.pem'), ca: read('ca.pem'), server: read('server').trim() };
}
