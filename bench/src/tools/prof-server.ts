import { writeFileSync } from 'node:fs';
import { generateSecret, mintBufferToken, tokenToText } from '@sluice/common';
import { startBufferServer } from '@sluice/buffer-server';

/**
 * For profiling by hand (bench/tmp/prof.sh): a buffer server in this process with a large memory
 * limit, writing pub.tok / sub.tok into the working directory. Not used by the suite.
 */
const secret = generateSecret();
const server = await startBufferServer({ id: 'prof', secret, memoryLimit: 4 * 1024 ** 3 });
for (const [file, access] of [['pub.tok', 'publish'], ['sub.tok', 'subscribe']] as const) {
  const t = mintBufferToken({ secret, bs: 'prof', streams: ['bench'], access, owner: 'bench', now: Date.now(), ttlMs: 3_600_000 });
  writeFileSync(file, tokenToText(t), { mode: 0o600 });
}
process.stdout.write(`${JSON.stringify({ ready: { url: server.url } })}\n`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
