import { AppState, apiPath, ApiRoute, type AppDetail, type AppSummary } from '../api.js';
import { dagSvg } from './dag-svg.js';
import { html, type Html } from './html.js';
import { consolePath, formatDuration, formatRate, page, type PageFrame } from './page.js';
import { certHealthText, lastRestartText, restartsText, throughputOf, type AppFigures } from './views.js';

/**
 * The apps pages: the list of apps the caller may see, and one app's logical DAG, physical plan,
 * live operator figures, token renewal health and the actions the caller may take: shutting the
 * app down, and restarting one container (a button on its row of the physical plan). Both are
 * rendered only for those who may manage the app, and the server decides again.
 */

export interface AppRow {
  summary: AppSummary;
  figures: AppFigures | undefined;
}

const stateBadge = (state: string): Html => html`<span class="state state-${state.toLowerCase()}">${state}</span>`;

export function appsPage(frame: PageFrame, rows: AppRow[], now: number): Html {
  const body = rows.length === 0
    ? html`<p>No apps you may see. Launch one with <code>sluice launch demo --gateway URL</code> or ask an owner to share theirs.</p>`
    : html`<table class="apps"><caption>Apps you may see</caption>
<thead><tr><th scope="col">App</th><th scope="col">Name</th><th scope="col">Owner</th><th scope="col">State</th><th scope="col">Uptime</th><th scope="col">Throughput (tuples/s in)</th></tr></thead>
<tbody>${rows.map(({ summary: a, figures: f }) => html`<tr data-app="${a.id}"><th scope="row"><a href="${consolePath('apps', a.id)}">${a.id}</a></th><td>${a.name}</td><td>${a.owner}</td><td>${stateBadge(a.state)}</td><td>${a.state === AppState.running ? formatDuration(f?.uptimeMs ?? now - a.startedAt) : '–'}</td><td class="num">${f ? formatRate(throughputOf(f)) : '–'}</td></tr>`)}</tbody></table>`;
  return page(frame, 'Apps', body);
}

export interface AppPageOptions {
  /** Whether the caller may manage the app (shut it down, restart its containers). */
  canManage: boolean;
  now: number;
}

