import { defineConfig } from 'vitest/config';

// One root config, one project per package plus the cross-process suite in test/.
// Tests run against the TypeScript sources of their own package and the built dist/ of the
// others (scripts/test.sh runs `tsc -b` first), exactly as the CLI and containers run.
export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'common', include: ['packages/common/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'app', include: ['packages/app/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'buffer-server', include: ['packages/buffer-server/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'stram', include: ['packages/stram/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'container', include: ['packages/container/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'gateway', include: ['packages/gateway/src/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 } },
      { extends: true, test: { name: 'cli', include: ['packages/cli/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'e2e', include: ['test/**/*.test.ts'], exclude: ['**/node_modules/**', '**/dist/**', 'test/docker-*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
      // Docker (issue 8) runs after everything else: its image build and containers would steal
      // CPU from the timing-sensitive e2e tests on a 2-core machine.
      { extends: true, test: { name: 'docker', include: ['test/docker-*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000, sequence: { groupOrder: 1 } } },
    ],
    testTimeout: 30_000,
    // One test file at a time: the cross-process suites each start several node processes and
    // hold token lifetimes of a few seconds; two of them at once on a 2-core machine starve each
    // other's timers. Unit suites are fast enough that running them in series costs little.
    fileParallelism: false,
    exclude: ['**/node_modules/**', '**/dist/**'],
  },
});
