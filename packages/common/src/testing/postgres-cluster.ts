import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chownSync, constants, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A throwaway PostgreSQL cluster for tests: `initdb` into a temp dir with a random superuser
 * password (SCRAM), `pg_ctl start` on a free 127.0.0.1 port with its socket in the same dir, and
 * `stop()` removes it all. PostgreSQL refuses to run as root, so as root the cluster runs as the
 * `postgres` user Debian's package creates (`runuser`). Nothing outside the dir is touched.
 */

/** Where Debian's server binaries live (the newest major version installed), or undefined. */
function binDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    return undefined;
  }
  for (const v of versions) {
    try {
      accessSync(join(base, v, 'bin', 'pg_ctl'), constants.X_OK);
      return join(base, v, 'bin');
    } catch {
      // this version lacks the server; try the next
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The uid/gid the server runs as: ourselves, or the `postgres` user when we are root. */
async function serverUser(): Promise<{ uid: number; gid: number; name: string } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const { stdout } = await run('id', ['-u', 'postgres']).catch(() => ({ stdout: '' }));
  const { stdout: g } = await run('id', ['-g', 'postgres']).catch(() => ({ stdout: '' }));
  if (!stdout.trim()) throw new Error('running as root and there is no postgres user to run PostgreSQL as (scripts/postgres.sh ensure)');
  return { uid: Number(stdout.trim()), gid: Number(g.trim()), name: 'postgres' };
}

export class TestPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly superuser: string,
    readonly password: string,
    private readonly bin: string,
    private readonly as: { name: string } | undefined,
  ) {}

  readonly host = '127.0.0.1';

  /** Why the tests cannot start a cluster here, or undefined when they can. */
  static unavailable(): string | undefined {
    return binDir() === undefined ? 'PostgreSQL server binaries are not installed (scripts/postgres.sh ensure)' : undefined;
  }

  static async start(): Promise<TestPostgres> {
    const bin = binDir();
    if (!bin) throw new Error(TestPostgres.unavailable());
    const as = await serverUser();
    const dir = await mkdtemp(join(tmpdir(), 'sluice-pg-'));
    const password = randomBytes(18).toString('base64url');
    const superuser = 'sluice_admin';
    const pwfile = join(dir, 'pw');
    await writeFile(pwfile, password + '\n', { mode: 0o600 });
    if (as) {
      chownSync(dir, as.uid, as.gid);
      chownSync(pwfile, as.uid, as.gid);
    }
    const port = await freePort();
    const pg = new TestPostgres(dir, port, superuser, password, bin, as);
    try {
      await pg.exec('initdb', ['-D', join(dir, 'data'), '-U', superuser, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--no-sync', '-E', 'UTF8', '--locale=C']);
      await rm(pwfile, { force: true });
      const opts = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
      await pg.exec('pg_ctl', ['-D', join(dir, 'data'), '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return pg;
  }

  /** A connection URL for `user` (the superuser by default); the password is URL-encoded. */
  url(user = this.superuser, password = this.password, database = 'postgres'): string {
    return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${this.host}:${this.port}/${database}`;
  }

  async stop(): Promise<void> {
    await this.exec('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  private async exec(tool: string, args: string[]): Promise<void> {
    const path = join(this.bin, tool);
    const [cmd, argv] = this.as ? ['runuser', ['-u', this.as.name, '--', path, ...args]] : [path, args];
    try {
      await run(cmd, argv, { cwd: this.dir, timeout: 90_000 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${tool} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' / ')}`);
    }
  }
}
