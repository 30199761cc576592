import type { Logger } from '@sluice/common';

/** One part of a container's teardown, named for the log line that says which one hung. */
export type TeardownStep = readonly [name: string, run: () => Promise<void> | undefined];

/**
 * Runs a container's teardown steps in order for at most `graceMs` (docs/architecture.md
 * "Recovery"): a close that never settles must not keep a stopping container alive, nor let it
 * end with the clean exit 0 Node gives when the event loop drains under a pending await. The
 * timer holds the process until the caller exits with its own code. An error ends the teardown
 * (logged with its step). Resolves to the name of the step still running when the grace ran
 * out (logged too), or undefined once every step is done.
 */
export async function teardownWithin(steps: readonly TeardownStep[], graceMs: number, log: Logger): Promise<string | undefined> {
  let current: string | undefined;
  const work = (async () => {
    for (const [name, run] of steps) {
      current = name;
      try {
        await run();
      } catch (err) {
        log.error({ err: (err as Error).message, step: name }, 'error while stopping');
        break;
      }
    }
    current = undefined;
  })();
  let grace: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([work.then(() => false), new Promise<boolean>((r) => (grace = setTimeout(() => r(true), graceMs)))]);
  clearTimeout(grace);
  if (!timedOut) return undefined;
  log.error({ step: current, graceMs }, 'stopping did not finish in time; exiting anyway');
  return current;
}
