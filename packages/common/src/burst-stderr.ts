import { writeSync } from 'node:fs';

/**
 * stderr written in bursts (docs/guide.md "Logs"): lines are held in memory and written with
 * one `write(2)` per 8 KiB or per 100 ms, whichever comes first, instead of one per line. Every
 * write is synchronous, so nothing is ever in flight in another thread: what has not been written
 * is exactly what is held, and the process's end writes it — `exit` (a normal end, process.exit,
 * SIGTERM / SIGINT handled by exiting) and `uncaughtExceptionMonitor` (a crash or an unhandled
 * rejection: the lines come before Node's stack trace).
 *
 * The final write is bounded. A reader that went away (EPIPE: spawnSync closes its pipes when it
 * kills a child for its timeout or maxBuffer) cannot receive anything, so the lines are dropped
 * and the process ends; a full non-blocking pipe (EAGAIN) is waited on while its reader takes
 * bytes, and given up after {@link FINAL_FLUSH_MS} without progress (a pipe nobody reads). While
 * the process runs, a full pipe keeps lines held, up to {@link MAX_HELD_BYTES}; lines beyond are
 * counted and the count written as a line of its own once the pipe takes bytes again. (pino's own asynchronous destination retries any
 * failed write forever at exit, which is how a server under spawnSync never ended.)
 */

const BURST_BYTES = 8192;
const BURST_MS = 100;
/** How long the end of the process waits for a full pipe's reader to take any byte. */
export const FINAL_FLUSH_MS = 2000;
/** Lines held while stderr is full, at most (then dropped and counted). */
export const MAX_HELD_BYTES = 8 << 20;
const RETRY_SLEEP_MS = 10;
const WRITE_PIECE = 16384;

export class BurstWriter {
  private held: string[] = [];
  /** The unwritten tail of a burst a full pipe took only part of (bytes: it may end mid-character). */
  private rest: Buffer | undefined;
  private heldBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Set once the reader is gone: later lines are dropped. */
  private closed = false;
  private dropped = 0;

  constructor(private readonly fd: number) {
    process.on('exit', this.final);
    process.on('uncaughtExceptionMonitor', this.final);
  }

  write(line: string): void {
    if (this.closed) return;
    if (this.heldBytes >= MAX_HELD_BYTES) {
      this.dropped++;
      return;
    }
    this.held.push(line);
    this.heldBytes += line.length;
    // After a full pipe (a tail kept) the next try waits for the timer, not the next line.
    if (this.heldBytes >= BURST_BYTES && !this.rest) this.flush();
    else this.timer ??= setTimeout(this.flush, BURST_MS).unref();
  }

  /** Writes what is held now; a full pipe keeps the rest for the next burst. */
  flush = (): void => {
    this.writeHeld(0);
  };

  private final = (): void => {
    this.writeHeld(FINAL_FLUSH_MS);
  };

  private writeHeld(waitMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if ((this.held.length === 0 && !this.rest) || this.closed) return;
    const joined = Buffer.from(this.held.join(''), 'utf8');
    let bytes = this.rest ? Buffer.concat([this.rest, joined]) : joined;
    this.rest = undefined;
    this.held = [];
    this.heldBytes = 0;
    if (this.dropped > 0) {
      bytes = Buffer.concat([bytes, Buffer.from(`${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, msg: `${this.dropped} log lines dropped: stderr was full` })}\n`)]);
      this.dropped = 0;
    }
    let deadline = Date.now() + waitMs;
    while (bytes.length > 0) {
      try {
        // In pieces: a full socket takes a small write as soon as its reader frees a little room.
        bytes = bytes.subarray(writeSync(this.fd, bytes, 0, Math.min(bytes.length, WRITE_PIECE)));
        deadline = Date.now() + waitMs;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN' || this.closed) return this.close();
        if (Date.now() >= deadline) {
          if (waitMs > 0) return this.close();
          return this.keep(bytes);
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_SLEEP_MS);
      }
    }
  }

  private keep(rest: Buffer): void {
    this.rest = rest;
    this.heldBytes += rest.length;
    this.timer ??= setTimeout(this.flush, BURST_MS).unref();
  }

  private close(): void {
    this.closed = true;
    this.held = [];
    this.rest = undefined;
    this.heldBytes = 0;
  }
}

let shared: BurstWriter | undefined;

/** The process's one burst writer for stderr: every logger using it keeps its lines in order. */
export function burstStderr(): BurstWriter {
  shared ??= new BurstWriter(2);
  return shared;
}
