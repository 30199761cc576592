import type { Socket } from 'node:net';
import type WebSocket from 'ws';

/**
 * Corks a ws connection's TCP socket for the rest of the current tick, so a burst of sends costs
 * one syscall instead of one per frame; still respects backpressure.
 */
export class BurstCork {
  /** The TCP socket under the ws connection (for cork/uncork and 'drain'). */
  readonly raw: Socket;
  private corked = false;

  constructor(socket: WebSocket) {
    this.raw = (socket as WebSocket & { _socket: Socket })._socket;
  }

  /** Call before each send of a burst. */
  hold(): void {
    if (this.corked) return;
    this.corked = true;
    this.raw.cork();
    process.nextTick(() => {
      this.corked = false;
      this.raw.uncork();
    });
  }
}
