// The Sluice console's only script (served from /console/static, CSP script-src 'self').
// It keeps an app page's figures live from the gateway's server-sent events and sends the
// actions (shut the app down, restart a container) to the API with the session's CSRF token. The
// page works without it; only the live figures and the buttons need it. The server checks every
// action again.

const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';

function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

const rate = (n) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

function applyFigures(f) {
  setText(document.querySelector('[data-live="state"]'), String(f.state).toUpperCase());
  if (f.committedWindow !== null) setText(document.querySelector('[data-live="committedWindow"]'), String(f.committedWindow));
  for (const op of f.operators) {
    const row = document.querySelector(`tr[data-op="${CSS.escape(op.id)}"]`);
    if (!row) continue;
    for (const [field, value] of Object.entries(op)) {
      const cell = row.querySelector(`[data-field="${field}"]`);
      if (cell) setText(cell, field.endsWith('PerSecond') ? rate(value) : String(value));
    }
    row.classList.toggle('stalled', op.stalled === true);
  }
  for (const c of f.containers ?? []) {
    const row = document.querySelector(`tr[data-container="${CSS.escape(c.id)}"]`);
    if (!row) continue;
    for (const field of ['state', 'host', 'pid', 'lastHeartbeat', 'restarts', 'lastRestart']) setText(row.querySelector(`[data-field="${field}"]`), c[field]);
    const cert = document.querySelector(`tr[data-cert="${CSS.escape(c.id)}"]`);
    if (cert) for (const field of ['certNotAfter', 'certSerial', 'certRenewal', 'certHealth']) setText(cert.querySelector(`[data-field="${field}"]`), c[field]);
  }
  const certWarning = document.querySelector('[data-cert-warning]');
  if (certWarning) {
    const failing = f.certificateFailing ?? [];
    certWarning.hidden = failing.length === 0;
    if (failing.length > 0) setText(certWarning, `Certificate renewal is failing for ${failing.join(', ')}. Its links stop once its certificate expires.`);
  }
  const warning = document.querySelector('[data-renewal-warning]');
  if (warning) {
    warning.hidden = f.renewalFailing.length === 0;
    if (f.renewalFailing.length > 0) setText(warning, `Token renewal is failing for ${f.renewalFailing.join(', ')}. The app stops when its tokens expire.`);
  }
}

const live = document.querySelector('[data-live-src]');
if (live) {
  const source = new EventSource(live.getAttribute('data-live-src'));
  let updates = 0;
  source.addEventListener('figures', (e) => {
    applyFigures(JSON.parse(e.data));
    updates++;
    live.setAttribute('data-updates', String(updates));
    setText(live, `Live figures: updated ${new Date().toLocaleTimeString()}`);
  });
  source.addEventListener('unreachable', (e) => setText(live, `Live figures: the app's STRAM is not answering (${JSON.parse(e.data).reason})`));
  source.addEventListener('ended', (e) => {
    source.close();
    setText(document.querySelector('[data-live="state"]'), JSON.parse(e.data).state);
    setText(live, 'Live figures: the app has stopped.');
  });
  source.addEventListener('signed-out', () => {
    source.close();
    setText(live, 'Live figures: your session ended; reload to sign in again.');
  });
}

/** Sends one action's POST with the CSRF token; says what came of it in the page's result line. */
function action(button, url, asking, done) {
  button.addEventListener('click', async () => {
    const result = document.querySelector('[data-action-result]');
    button.disabled = true;
    setText(result, asking);
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' });
      const body = await res.json().catch(() => ({}));
      if (res.ok) setText(result, done);
      else setText(result, `Refused (${res.status} ${body.error ?? ''}): ${body.reason ?? 'see the gateway log'}`);
      if (!res.ok || button.hasAttribute('data-restart')) button.disabled = false;
    } catch (err) {
      setText(result, `The gateway did not answer: ${err.message}`);
      button.disabled = false;
    }
  });
}

for (const button of document.querySelectorAll('button[data-shutdown]')) {
  action(button, button.getAttribute('data-shutdown'), 'Asking the app to shut down…', 'Shutdown requested: the app is stopping.');
}
for (const button of document.querySelectorAll('button[data-restart]')) {
  const id = button.getAttribute('data-container-id');
  action(button, button.getAttribute('data-restart'), `Asking STRAM to restart ${id}…`, `Restart of ${id} requested: its replacement resumes from the committed window.`);
}
