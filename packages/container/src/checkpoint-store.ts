import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError, decode, encode, writeFileAtomic } from '@sluice/common';

/**
 * Where operator checkpoints live (docs/architecture.md "Recovery"): the app directory
 * (FileCheckpointStore) or the app's PostgreSQL schema (postgres-checkpoint-store.ts). Recovery
 * and the committed window work the same over either: `save` is durable when it resolves, `load`
 * returns what `save` stored, `prune` keeps `committed` and later windows.
 */
export interface CheckpointStore {
  save(operatorId: string, w: number, state: unknown): Promise<void>;
  load(operatorId: string, w: number): Promise<unknown>;
  /** Checkpointed windows of an operator, ascending. */
  windows(operatorId: string): Promise<number[]>;
  /** Deletes checkpoints older than `committed`; the committed one stays, recovery restores from it. */
  prune(operatorId: string, committed: number): Promise<void>;
  /** Releases what the store holds open (connections); the files need nothing. */
  close(): Promise<void>;
}

/** Physical ids are `name#partition` with validated names: safe as a directory name or a key. */
export function checkOperatorId(operatorId: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_-]*#\d+$/.test(operatorId)) throw new SluiceError('BAD_CONFIG', `"${operatorId}" is not a physical operator id`);
  return operatorId;
}

/**
 * Operator checkpoints on disk (docs/architecture.md "Recovery"):
 * `<appDir>/checkpoints/<operatorId>/<window>`, each the MessagePack of `{ w, state }`, written
 * atomically (temp file, fsync, rename) so a crash leaves the previous checkpoint intact. Operator
 * state is the app's data: directories 0700 and files 0600, like the rest of the app directory.
 */
export class FileCheckpointStore implements CheckpointStore {
  private readonly root: string;

  constructor(appDir: string) {
    this.root = join(appDir, 'checkpoints');
  }

  private dir(operatorId: string): string {
    return join(this.root, checkOperatorId(operatorId));
  }

  save(operatorId: string, w: number, state: unknown): Promise<void> {
    return Promise.resolve().then(() => this.saveNow(operatorId, w, state));
  }

  load(operatorId: string, w: number): Promise<unknown> {
    return Promise.resolve().then(() => this.loadNow(operatorId, w));
  }

  windows(operatorId: string): Promise<number[]> {
    return Promise.resolve().then(() => this.windowsNow(operatorId));
  }

  prune(operatorId: string, committed: number): Promise<void> {
    return Promise.resolve().then(() => {
      for (const w of this.windowsNow(operatorId)) {
        if (w < committed) rmSync(join(this.dir(operatorId), String(w)), { force: true });
      }
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  saveNow(operatorId: string, w: number, state: unknown): void {
    writeFileAtomic(join(this.dir(operatorId), String(w)), encode({ w, state: state === undefined ? null : state }), 0o600);
  }

  /** `load`, at once (runLocal's readers). */
  loadNow(operatorId: string, w: number): unknown {
    const path = join(this.dir(operatorId), String(w));
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw new SluiceError('STATE_IO', `checkpoint ${w} of ${operatorId} cannot be read (${path}): ${(err as Error).message}`, { cause: err });
    }
    const value = decode(bytes) as { w?: unknown; state?: unknown } | null;
    if (value === null || typeof value !== 'object' || value.w !== w) {
      throw new SluiceError('STATE_CORRUPT', `checkpoint ${path} is damaged: it does not hold window ${w}`);
    }
    return value.state;
  }

  /** `windows`, at once (runLocal's readers). */
  windowsNow(operatorId: string): number[] {
    const dir = this.dir(operatorId);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => /^\d+$/.test(f))
      .map(Number)
      .sort((a, b) => a - b);
  }
}
