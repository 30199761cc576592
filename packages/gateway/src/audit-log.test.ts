import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Action, Outcome, type AuditRecord } from './api.js';
import { AUDIT_FILE, AuditLog } from './audit-log.js';

describe('the audit log', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const record = (app: string, outcome: Outcome = Outcome.allowed): AuditRecord => ({ time: new Date(0).toISOString(), principal: 'alice@R', realUser: '', action: Action.shutdown, app, outcome, rule: 'owner', status: 202 });

  it('appends one line per record to a 0600 file, and reads the last ones back, of one app or all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-audit-'));
    dirs.push(dir);
    const log = AuditLog.open(dir);
    for (const app of ['a', 'b', 'a', 'c']) log.append(record(app));
    log.close();
    expect(statSync(join(dir, AUDIT_FILE)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, AUDIT_FILE), 'utf8').split('\n')).toHaveLength(5);
    const again = AuditLog.open(dir);
    again.append(record('d', Outcome.denied));
    expect(again.read(2).map((r) => r.app)).toEqual(['c', 'd']);
    expect(again.read(10, 'a')).toHaveLength(2);
    again.close();
  });

  it('closes down a file others may read, and ends a line a crash cut short before appending', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-audit-'));
    dirs.push(dir);
    writeFileSync(join(dir, AUDIT_FILE), `${JSON.stringify(record('a'))}\n{"time":"2026-`, { mode: 0o644 });
    const log = AuditLog.open(dir);
    log.append(record('b'));
    expect(statSync(join(dir, AUDIT_FILE)).mode & 0o777).toBe(0o600);
    expect(log.read(10).map((r) => r.app)).toEqual(['a', 'b']);
    log.close();
  });
});
