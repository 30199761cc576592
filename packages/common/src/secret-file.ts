import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { SluiceError } from './errors.js';
import { readPrivateFile } from './private-files.js';

/** A new 256-bit key from the system CSPRNG. */
export function generateSecret(): Buffer {
  return randomBytes(32);
}

/**
 * Writes a buffer-server secret file (docs/protocol.md "Tokens": 64 lowercase hex characters and a
 * newline, mode 0600). Refuses to overwrite: replacing a live secret would cut off every holder
 * of a token minted from it.
 */
export function writeSecretFile(path: string, secret: Uint8Array = generateSecret()): void {
  try {
    writeFileSync(path, `${Buffer.from(secret).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new SluiceError('FILE_EXISTS', `${path} already exists; refusing to overwrite a secret (remove it first if you mean to)`, { cause: err });
    }
    throw new SluiceError('STATE_IO', `cannot write secret file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a secret file; refuses one that others can read or another user owns, like ssh does with private keys. */
export function readSecretFile(path: string): Buffer {
  const text = readPrivateFile(path, { what: 'secret file', code: 'BAD_CONFIG' }).toString('utf8');
  if (!/^[0-9a-f]{64}\n?$/.test(text)) {
    throw new SluiceError('BAD_CONFIG', `secret file ${path} must hold 64 lowercase hex characters and a newline (make one with: sluice secret --out FILE)`);
  }
  return Buffer.from(text.trim(), 'hex');
}
