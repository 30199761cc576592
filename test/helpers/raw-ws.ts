import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status). */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

export const MiB = 1024 * 1024;

export interface RawFrameOptions {
  /** Payload length the frame header declares. */
  declared: number;
  /** Payload bytes actually sent (default: all of them). */
  send?: number;
  /** Send the payload in slices of this many bytes, one slice per `everyMs` (default: all at once). */
  slice?: { bytes: number; everyMs: number };
}

export interface RawFrameClient {
  /** How the server ended the connection: its close frame's code and reason (1006 if none came); whether a challenge came first. */
  readonly closed: Promise<{ code: number; reason: string; challenged: boolean }>;
  destroy(): void;
}

/** Zeros to send from: every connection writes (references to) the same bytes, so a flood costs this process nothing. */
const ZEROS = Buffer.alloc(MiB);

function frameHeader(length: number): Buffer {
  // FIN + binary; the client's mask bit with an all-zero key, so the payload goes as it is.
  const mask = Buffer.alloc(4);
  if (length < 126) return Buffer.concat([Buffer.from([0x82, 0x80 | length]), mask]);
  if (length < 65_536) return Buffer.concat([Buffer.from([0x82, 0x80 | 126, length >> 8, length & 0xff]), mask]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64BE(BigInt(length));
  return Buffer.concat([Buffer.from([0x82, 0x80 | 127]), len, mask]);
}

/**
 * A WebSocket client written against the raw TCP socket, as an attacker would: it upgrades, then
 * declares one binary frame and sends its payload (at once, in slow slices, or only part of it),
 * never authenticating. It reads the server's frames only to learn the close code.
 */
export function rawFrameClient(url: string, o: RawFrameOptions): RawFrameClient {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.setNoDelay(true);
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<{ code: number; reason: string; challenged: boolean }>((resolve) => {
    let upgraded = false;
    let challenged = false;
    let buf = Buffer.alloc(0);
    const done = (code: number, reason: string): void => {
      if (timer) clearInterval(timer);
      socket.destroy();
      resolve({ code, reason, challenged });
    };
    socket.on('error', () => undefined); // writes after the server's close fail; the close code is what counts
    socket.on('close', () => done(1006, ''));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = buf.subarray(0, buf.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101 /.test(status)) return done(-1, status);
        upgraded = true;
        buf = buf.subarray(end + 4);
        sendFrame();
      }
      // Server frames are unmasked: opcode, length, payload.
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1]! & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          at = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          at = 10;
        }
        if (buf.length < at + len) return;
        const opcode = buf[0]! & 0x0f;
        const payload = buf.subarray(at, at + len);
        buf = buf.subarray(at + len);
        if (opcode === 0x2) challenged = true;
        if (opcode === 0x8) return done(payload.length >= 2 ? payload.readUInt16BE(0) : 1005, payload.subarray(2).toString('utf8'));
      }
    });
  });
  const sendFrame = (): void => {
    let left = o.send ?? o.declared;
    socket.write(frameHeader(o.declared));
    const next = (bytes: number): void => {
      while (bytes > 0 && left > 0 && !socket.destroyed) {
        const n = Math.min(bytes, left, ZEROS.length);
        socket.write(ZEROS.subarray(0, n));
        left -= n;
        bytes -= n;
      }
    };
    if (!o.slice) return next(left);
    const slice = o.slice;
    timer = setInterval(() => (left > 0 ? next(slice.bytes) : clearInterval(timer)), slice.everyMs);
  };
  socket.write(
    `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  return { closed, destroy: () => socket.destroy() };
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak seen. */
export function rssSampler(pid: number, everyMs = 20): { stop(): number } {
  let peak = rssOf(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(pid));
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, rssOf(pid));
    },
  };
}
