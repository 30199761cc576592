/**
 * How a foreground server command (`sluice buffer-server`, `sluice gateway`) waits to be stopped:
 * the first SIGTERM or SIGINT resolves, and both handlers are removed so a second signal is left
 * to the default (exit).
 */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
