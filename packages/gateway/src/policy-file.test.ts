import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SluiceError, createLogger } from '@sluice/common';
import { PolicyFile } from './policy-file.js';

describe('the policy file: reloaded on change, the last good one kept', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  const setup = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-policy-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, text);
    const counts = { applied: 0, rejected: 0 };
    const open = () => PolicyFile.open(file, { logger: createLogger({ name: 'policy-test', level: 'silent' }), reloads: { applied: () => counts.applied++, rejected: () => counts.rejected++ }, debounceMs: 10, pollMs: 50 });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return { file, counts, open };
  };
  const grant = (who: string) => `roles: {r: [VIEW_AUDIT]}\nbindings:\n  - role: r\n    principals: [${who}]\n`;

  it('applies a valid change, refuses a broken one once (keeping the last good), and forgets the refusal when the good text is back', () => {
    const { file, counts, open } = setup(grant('a@R'));
    const pf = open();
    cleanups.push(() => pf.close());
    writeFileSync(file, grant('b@R'));
    pf.reload();
    expect([pf.current().rolesOf('b@R'), counts]).toEqual([['r'], { applied: 1, rejected: 0 }]);
    writeFileSync(file, 'roles: {r: [VIEW_AUDIT]}\nbindings:\n  - role: q\n    principals: [c@R]\n');
    pf.reload();
    pf.reload();
    expect([pf.current().rolesOf('b@R'), counts]).toEqual([['r'], { applied: 1, rejected: 1 }]);
    expect(pf.answer().rejected).toEqual([`${file}:3:11: bindings.0.role: no role "q" in roles (r)`]);
    writeFileSync(file, grant('b@R'));
    pf.reload();
    expect([pf.answer().rejected, counts]).toEqual([[], { applied: 1, rejected: 1 }]);
    rmSync(file);
    pf.reload();
    expect([pf.current().rolesOf('b@R'), pf.answer().rejected]).toEqual([['r'], [`${file}: no such policy file`]]);
  });

  it('sees a change on its own, without a call to reload', async () => {
    const { file, counts, open } = setup(grant('a@R'));
    const pf = open();
    cleanups.push(() => pf.close());
    writeFileSync(file, grant('z@R'));
    for (let i = 0; i < 100 && counts.applied === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pf.current().rolesOf('z@R')).toEqual(['r']);
  });

  it('refuses to open a broken policy, naming the first fault and how many more', () => {
    const { open } = setup('roles: {r: [NOPE], s: [NEVER]}\n');
    expect(open).toThrow(SluiceError);
    expect(open).toThrow(/policy\.yaml:1:13: roles\.r\.0: .* \(and 1 more: sluice policy check .* lists them\)$/);
  });
});
