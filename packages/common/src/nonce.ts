import { randomBytes } from 'node:crypto';

/**
 * The 32-byte nonces of the handshake (docs/protocol.md "Authenticated connection": the server's
 * `nonce`, the client's `cnonce`), cut from a pool of CSPRNG bytes: one call into the CSPRNG per
 * 64 handshakes instead of one per nonce (ws keeps its masks the same way). Every nonce is a slice
 * of its own; a used-up pool is dropped, never refilled in place, so no byte is handed out twice
 * and a nonce never changes after it is taken.
 */
export const NONCE_BYTES = 32;
const POOL_BYTES = NONCE_BYTES * 64;

let pool: Buffer = Buffer.alloc(0);
let taken = 0;

export function randomNonce(): Buffer {
  if (taken === pool.length) {
    pool = randomBytes(POOL_BYTES);
    taken = 0;
  }
  const nonce = pool.subarray(taken, taken + NONCE_BYTES);
  taken += NONCE_BYTES;
  return nonce;
}
