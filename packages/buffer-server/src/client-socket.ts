import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { ConnectionClosedError, SluiceError } from '@sluice/common';
import { BurstCork } from './burst-cork.js';

/**
 * Bits both client sides share: corking a socket per burst of sends, waiting for room in it,
 * and turning the close into a promise.
 */
export class ClientSocket {
  private readonly cork: BurstCork;
  private readonly raw: Socket;
  closeInfo: { code: number; reason: string } | null = null;
  readonly closed: Promise<void>;

  constructor(
    readonly socket: WebSocket,
    onClose?: (code: number, reason: string) => void,
  ) {
    this.cork = new BurstCork(socket);
    this.raw = this.cork.raw;
    socket.on('error', () => {
      // The close event that follows carries what a caller needs; nothing else to do here.
    });
    this.closed = new Promise((resolve) => {
      const done = (code: number, reason: Buffer): void => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        onClose?.(code, this.closeInfo.reason);
        resolve();
      };
      if (socket.readyState === 3) done(1006, Buffer.alloc(0));
      else socket.once('close', done);
    });
  }

  send(frame: Buffer): void {
    if (this.socket.readyState !== 1) {
      const info = this.closeInfo;
      throw info ? new ConnectionClosedError(info.code, info.reason) : new SluiceError('CONNECTION_CLOSED', 'connection is closing; nothing more can be sent');
    }
    this.cork.hold();
    this.socket.send(frame);
  }

  /** Resolves once fewer than `threshold` bytes wait in the socket; rejects if it closes first. */
  ready(threshold: number): Promise<void> {
    if (this.socket.readyState !== 1) return Promise.reject(this.closedError());
    if (this.socket.bufferedAmount < threshold) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.socket.readyState !== 1) {
          cleanup();
          reject(this.closedError());
        } else if (this.socket.bufferedAmount < threshold) {
          cleanup();
          resolve();
        }
      };
      // Not 'drain' alone: it never fires when the buffer is already below the socket's mark.
      const timer = setInterval(check, 10);
      const cleanup = (): void => {
        clearInterval(timer);
        this.raw.off('drain', check);
        this.socket.off('close', check);
      };
      this.raw.on('drain', check);
      this.socket.on('close', check);
    });
  }

  async close(code = 1000, reason = ''): Promise<void> {
    if (this.socket.readyState === 0 || this.socket.readyState === 1) this.socket.close(code, reason);
    const timer = setTimeout(() => this.socket.terminate(), 2000);
    await this.closed;
    clearTimeout(timer);
  }

  private closedError(): SluiceError {
    const info = this.closeInfo;
    return info ? new ConnectionClosedError(info.code, info.reason) : new SluiceError('CONNECTION_CLOSED', 'connection is closing');
  }
}
