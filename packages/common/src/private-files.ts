import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SluiceError, type ErrorCode } from './errors.js';

/**
 * Files that hold secrets or app state (docs/guide.md "The app directory"): written atomically
 * with an exact mode, read only when nobody else may read them and we own them. The one
 * implementation of both rules.
 */

export interface AtomicWriteOptions {
  /**
   * Create the parent directory (0700) when it is missing. Default true. The token state passes
   * false: its directory is made once at start, and one that vanished was removed under us.
   */
  createDir?: boolean;
}

/**
 * Replaces `path` with `data` atomically: a temp file in the same directory, fsync, rename over
 * the target, fsync the directory. `mode` is exact (the umask does not apply). A crash leaves either the old or the new file, never a torn
 * one. Failures are STATE_IO and leave no temp file behind.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600, options: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    if (options.createDir ?? true) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, 'wx', mode);
    try {
      // open() honours the umask, which can only remove bits; fchmod makes the mode exact.
      fchmodSync(fd, mode);
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (err) {
    let message = (err as Error).message;
    try {
      rmSync(tmp, { force: true }); // absent when the rename happened or the file was never made
    } catch (cleanupErr) {
      message += ` (and could not remove ${tmp}: ${(cleanupErr as Error).message})`;
    }
    throw new SluiceError('STATE_IO', `cannot write ${path}: ${message}; check the disk and the directory's permissions`, { cause: err });
  }
}

/**
 * Opens a log or other append-only file of the app directory for appending, 0600 whatever the
 * umask and whatever mode an older copy had (a recovered app appends to its previous log).
 */
export function openPrivateAppend(path: string): number {
  try {
    const fd = openSync(path, 'a', 0o600);
    fchmodSync(fd, 0o600);
    return fd;
  } catch (err) {
    throw new SluiceError('STATE_IO', `cannot open ${path} for appending: ${(err as Error).message}`, { cause: err });
  }
}

export interface PrivateFileRule {
  /** What the file is, for messages: "credentials file", "secret file", "state file". */
  what: string;
  /** The code a refusal carries. */
  code: ErrorCode;
  /** A missing file reads as undefined instead of being refused. */
  missingOk?: boolean;
}

/**
 * Reads a file that holds secrets, refusing one that others may read or that another user owns
 * (ssh's rule for private keys). The checks and the read use one open descriptor, so the file
 * cannot be swapped between them.
 */
export function readPrivateFile(path: string, rule: PrivateFileRule & { missingOk: true }): Buffer | undefined;
export function readPrivateFile(path: string, rule: PrivateFileRule): Buffer;
export function readPrivateFile(path: string, rule: PrivateFileRule): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    if (rule.missingOk && missing) return undefined;
    throw new SluiceError(rule.code, missing ? `${rule.what} ${path} does not exist` : `cannot read ${rule.what} ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    const mode = st.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new SluiceError(rule.code, `${rule.what} ${path} has mode ${mode.toString(8)}; it holds secrets and must be readable by its owner only (chmod 600 ${path})`);
    }
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new SluiceError(rule.code, `${rule.what} ${path} belongs to uid ${st.uid}, not to this user (uid ${uid}); a file of secrets must be our own`);
    }
    return readFileSync(fd);
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw new SluiceError(rule.code, `cannot read ${rule.what} ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}
