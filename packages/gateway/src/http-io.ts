import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { GatewayRefusal, RefusalCode } from './api.js';

/** Request bodies and JSON answers: bounded reads, schema-checked bodies, one line per refusal. */

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** The body as JSON checked by `schema`; 413 past `limit` bytes, 400 BAD_REQUEST (one line) when it is not what the route takes. */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, limit: number): Promise<z.output<S>> {
  const text = await readBody(req, limit);
  let value: unknown;
  try {
    value = text.length === 0 ? {} : JSON.parse(text);
  } catch {
    throw new GatewayRefusal(400, RefusalCode.badRequest, 'the body is not JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : 'the body';
    throw new GatewayRefusal(400, RefusalCode.badRequest, `${where}: ${issue.message}`.slice(0, 300));
  }
  return parsed.data;
}

/** An HTML form's body (`application/x-www-form-urlencoded`), bounded like a JSON body. */
export async function readForm(req: IncomingMessage, limit: number): Promise<URLSearchParams> {
  return new URLSearchParams(await readBody(req, limit));
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function tooLarge(limit: number): GatewayRefusal {
  return new GatewayRefusal(413, RefusalCode.tooLarge, `the body is over ${limit} bytes`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The value of cookie `name` in a Cookie header, if present. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