export function appPage(frame: PageFrame, detail: AppDetail, f: AppFigures | undefined, o: AppPageOptions): Html {
  const running = detail.state === AppState.running;
  const summary = html`<dl class="facts">
<dt>Owner</dt><dd>${detail.owner}</dd>
<dt>State</dt><dd data-live="state">${detail.state}</dd>
<dt>Started</dt><dd><time datetime="${new Date(detail.startedAt).toISOString()}">${new Date(detail.startedAt).toISOString()}</time></dd>
<dt>Uptime</dt><dd>${running && f?.uptimeMs !== null && f ? formatDuration(f.uptimeMs!) : '–'}</dd>
<dt>Committed window</dt><dd data-live="committedWindow">${f?.committedWindow ?? '–'}</dd>
</dl>`;
  const actions = html`<section aria-labelledby="actions-h"><h2 id="actions-h">Actions</h2>
${o.canManage && running
    ? html`<p><button type="button" class="danger" data-shutdown="${apiPath(ApiRoute.shutdown, detail.id)}">Shut down ${detail.id}</button></p>`
    : html`<p>${running ? 'You may view this app but not manage it.' : 'The app is not running.'}</p>`}
${o.canManage && running ? html`<p class="note">To restart one container, use its Restart button in the physical plan: it resumes from the committed window, and the restart strategy does not count it.</p>` : ''}
<p role="status" aria-live="polite" data-action-result></p></section>`;
  if (!f) return page(frame, `App ${detail.id}`, html`${summary}${actions}<p>STRAM has no status for this app (${detail.state}).</p>`);
  const failing = f.containers.filter((c) => (c.tokens?.consecutiveFailures ?? 0) > 0);
  const manage = o.canManage && running;
  const body = html`${summary}
<p class="live-status" role="status" aria-live="off" data-live-src="${consolePath('apps', detail.id, 'live')}">Live figures: connecting…</p>
<section aria-labelledby="dag-h"><h2 id="dag-h">Logical DAG</h2>
${dagSvg(f.dag, `Logical DAG of ${detail.name}: ${f.dag.operators.map((op) => op.name).join(', ')}`)}
<ul class="streams">${f.dag.streams.map((s) => html`<li>Stream <strong>${s.name}</strong>: ${s.from} → ${s.to.join(', ')}${s.locality ? ` (${s.locality})` : ''}</li>`)}</ul>
</section>
<section aria-labelledby="ops-h"><h2 id="ops-h">Operators (live)</h2>
<table class="operators"><caption>Per-partition figures, updated every second without a reload</caption>
<thead><tr><th scope="col">Operator</th><th scope="col">Container</th><th scope="col">Window</th><th scope="col">Tuples/s in</th><th scope="col">Tuples/s out</th><th scope="col">Latency (ms)</th><th scope="col">Tuples in</th><th scope="col">Tuples out</th></tr></thead>
<tbody>${f.operators.map((op) => html`<tr data-op="${op.id}"><th scope="row">${op.id}</th><td>${op.container}</td><td class="num" data-field="window">${op.window}</td><td class="num" data-field="tuplesInPerSecond">${formatRate(op.tuplesInPerSecond)}</td><td class="num" data-field="tuplesOutPerSecond">${formatRate(op.tuplesOutPerSecond)}</td><td class="num" data-field="latencyMs">${op.latencyMs}</td><td class="num" data-field="tuplesIn">${op.tuplesIn}</td><td class="num" data-field="tuplesOut">${op.tuplesOut}</td></tr>`)}</tbody></table>
</section>
<section aria-labelledby="plan-h"><h2 id="plan-h">Physical plan</h2>
<table class="containers"><caption>Containers, their operators, restarts and host</caption>
<thead><tr><th scope="col">Container</th><th scope="col">State</th><th scope="col">Operators</th><th scope="col">Restarts</th><th scope="col">Last restart</th><th scope="col">Host</th><th scope="col">PID</th><th scope="col">Last heartbeat</th><th scope="col">Log</th>${manage ? html`<th scope="col">Action</th>` : ''}</tr></thead>
<tbody>${f.containers.map((c) => html`<tr data-container="${c.id}"><th scope="row">${c.id}</th><td data-field="state">${c.state}</td><td>${c.operators.join(', ')}</td><td class="num" data-field="restarts">${restartsText(c)}</td><td data-field="lastRestart">${lastRestartText(c)}</td><td data-field="host">${c.host || '–'}</td><td class="num" data-field="pid">${c.pid ?? '–'}</td><td data-field="lastHeartbeat">${c.lastHeartbeat ?? '–'}</td><td><a href="${consolePath('apps', detail.id, 'containers', c.id, 'log')}">log of ${c.id}</a></td>${manage ? html`<td><button type="button" data-restart="${apiPath(ApiRoute.restartContainer, detail.id, c.id)}" data-container-id="${c.id}">Restart ${c.id}</button></td>` : ''}</tr>`)}</tbody></table>
</section>
<section aria-labelledby="tokens-h"><h2 id="tokens-h">Token renewal</h2>
<div class="warning" role="alert" data-renewal-warning ${failing.length === 0 ? html`hidden` : ''}>Token renewal is failing for ${failing.map((c) => c.id).join(', ') || 'a container'}${failing[0]?.tokens?.lastError ? `: ${failing[0].tokens.lastError}` : ''}. The app stops when its tokens expire.</div>
<table class="tokens"><caption>Each container's delegation token</caption>
<thead><tr><th scope="col">Container</th><th scope="col">Expires</th><th scope="col">Last renewal</th><th scope="col">Failures since the last success</th></tr></thead>
<tbody>${f.containers.map((c) => html`<tr><th scope="row">${c.id}</th><td>${c.tokens?.expiry ?? '–'}</td><td>${c.tokens?.lastRenewal ?? 'not yet'}</td><td class="num">${c.tokens?.consecutiveFailures ?? 0}</td></tr>`)}</tbody></table>
</section>
${certificates(f)}
${actions}`;
  return page(frame, `App ${detail.id}`, body);
}

/** The health section's certificates: shown when the app runs with TLS, with a warning while a renewal is failing. */
function certificates(f: AppFigures): Html {
  if (!f.tls) return html``;
  const failing = f.containers.filter((c) => c.certificate?.failing === true);
  const why = failing.find((c) => c.certificate?.lastError)?.certificate?.lastError;
  return html`<section aria-labelledby="certs-h"><h2 id="certs-h">Certificate renewal</h2>
<div class="warning" role="alert" data-cert-warning ${failing.length === 0 ? html`hidden` : ''}>Certificate renewal is failing for ${failing.map((c) => c.id).join(', ') || 'a container'}${why ? `: ${why}` : ''}. Its links stop once its certificate expires.</div>
<table class="certificates"><caption>Each container's TLS certificate from the app CA, renewed at 75% of its lifetime</caption>
<thead><tr><th scope="col">Container</th><th scope="col">Expires</th><th scope="col">Serial</th><th scope="col">Last renewal</th><th scope="col">Renewal</th></tr></thead>
<tbody>${f.containers.map((c) => html`<tr data-cert="${c.id}"><th scope="row">${c.id}</th><td data-field="certNotAfter">${c.certificate?.notAfter ?? '–'}</td><td data-field="certSerial"><code>${c.certificate?.serial ?? '–'}</code></td><td data-field="certRenewal">${c.certificate?.lastRenewal ?? 'not yet'}</td><td data-field="certHealth">${certHealthText(c.certificate)}</td></tr>`)}</tbody></table>
</section>`;
}

export function logPage(frame: PageFrame, app: string, container: string, lines: string[]): Html {
  return page(frame, `Log of ${container} (${app})`, html`<p><a href="${consolePath('apps', app)}">Back to ${app}</a> · the last ${lines.length} lines, newest last.</p>
<pre class="log" tabindex="0" aria-label="log lines">${lines.join('\n')}</pre>`);
}
