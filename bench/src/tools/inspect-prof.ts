import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

/**
 * `node bench/dist/tools/inspect-prof.js PID SECONDS OUT.cpuprofile [PORT]`: CPU-profiles a running
 * node process that was started without `--cpu-prof` (a container STRAM spawned): SIGUSR1 opens
 * its inspector on 127.0.0.1:9229, then the DevTools protocol's Profiler records for SECONDS.
 * One process at a time (the inspector port is shared).
 */
const [pidArg, secondsArg, out, portArg] = process.argv.slice(2);
if (!pidArg || !secondsArg || !out) throw new Error('usage: inspect-prof PID SECONDS OUT.cpuprofile [PORT]');
const port = Number(portArg ?? 9229);
process.kill(Number(pidArg), 'SIGUSR1');
let target: { webSocketDebuggerUrl: string } | undefined;
for (let i = 0; i < 50 && !target; i++) {
  await new Promise((r) => setTimeout(r, 100));
  try {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    target = list[0];
  } catch {
    // Not listening yet.
  }
}
if (!target) throw new Error(`no inspector on port ${port} after SIGUSR1 to ${pidArg}`);
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.once('open', r));
let id = 0;
const pending = new Map<number, (v: unknown) => void>();
ws.on('message', (d: Buffer) => {
  const m = JSON.parse(d.toString()) as { id?: number; result?: unknown };
  if (m.id !== undefined) pending.get(m.id)?.(m.result);
});
const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
  new Promise((resolve) => {
    pending.set(++id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
await call('Profiler.enable');
await call('Profiler.setSamplingInterval', { interval: 1000 });
await call('Profiler.start');
await new Promise((r) => setTimeout(r, Number(secondsArg) * 1000));
const { profile } = (await call('Profiler.stop')) as { profile: unknown };
writeFileSync(out, JSON.stringify(profile));
// Close the inspector again so the next process can take the port (undocumented but long-standing).
await Promise.race([call('Runtime.evaluate', { expression: 'process._debugEnd()' }), new Promise((r) => setTimeout(r, 500))]);
ws.close();
process.stdout.write(`wrote ${out}\n`);
