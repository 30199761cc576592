import { closeSync, fchmodSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError, type Logger } from '@sluice/common';
import { Outcome, type Action, type AuditRecord } from './api.js';
import type { Decision } from './access.js';
import type { Caller } from './auth.js';

/**
 * The audit trail (docs/security.md "Audit"): `<state-dir>/audit.jsonl`, one JSON line per
 * state-changing request and per denial, appended and never rewritten. The file is opened
 * O_APPEND and kept 0600; each record is one write of one line, so concurrent requests never
 * interleave within a line. A record holds names, actions, rules and statuses: never a token,
 * ticket or key (the gateway has none of those in hand when it writes one).
 */

export const AUDIT_FILE = 'audit.jsonl';

/** The most records one `GET /api/v1/audit` returns. */
export const MAX_AUDIT_READ = 10_000;

export class AuditLog {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
  ) {}

  static open(stateDir: string): AuditLog {
    const path = join(stateDir, AUDIT_FILE);
    let fd: number;
    try {
      fd = openSync(path, 'a', 0o600);
      // A file someone made readable to others is closed back down: the trail names who did what.
      const stat = fstatSync(fd);
      if ((stat.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
      // A line a crash cut short is ended, so the next record starts a line of its own.
      if (stat.size > 0 && readFileSync(path).at(-1) !== 0x0a) writeSync(fd, '\n');
    } catch (err) {
      throw new SluiceError('STATE_IO', `cannot open the audit log ${path} (${(err as Error).message}); the gateway serves nothing it cannot audit`, { cause: err });
    }
    return new AuditLog(path, fd);
  }

  append(record: AuditRecord): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
  }

  /** The last `limit` records, oldest first, optionally of one app. */
  read(limit: number, app?: string): AuditRecord[] {
    const lines = readFileSync(this.path, 'utf8').split('\n').filter(Boolean);
    const records: AuditRecord[] = [];
    for (let i = lines.length - 1; i >= 0 && records.length < limit; i--) {
      let r: AuditRecord;
      try {
        r = JSON.parse(lines[i]!) as AuditRecord;
      } catch {
        continue; // a line a crash cut short
      }
      if (app === undefined || r.app === app) records.push(r);
    }
    return records.reverse();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** What one audited request was: who asked, for what, about which app, and what authorize() said. */
export interface AuditedRequest {
  caller: Caller;
  action: Action;
  app: string;
  decision: Decision;
}

/** Appends the record of one request that reached authorization (every state-changing one, every denial); a failed write is logged, not thrown. */
export function auditDecision(log: AuditLog, logger: Logger, d: AuditedRequest, status: number): void {
  try {
    log.append({
      time: new Date().toISOString(),
      principal: d.caller.principal,
      realUser: '',
      action: d.action,
      app: d.app,
      outcome: d.decision.allowed ? Outcome.allowed : Outcome.denied,
      rule: d.decision.rule,
      status,
    });
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'cannot append to the audit log');
  }
}
