import { spawn, execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { ChildProcess } from 'node:child_process';

const run = promisify(execFile);

/**
 * A throwaway MIT Kerberos realm on loopback for tests: its own krb5.conf and kdc.conf in a
 * temp dir, a database with a random master password, one keytab (0600) per principal and a
 * `krb5kdc -n` on a free port. Nothing outside the dir is touched; `stop()` leaves no debris.
 */

export interface RealmPrincipal {
  /** `alice`, `alice@EXAMPLE.TEST` or `HTTP/localhost`; the realm is added when missing. */
  name: string;
  /** Longest ticket this principal gets, in seconds (`modprinc -maxlife`). */
  maxLife?: number;
}

export interface TestRealmOptions {
  /** Parent of the realm's temp dir (default: the OS temp dir). */
  dir?: string;
  principals: ReadonlyArray<string | RealmPrincipal>;
  /** The realm's longest ticket, in seconds (default 10 hours). */
  maxLife?: number;
  realm?: string;
}

const SBIN = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Where a Kerberos tool lives, or undefined when it is not installed. */
function tool(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter(Boolean), ...SBIN];
  for (const d of dirs) {
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      // not in this dir; try the next
    }
  }
  return undefined;
}

const TOOLS = ['krb5kdc', 'kdb5_util', 'kadmin.local', 'kinit', 'klist', 'ktutil'] as const;

export class TestRealm {
  private kdc: ChildProcess | undefined;
  private readonly kdcExit = new Set<() => void>();

  private constructor(
    readonly dir: string,
    readonly realm: string,
    private _port: number,
    private readonly principals: ReadonlySet<string>,
    private readonly maxLife: number,
  ) {}

  /** The KDC's port on 127.0.0.1 (UDP and TCP). */
  get port(): number {
    return this._port;
  }

  /**
   * Why a realm cannot start on this machine (a missing tool), or undefined when it can.
   * Tests use it as `describe.skipIf(TestRealm.unavailable())`.
   */
  static unavailable(): string | undefined {
    const missing = TOOLS.filter((t) => tool(t) === undefined);
    if (missing.length === 0) return undefined;
    return `MIT Kerberos is not installed (no ${missing.join(', ')}); run scripts/kerberos.sh ensure`;
  }

  static async start(options: TestRealmOptions): Promise<TestRealm> {
    const why = TestRealm.unavailable();
    if (why) throw new Error(why);
    const realmName = options.realm ?? 'EXAMPLE.TEST';
    const dir = await mkdtemp(join(options.dir ?? tmpdir(), 'sluice-realm-'));
    const wanted = options.principals.map((p) => (typeof p === 'string' ? { name: p } : p));
    const names = new Set(wanted.map((p) => withRealm(p.name, realmName)));
    const port = await freePort();
    const realm = new TestRealm(dir, realmName, port, names, options.maxLife ?? 36_000);
    try {
      await realm.writeConfig();
      await realm.tool('kdb5_util', ['create', '-s', '-r', realmName, '-P', randomBytes(24).toString('base64url')]);
      const commands: string[] = [];
      for (const p of wanted) {
        const full = withRealm(p.name, realmName);
        commands.push(`addprinc -randkey ${full}`);
        if (p.maxLife !== undefined) commands.push(`modprinc -maxlife "${p.maxLife} seconds" ${full}`);
        commands.push(`ktadd -k ${realm.keytab(full)} ${full}`);
      }
      await realm.kadmin(commands);
      for (const full of names) await chmod(realm.keytab(full), 0o600);
      // The free port may be taken between looking and listening: then try another.
      for (let attempt = 1; ; attempt++) {
        try {
          await realm.startKdc();
          return realm;
        } catch (err) {
          if (attempt === 3) throw err;
          realm._port = await freePort();
          await realm.writeConfig();
        }
      }
    } catch (err) {
      await realm.stop();
      throw err;
    }
  }

  /** The variables every Kerberos tool and library call of a test needs. */
  env(): { KRB5_CONFIG: string; KRB5_KDC_PROFILE: string } {
    return { KRB5_CONFIG: join(this.dir, 'krb5.conf'), KRB5_KDC_PROFILE: join(this.dir, 'kdc.conf') };
  }

  /** The keytab file (0600) holding the principal's keys. */
  keytab(principal: string): string {
    const full = withRealm(principal, this.realm);
    return join(this.dir, `${full.replace(/[^A-Za-z0-9.@-]/g, '_')}.keytab`);
  }

  /** A keytab (0600) holding the keys of several principals, as a host's shared keytab does. */
  async sharedKeytab(name: string, principals: readonly string[]): Promise<string> {
    const file = join(this.dir, `${name.replace(/[^A-Za-z0-9.-]/g, '_')}.keytab`);
    const reads = principals.map((p) => `rkt ${this.keytab(this.known(p))}`).join('\n');
    await this.tool('ktutil', [], `${reads}\nwkt ${file}\nquit\n`);
    await chmod(file, 0o600);
    return file;
  }

