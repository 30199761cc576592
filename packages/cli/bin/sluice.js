#!/usr/bin/env node
// The built CLI lives in dist/ (run `pnpm build`, which `pnpm test` and `pnpm demo` do for you).
import { main } from '../dist/main.js';
await main(process.argv);
