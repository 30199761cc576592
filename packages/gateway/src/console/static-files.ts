import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { GatewayRefusal, RefusalCode } from '../api.js';
import { CONTENT_SECURITY_POLICY } from './page.js';

/** The console's script and stylesheet, read once from the package's `static/` folder and served by name (nothing else on disk is reachable). */

const TYPES: Record<string, string> = { 'console.js': 'text/javascript; charset=utf-8', 'console.css': 'text/css; charset=utf-8' };

export class StaticFiles {
  private constructor(private readonly files: ReadonlyMap<string, Buffer>) {}

  /** From `packages/gateway/static` (two levels above this module in src/ and in dist/ alike). */
  static load(dir = fileURLToPath(new URL('../../static/', import.meta.url))): StaticFiles {
    return new StaticFiles(new Map(Object.keys(TYPES).map((name) => [name, readFileSync(join(dir, name))])));
  }

  send(res: ServerResponse, name: string): void {
    const body = this.files.get(name);
    if (!body) throw new GatewayRefusal(404, RefusalCode.notFound, `no console file ${name.slice(0, 100)}`);
    res.writeHead(200, { 'content-type': TYPES[name]!, 'content-length': body.length, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'content-security-policy': CONTENT_SECURITY_POLICY });
    res.end(body);
  }
}
