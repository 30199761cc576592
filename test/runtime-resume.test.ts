import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WORDCOUNT, runCli, startCli, tempDir, type CliProcess } from './helpers/runtime-cli.js';

/**
 * `sluice launch APP --resume --app-dir D`, the command of a STRAM its orchestrator restarts
 * (docs/swarm.md): the first run launches APP into D, a run after that STRAM died recovers the
 * app D holds (same app id, its containers adopted), and a clean shutdown ends it.
 */
describe('sluice launch --resume', () => {
  const tmp = tempDir('sluice-resume-');
  const strams: CliProcess[] = [];
  afterAll(async () => {
    for (const s of strams) s.child.kill('SIGKILL');
    await Promise.all(strams.map((s) => s.exited));
    tmp.remove();
  });

  it('launches into a new directory, then recovers the app there after its STRAM was killed', async () => {
    const appDir = join(tmp.path, 'app');
    const first = startCli(['launch', WORDCOUNT, '--resume', '--app-dir', appDir], tmp.path);
    strams.push(first);
    const app = (await first.waitFor(/^launched (\S+)$/m))[1]!;
    first.child.kill('SIGKILL');
    await first.exited;
    const second = startCli(['launch', WORDCOUNT, '--resume', '--app-dir', appDir], tmp.path);
    strams.push(second);
    expect((await second.waitFor(/^recovered (\S+)$/m))[1]).toBe(app);
    const s = await runCli(['shutdown', '--app-dir', appDir], tmp.path);
    expect(s.stdout, s.stderr).toContain(`${app} stopped`);
    expect((await second.exited).code).toBe(0);
    // The orchestrator starting it again (a restart, a node reboot): the app has ended and stays so,
    // and --resume says so with exit 0, so a restart-on-failure policy stops there.
    const third = await runCli(['launch', WORDCOUNT, '--resume', '--app-dir', appDir], tmp.path);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/was shut down; a stopped app is not resumed: launch it anew; --resume leaves an ended app ended \[APP_ENDED\]$/m);
    expect(existsSync(join(appDir, 'stram', 'state.json'))).toBe(false);
  }, 60_000);

  it('needs an app module and --app-dir, and not --recover', async () => {
    const r = await runCli(['launch', WORDCOUNT, '--resume'], tmp.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--resume takes an app module and --app-dir (not --recover) [BAD_USAGE]');
  });
});
