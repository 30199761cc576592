import { asyncStderr, createLogger } from '@sluice/common';

/**
 * `node log-burst.js HOW N`: logs N numbered lines through the asynchronous stderr destination,
 * then ends at once in the way HOW names: `return` (the event loop runs dry), `exit`
 * (process.exit(3)), `throw` (an uncaught exception), `reject` (an unhandled rejection) or
 * `sigterm` (SIGTERM to itself, handled by exiting as the servers do); or `serve`: goes on
 * logging a line every 5 ms until SIGTERM, handled by exiting as the servers do (it prints `ready` on
 * stdout once that handler is in place).
 */
const [how, n] = [process.argv[2], Number(process.argv[3])];
const log = createLogger({ name: 'burst', destination: asyncStderr() });
// A server handles SIGTERM from its start: so does `serve`, even while its first burst is blocked on a full pipe.
if (how === 'serve') {
  process.once('SIGTERM', () => process.exit(0));
  process.stdout.write('ready\n');
}
for (let i = 0; i < n; i++) log.info({ i }, 'burst line');
switch (how) {
  case 'exit':
    process.exit(3);
    break;
  case 'throw':
    throw new Error('crash right after logging');
  case 'reject':
    void Promise.reject(new Error('rejected right after logging'));
    break;
  case 'sigterm':
    process.once('SIGTERM', () => process.exit(0));
    process.kill(process.pid, 'SIGTERM');
    setTimeout(() => {}, 5000);
    break;
  case 'serve': {
    let i = n;
    setInterval(() => log.info({ i: i++ }, 'burst line'), 5);
    break;
  }
  default:
}
