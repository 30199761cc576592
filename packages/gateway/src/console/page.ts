import type { ServerResponse } from 'node:http';
import { CONSOLE_PREFIX } from '../api.js';
import { html, type Html } from './html.js';

/**
 * The frame of every console page: landmarks (header, nav, main), the signed-in principal with
 * sign-out, the CSRF token for the page's script, and, when the gateway runs with
 * `--insecure-dev-login`, a red banner saying so on every page. Pages go out with a CSP that
 * allows only this origin's own files (no inline script or style) and no framing.
 */

export interface Viewer {
  principal: string;
  /** The session's CSRF token, for the page's POSTs; empty when the caller used a bearer token. */
  csrf: string;
  canAudit: boolean;
}

export interface PageFrame {
  viewer: Viewer | undefined;
  devLogin: boolean;
}

export const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

export const consolePath = (...parts: string[]): string => `${CONSOLE_PREFIX}/${parts.map(encodeURIComponent).join('/')}`;

export function page(frame: PageFrame, title: string, body: Html): Html {
  const v = frame.viewer;
  const nav = [
    html`<li><a href="${consolePath('')}">Apps</a></li>`,
    html`<li><a href="${consolePath('security')}">Security health</a></li>`,
    v?.canAudit ? html`<li><a href="${consolePath('audit')}">Audit trail</a></li>` : '',
  ];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${v?.csrf ? html`<meta name="csrf-token" content="${v.csrf}">` : ''}
<title>${title} · Sluice console</title>
<link rel="stylesheet" href="${consolePath('static', 'console.css')}">
<script type="module" src="${consolePath('static', 'console.js')}"></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
${frame.devLogin ? html`<div class="insecure" role="alert"><strong>Insecure development sign-in is on</strong> (--insecure-dev-login): anyone can sign in as anyone. Never run a gateway like this where others can reach it.</div>` : ''}
<header class="top">
<p class="brand"><a href="${consolePath('')}">Sluice console</a></p>
${v ? html`<nav aria-label="Main"><ul>${nav}</ul></nav>
<form class="who" method="post" action="${consolePath('sign-out')}"><span>Signed in as <strong data-principal>${v.principal}</strong></span><input type="hidden" name="csrf" value="${v.csrf}"><button type="submit">Sign out</button></form>` : ''}
</header>
<main id="main">
<h1>${title}</h1>
${body}
</main>
<footer><p>Sluice gateway · the console shows only what you may see; every action is checked again by the server.</p></footer>
</body>
</html>
`;
}

export function sendHtml(res: ServerResponse, status: number, doc: Html, headers: Record<string, string | string[]> = {}): void {
  const text = doc.text;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    ...headers,
  });
  res.end(text);
}

/** A duration as people read it: 3h 12m, 4m 05s, 12s. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

export const formatRate = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
