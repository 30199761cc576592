import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, rmdirSync, unlinkSync, writevSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Where windows go when memory is full (docs/protocol.md "Bounds"). One append-only file per
 * (stream, window); frames are stored back to back and their offsets stay in memory, so a reader
 * can fetch any range of frames without parsing the file. Synchronous I/O keeps the order of
 * writes and reads obvious; it only runs on the slow path (subscribers lagging past memory).
 */
export interface SpoolFile {
  readonly path: string;
  /** Byte offset of each spooled frame, plus a final entry: the file size. */
  readonly offsets: number[];
}

export class Spool {
  private readonly dir: string;
  /** The directories above `dir` this spool created (deepest first): removed with it when empty. */
  private readonly made: string[] = [];
  private bytesUsed = 0;
  private seq = 0;

  constructor(
    parent: string,
    id: string,
    readonly limit: number,
  ) {
    const first = mkdirSync(parent, { recursive: true, mode: 0o700 });
    if (first !== undefined) {
      for (let d = resolve(parent); ; d = dirname(d)) {
        this.made.push(d);
        if (d === resolve(first) || dirname(d) === d) break;
      }
    }
    // A directory of our own: clean shutdown removes it whole, two servers never share files.
    this.dir = mkdtempSync(join(parent, `bs-${id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}-`));
  }

  get bytes(): number {
    return this.bytesUsed;
  }

  get directory(): string {
    return this.dir;
  }

  /** True when `n` more bytes fit under the spool limit. */
  fits(n: number): boolean {
    return this.bytesUsed + n <= this.limit;
  }

  create(): SpoolFile {
    return { path: join(this.dir, `w${++this.seq}.spool`), offsets: [0] };
  }

  /**
   * Appends frames to a spool file. The caller checked `fits` first. The frames go to the file as
   * they are (one writev), not copied into one buffer first: a spill moves tens of MiB at once.
   */
  append(file: SpoolFile, frames: readonly Buffer[]): number {
    let size = 0;
    for (const f of frames) size += f.length;
    const fd = openSync(file.path, 'a', 0o600);
    try {
      writeAll(fd, frames, size);
    } finally {
      closeSync(fd);
    }
    let end = file.offsets[file.offsets.length - 1]!;
    for (const f of frames) {
      end += f.length;
      file.offsets.push(end);
    }
    this.bytesUsed += size;
    return size;
  }

  /** Reads frames [from, to) back, as separate buffers over one read. */
  read(file: SpoolFile, from: number, to: number): Buffer[] {
    const start = file.offsets[from]!;
    const end = file.offsets[to]!;
    const data = Buffer.allocUnsafe(end - start);
    const fd = openSync(file.path, 'r');
    try {
      let got = 0;
      while (got < data.length) {
        const n = readSync(fd, data, got, data.length - got, start + got);
        if (n === 0) throw new Error(`spool file ${file.path} is shorter than expected`);
        got += n;
      }
    } finally {
      closeSync(fd);
    }
    const out: Buffer[] = [];
    for (let i = from; i < to; i++) out.push(data.subarray(file.offsets[i]! - start, file.offsets[i + 1]! - start));
    return out;
  }

  remove(file: SpoolFile): void {
    const size = file.offsets[file.offsets.length - 1]!;
    this.bytesUsed -= size;
    try {
      unlinkSync(file.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Removes every spool file and the directory (clean shutdown). */
  removeAll(): void {
    rmSync(this.dir, { recursive: true, force: true });
    // A server that made its spool's parent leaves nothing behind, not even an empty directory;
    // one that another process shares is not empty and stays.
    for (const d of this.made) {
      try {
        rmdirSync(d);
      } catch {
        break;
      }
    }
    this.bytesUsed = 0;
  }
}

/** Writes every byte of `frames` (`size` in all) at the file's end, going on after a short write. */
function writeAll(fd: number, frames: readonly Buffer[], size: number): void {
  let written = writevSync(fd, frames as Buffer[]);
  while (written < size) written += writevSync(fd, after(frames, written));
}

/** The bytes of `frames` after the first `skip`. */
function after(frames: readonly Buffer[], skip: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const f of frames) {
    if (skip >= f.length) skip -= f.length;
    else {
      rest.push(skip > 0 ? f.subarray(skip) : f);
      skip = 0;
    }
  }
  return rest;
}