  /** `kinit -kt <keytab> -c <ccache> <principal>`: a fresh TGT in that ticket cache. */
  async kinit(principal: string, ccache: string, options: { lifetime?: number } = {}): Promise<void> {
    const full = this.known(principal);
    const life = options.lifetime === undefined ? [] : ['-l', `${options.lifetime}s`];
    await this.tool('kinit', [...life, '-k', '-t', this.keytab(full), '-c', ccache, full]);
  }

  /** Sets the principal's longest ticket; a later kinit gets at most that. */
  async setMaxLife(principal: string, seconds: number): Promise<void> {
    await this.kadmin([`modprinc -maxlife "${seconds} seconds" ${this.known(principal)}`]);
  }

  /** Stops the KDC (the realm's files stay): clients then cannot get tickets. */
  async stopKdc(): Promise<void> {
    const kdc = this.kdc;
    if (!kdc || kdc.exitCode !== null || kdc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.kdcExit.add(resolve));
    kdc.kill('SIGTERM');
    await exited;
    this.kdc = undefined;
  }

  /** Starts the KDC (again) on the realm's port and waits until it accepts connections. */
  async startKdc(): Promise<void> {
    if (this.kdc) return;
    const kdc = spawn(tool('krb5kdc')!, ['-n'], { env: { ...process.env, ...this.env() }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    kdc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    kdc.on('exit', () => {
      if (this.kdc === kdc) this.kdc = undefined;
      for (const f of this.kdcExit) f();
      this.kdcExit.clear();
    });
    this.kdc = kdc;
    // Ready once its log says so for this pid; a socket it could not bind is a failure even
    // though krb5kdc runs on (a port probe would be answered by whoever holds the port).
    const log = async (): Promise<string[]> =>
      (await readFile(join(this.dir, 'kdc.log'), 'utf8').catch(() => '')).split('\n').filter((l) => l.includes(`krb5kdc[${kdc.pid}]`));
    for (let i = 0; i < 400; i++) {
      const lines = await log();
      const failed = lines.find((l) => /Cannot bind|Failed setting up/.test(l));
      if (kdc.exitCode !== null || failed) {
        await this.stopKdc();
        throw new Error(`krb5kdc did not start on 127.0.0.1:${this._port}: ${failed ?? `exit ${kdc.exitCode}`} ${stderr.trim()}`.trim());
      }
      if (lines.some((l) => l.includes('commencing operation'))) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.stopKdc();
    throw new Error(`krb5kdc did not start on 127.0.0.1:${this._port} within 10 s: ${(await log()).slice(-3).join(' / ')} ${stderr.trim()}`);
  }

  /** Kills the KDC and removes the realm's dir. */
  async stop(): Promise<void> {
    await this.stopKdc();
    await rm(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private known(principal: string): string {
    const full = withRealm(principal, this.realm);
    if (!this.principals.has(full)) throw new Error(`${full} is not a principal of this test realm`);
    return full;
  }

  private async tool(name: string, args: string[], input?: string): Promise<string> {
    const child = run(tool(name)!, args, { env: { ...process.env, ...this.env() }, timeout: 30_000 });
    if (input !== undefined) child.child.stdin!.end(input);
    const { stdout } = await child;
    return stdout;
  }

  private async kadmin(commands: string[]): Promise<void> {
    // One kadmin.local reading every command from stdin: one process instead of one per command.
    const child = spawn(tool('kadmin.local')!, [], { env: { ...process.env, ...this.env() }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin.end(`${commands.join('\n')}\nquit\n`);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const failed = out.split('\n').find((l) => /error|cannot|failed|unknown/i.test(l));
    if (code !== 0 || failed) throw new Error(`kadmin.local: ${failed ?? `exit ${code}`}`);
  }

  private async writeConfig(): Promise<void> {
    const d = this.dir;
    const krb5 = `[libdefaults]
  default_realm = ${this.realm}
  dns_lookup_realm = false
  dns_lookup_kdc = false
  rdns = false
  dns_canonicalize_hostname = false
  udp_preference_limit = 1
  default_ccache_name = FILE:${d}/default.ccache
  default_keytab_name = FILE:${d}/default.keytab
  forwardable = false
  renew_lifetime = 0
[realms]
  ${this.realm} = {
    kdc = 127.0.0.1:${this._port}
  }
[domain_realm]
  localhost = ${this.realm}
  .localhost = ${this.realm}
  otherhost = ${this.realm}
`;
    const kdc = `[kdcdefaults]
  kdc_listen = 127.0.0.1:${this._port}
  kdc_tcp_listen = 127.0.0.1:${this._port}
[realms]
  ${this.realm} = {
    database_name = ${d}/principal
    key_stash_file = ${d}/stash
    acl_file = ${d}/kadm5.acl
    max_life = ${this.maxLife}s
    max_renewable_life = 0
  }
[logging]
  kdc = FILE:${d}/kdc.log
  admin_server = FILE:${d}/kadmin.log
  default = FILE:${d}/krb5.log
`;
    await writeFile(join(d, 'krb5.conf'), krb5, { mode: 0o600 });
    await writeFile(join(d, 'kdc.conf'), kdc, { mode: 0o600 });
    await writeFile(join(d, 'kadm5.acl'), '', { mode: 0o600 });
  }
}

function withRealm(principal: string, realm: string): string {
  return principal.includes('@') ? principal : `${principal}@${realm}`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
