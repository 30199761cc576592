import type { AuditRecord } from '../api.js';
import type { KeytabLoginFigures } from '../metrics.js';
import { html, type Html } from './html.js';
import { consolePath, formatDuration, page, type PageFrame } from './page.js';

/**
 * Security health and the audit trail: the gateway's own Kerberos login (when its TGT expires,
 * whether re-login is failing), each visible app's token renewal, the refusals counted since the
 * gateway started (by code and by permission lacked), and, for VIEW_AUDIT, the latest records.
 */

export interface RefusalCounts {
  /** Authentication refusals by code (NO_CREDENTIALS, TOKEN_EXPIRED, ...). */
  byCode: [string, number][];
  /** Authorization refusals (FORBIDDEN) by the permission lacked. */
  byPermission: [string, number][];
}

export interface AppRenewal {
  app: string;
  containers: number;
  failing: { container: string; failures: number; lastError: string | null }[];
  nextExpiry: string | null;
}

export interface HealthFacts {
  keytab: KeytabLoginFigures | undefined;
  refusals: RefusalCounts;
  apps: AppRenewal[];
  tls: boolean;
  now: number;
}

function counts(caption: string, what: string, rows: [string, number][]): Html {
  if (rows.length === 0) return html`<p>No ${what} since the gateway started.</p>`;
  return html`<table class="refusals"><caption>${caption}</caption><thead><tr><th scope="col">${what}</th><th scope="col">Count</th></tr></thead>
<tbody>${rows.map(([k, n]) => html`<tr data-refusal="${k}"><th scope="row">${k}</th><td class="num">${n}</td></tr>`)}</tbody></table>`;
}

export function healthPage(frame: PageFrame, h: HealthFacts): Html {
  const k = h.keytab;
  const failing = (k?.failuresSinceLogin ?? 0) > 0;
  const kerberos = k
    ? html`${failing ? html`<div class="warning" role="alert">The gateway's Kerberos re-login is failing (${k.failuresSinceLogin} attempt${k.failuresSinceLogin === 1 ? '' : 's'} since the last success). Sign-ins keep working until its ticket expires${k.expiresAt ? ` at ${new Date(k.expiresAt).toISOString()}` : ''}.</div>` : ''}
<dl class="facts"><dt>Gateway ticket (TGT) expires</dt><dd>${k.expiresAt ? html`<time datetime="${new Date(k.expiresAt).toISOString()}">${new Date(k.expiresAt).toISOString()}</time> (in ${formatDuration(k.expiresAt - h.now)})` : 'no ticket yet'}</dd>
<dt>Logins from the keytab</dt><dd>${k.logins}</dd><dt>Failed logins</dt><dd>${k.failures}</dd><dt>Renewal</dt><dd>${failing ? 'failing' : 'healthy'}</dd></dl>`
    : html`<p>This gateway reports no keytab login.</p>`;
  const apps = h.apps.length === 0
    ? html`<p>No running app you may see.</p>`
    : html`${h.apps.filter((a) => a.failing.length > 0).map((a) => html`<div class="warning" role="alert">Token renewal is failing in app <a href="${consolePath('apps', a.app)}">${a.app}</a>: ${a.failing.map((f) => `${f.container} (${f.failures} failed${f.lastError ? `: ${f.lastError}` : ''})`).join('; ')}.</div>`)}
<table class="renewals"><caption>Delegation tokens of the apps you may see</caption><thead><tr><th scope="col">App</th><th scope="col">Containers</th><th scope="col">Earliest expiry</th><th scope="col">Renewal</th></tr></thead>
<tbody>${h.apps.map((a) => html`<tr><th scope="row"><a href="${consolePath('apps', a.app)}">${a.app}</a></th><td class="num">${a.containers}</td><td>${a.nextExpiry ?? '–'}</td><td>${a.failing.length > 0 ? 'failing' : 'healthy'}</td></tr>`)}</tbody></table>`;
  return page(frame, 'Security health', html`<section aria-labelledby="krb-h"><h2 id="krb-h">Gateway Kerberos login</h2>${kerberos}</section>
<section aria-labelledby="tls-h"><h2 id="tls-h">Certificates</h2><p>${h.tls ? 'TLS is on.' : 'This gateway serves plain HTTP: no certificate to expire. Its expiry and renewal show here once TLS is configured.'}</p></section>
<section aria-labelledby="tok-h"><h2 id="tok-h">App tokens</h2>${apps}</section>
<section aria-labelledby="ref-h"><h2 id="ref-h">Recent refusals</h2><p>Counted since the gateway started (the same counts as its <code>/metrics</code>).</p>
${counts('Refused at authentication, by code', 'refusal code', h.refusals.byCode)}
${counts('Refused by authorization, by the permission lacked', 'permission lacked', h.refusals.byPermission)}</section>`);
}

export function auditPage(frame: PageFrame, records: AuditRecord[]): Html {
  const newest = [...records].reverse();
  return page(frame, 'Audit trail', html`<p>The latest ${newest.length} records of the gateway's audit log, newest first.</p>
<table class="audit"><caption>Every state-changing request and every denial</caption><thead><tr><th scope="col">Time</th><th scope="col">Principal</th><th scope="col">Action</th><th scope="col">App</th><th scope="col">Outcome</th><th scope="col">Rule</th><th scope="col">Status</th></tr></thead>
<tbody>${newest.map((r) => html`<tr class="outcome-${r.outcome}"><td><time datetime="${r.time}">${r.time}</time></td><td>${r.principal}</td><td>${r.action}</td><td>${r.app || '–'}</td><td>${r.outcome}</td><td>${r.rule}</td><td class="num">${r.status}</td></tr>`)}</tbody></table>`);
}

export interface SignInFacts {
  reason: string;
  next: string;
  devLogin: boolean;
}

/** What a browser without a session gets (with 401 and `WWW-Authenticate: Negotiate`): how to sign in, and no data. */
export function signInPage(frame: PageFrame, s: SignInFacts): Html {
  return page(frame, 'Sign in', html`<p class="reason">${s.reason}</p>
<section aria-labelledby="krb-in-h"><h2 id="krb-in-h">Sign in with Kerberos</h2>
<ol><li>Get a ticket: <code>kinit you@YOUR.REALM</code>.</li>
<li>Let your browser use it for this host (Chromium: <code>--auth-server-allowlist=${'<this host>'}</code>; Firefox: <code>network.negotiate-auth.trusted-uris</code>).</li>
<li><a href="${consolePath('sign-in')}?next=${encodeURIComponent(s.next)}">Sign in</a> (or reload this page).</li></ol></section>
${s.devLogin ? html`<section aria-labelledby="dev-h" class="dev-login"><h2 id="dev-h">Development sign-in (insecure)</h2>
<form method="post" action="${consolePath('dev-login')}"><label for="dev-principal">Principal</label> <input id="dev-principal" name="principal" required autocomplete="username" placeholder="alice@EXAMPLE.COM"><input type="hidden" name="next" value="${s.next}"> <button type="submit">Sign in without Kerberos</button></form></section>` : ''}`);
}
