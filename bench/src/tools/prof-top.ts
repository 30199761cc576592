import { readFileSync } from 'node:fs';

/**
 * `node bench/dist/tools/prof-top.js FILE.cpuprofile [N]`: the top self-time functions of a
 * V8 CPU profile (from `node --cpu-prof`), for finding the hot path without a browser.
 * `--by-package` sums self time per package (ws, msgpackr, packages/buffer-server, GC, ...).
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}
interface Profile {
  startTime: number;
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const argv = process.argv.slice(2);
const fromIdx = argv.indexOf('--from');
/** `--from S`: only samples taken S seconds or more after the profile started (skip start-up). */
const fromS = fromIdx >= 0 ? Number(argv.splice(fromIdx, 2)[1]) : 0;
const [file, nArg, mode] = argv;
if (!file) throw new Error('usage: prof-top FILE.cpuprofile [N] [--by-package] [--from SECONDS]');
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const self = new Map<number, number>();
let t = 0;
prof.samples.forEach((id, i) => {
  t += prof.timeDeltas[i] ?? 0;
  if (t >= fromS * 1e6) self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
});
const byFn = new Map<string, number>();
let total = 0;
for (const n of prof.nodes) {
  const t = self.get(n.id) ?? 0;
  total += t;
  const url = n.callFrame.url.replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '').replace(/^file:\/\/\/work\/main\//, '');
  const key =
    mode === '--by-package'
      ? url.startsWith('packages/') || url.startsWith('bench/')
        ? url.split('/').slice(0, 2).join('/')
        : url.startsWith('node:')
          ? 'node internals'
          : url
            ? url.split('/')[0]!
            : n.callFrame.functionName || '(native)'
      : `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`;
  byFn.set(key, (byFn.get(key) ?? 0) + t);
}
// Piped into head: a reader that has gone away ends the listing, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const rows = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(nArg ?? 25));
process.stdout.write(`total ${(total / 1000).toFixed(0)} ms sampled\n`);
for (const [k, t] of rows) process.stdout.write(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${(t / 1000).toFixed(0).padStart(6)} ms  ${k}\n`);
