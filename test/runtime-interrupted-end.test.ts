import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RecoveryRun } from './helpers/recovery-wordcount.js';
import { runCli, running, until } from './helpers/runtime-cli.js';

/**
 * A STRAM killed while its app was ending (docs/architecture.md "Recovery"): a second Ctrl-C, or
 * `docker stop`'s SIGKILL after its grace period, cuts the teardown short. state.json said the end
 * had begun, so `sluice launch --recover` finishes the end — the containers still running are
 * stopped, the runtime files removed — and refuses to resume the app in one line, instead of
 * bringing a stopped app back to life.
 */
describe('an end cut short', () => {
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it('--recover of an app whose STRAM was killed mid-shutdown finishes the shutdown and does not resume it', async () => {
    run = new RecoveryRun();
    await run.launch();
    await run.untilOutputHas(10);
    const r = run;
    const containers = await r.containers();
    // c4 stopped: it cannot obey the shutdown, so the teardown waits out its 10 s grace period.
    const c4 = containers.find((c) => c.id === 'c4')!.pid!;
    process.kill(c4, 'SIGSTOP');
    r.stram.kill('SIGTERM');
    const state = join(r.appDir, 'stram', 'state.json');
    await until(() => existsSync(state) && (JSON.parse(readFileSync(state, 'utf8')) as { ending?: unknown }).ending !== undefined, 50);
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ ending: { state: 'stopped', reason: 'SIGTERM at the launching terminal' } });
    r.stram.kill('SIGKILL');
    await r.stram.exited;
    expect(running(c4)).toBe(true);

    const refused = await runCli(['launch', '--recover', r.appDir], r.tmp.path);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/was being shut down at \S+ \(SIGTERM at the launching terminal\) when its STRAM stopped; its end is now finished and it is not resumed: launch it anew \[APP_ENDED\]$/m);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    // The end is finished: no container left, nothing that grants access or resumes the app.
    for (const c of containers) expect(running(c.pid!), c.id).toBe(false);
    for (const f of ['stram/state.json', 'stram.json', 'web-token', ...containers.map((c) => `containers/${c.id}/credentials`)]) expect(existsSync(join(r.appDir, f)), f).toBe(false);
    expect((await r.outputWindows()).length).toBeGreaterThanOrEqual(10);
    const again = await runCli(['launch', '--recover', r.appDir], r.tmp.path);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/the app in \S+ was shut down; a stopped app is not resumed: launch it anew \[APP_ENDED\]$/m);
  }, 120_000);
});
