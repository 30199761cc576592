import pg from 'pg';

/**
 * Tries a PostgreSQL login (a store credential's fields, or user and password on a test
 * cluster): 'accepted', or the SQLSTATE PostgreSQL refused it with (28P01: bad password, expired
 * or NOLOGIN), so a test asserts the refusal code rather than its wording.
 */
export async function loginOutcome(login: { host?: string; port?: string | number; database?: string; user?: string; password?: string }): Promise<string> {
  const c = new pg.Client({ host: login.host, port: Number(login.port), database: login.database ?? 'postgres', user: login.user, password: login.password });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.end();
    return 'accepted';
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  }
}
