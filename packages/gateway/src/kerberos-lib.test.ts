import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Every `sluice` command imports this package, worker containers included; a worker image has no
 * GSSAPI library. So the package must not link it until a Kerberos path asks for it.
 */
describe('the kerberos addon', () => {
  it('is not loaded by importing the gateway package, only by the first Kerberos call', () => {
    const dist = fileURLToPath(new URL('../dist/', import.meta.url));
    const script = [
      `const maps = () => (require('node:fs').readFileSync('/proc/self/maps', 'utf8').includes('libgssapi') ? 'loaded' : 'absent');`,
      `import(${JSON.stringify(`${dist}index.js`)}).then(async (g) => {`,
      `  const before = maps();`,
      `  await import(${JSON.stringify(`${dist}kerberos-lib.js`)}).then((k) => k.kerberosLib());`,
      `  console.log(before, maps());`,
      `});`,
    ].join('\n');
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim();
    expect(out).toBe('absent loaded');
  });
});
