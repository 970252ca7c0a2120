// The demo front end: start a verification, open Plaid Link with a token from our API, then read
// the outcome from our API. Link's callbacks only tell us that the person finished or left; the
// result is whatever GET /sessions/{id} says (a failed verification also ends in onSuccess, and
// a browser can be made to say anything).
'use strict';

const POLL_INTERVAL_MS = 1000;
const POLL_LIMIT = 45; // about 45 s, then the page says it stopped waiting
const STEP_NAMES = {
  accept_tos: 'Terms of service', verify_sms: 'Phone (SMS code)', kyc_check: 'Identity data (KYC)',
  documentary_verification: 'ID document', selfie_check: 'Selfie', watchlist_screening: 'Watchlist screening',
  risk_check: 'Risk check',
};

const STATE_NAMES = { waiting_for_prerequisite: 'not yet', not_applicable: 'n/a', manually_approved: 'approved', manually_rejected: 'rejected' };

const $ = (id) => document.getElementById(id);
let config = { link_script: null, plaid: 'emulator' };
let current = null;     // the session as our API last answered it
let handler = null;     // the Plaid Link handler
let pollToken = 0;      // a newer poll cancels an older one

// ---------------------------------------------------------------- our API

function target() {
  if ($('target-deployed').checked) {
    return { base: $('api-url').value.trim().replace(/\/+$/, ''), auth: { Authorization: 'Bearer ' + $('bearer').value.trim() } };
  }
  return { base: '', auth: { 'x-local-user': $('local-user').value } };
}

async function api(method, path, body) {
  const t = target();
  const headers = Object.assign({ Accept: 'application/json' }, t.auth);
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(t.base + path, init);
  } catch (e) {
    return { status: 0, json: { error: { code: 'network_error', message: String(e) } } };
  }
  let json = null;
  try { json = await resp.json(); } catch (e) { json = null; }
  return { status: resp.status, json };
}

function errorText(r) {
  const e = r.json && r.json.error;
  if (e) return r.status + ' ' + e.code + ': ' + e.message;
  return 'HTTP ' + r.status;
}

// ---------------------------------------------------------------- rendering

function say(text, kind) {
  const m = $('message');
  m.hidden = false;
  m.className = 'message' + (kind ? ' ' + kind : '');
  m.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  m.textContent = text;
}

function offer({ retry = false, resume = false } = {}) {
  $('new-attempt').hidden = !retry;
  $('resume').hidden = !resume;
  $('after-actions').hidden = !(retry || resume);
}

function sessionLink(id) {
  const a = document.createElement('a');
  a.href = '#' + encodeURIComponent(id);
  a.textContent = id;
  a.addEventListener('click', (e) => { e.preventDefault(); lookUp(id); });
  return a;
}

function show(session) {
  current = session;
  $('session-card').hidden = false;
  const status = $('status');
  status.textContent = session.status;
  status.className = 'badge ' + session.status;
  $('session-id').textContent = session.id;
  const prev = $('previous');
  prev.textContent = '';
  if (session.previous_attempt_id) prev.appendChild(sessionLink(session.previous_attempt_id));
  else prev.textContent = 'none';
  $('expires').textContent = session.final || session.status === 'pending_review'
    ? 'n/a (finished)' : new Date(session.expires_at).toLocaleString();
  const steps = $('steps');
  steps.textContent = '';
  for (const [name, state] of Object.entries(session.steps || {})) {
    const li = document.createElement('li');
    li.dataset.step = name;
    const label = document.createElement('span');
    label.textContent = STEP_NAMES[name] || name;
    const value = document.createElement('span');
    value.className = 'badge ' + state;
    value.dataset.status = state;
    value.textContent = STATE_NAMES[state] || state;
    li.append(label, value);
    steps.appendChild(li);
  }
}

function explain(session) {
  switch (session.status) {
    case 'success':
      say('Verified. Our API says the session succeeded.');
      offer();
      break;
    case 'failed':
      say('The verification failed. You can try again: a new attempt is linked to this one.', 'error');
      offer({ retry: true });
      break;
    case 'expired':
    case 'canceled':
      say('This session is ' + session.status + '. Start a new attempt to verify.', 'warn');
      offer({ retry: true });
      break;
    case 'pending_review':
      say('Your details are being reviewed. We will let you know; there is nothing more to do now.');
      offer();
      break;
    default:
      offer({ resume: true });
  }
}

// ---------------------------------------------------------------- flow

async function start(why) {
  if (!$('consent').checked) {
    say('Please agree to the identity check first.', 'error');
    return;
  }
  busy(true);
  try {
    const r = await api('POST', '/sessions', { gave_consent: true });
    if (r.status !== 200 && r.status !== 201) {
      say('Could not start: ' + errorText(r), 'error');
      return;
    }
    show(r.json);
    if (r.status === 200) {
      say('Resumed your open session ' + r.json.id + ' (200): opening Link where you left off…');
    } else if (r.json.previous_attempt_id) {
      say('New attempt ' + r.json.id + ' (201), retrying ' + r.json.previous_attempt_id + ': opening Link…');
    } else {
      say('Started session ' + r.json.id + ' (201): opening Link…');
    }
    if (r.json.final || r.json.status === 'pending_review') {
      explain(r.json);
      return;
    }
    await openLink(r.json.id, why);
  } finally {
    busy(false);
  }
}

async function resume() {
  if (!current) return;
  busy(true);
  try {
    await openLink(current.id, 'resume');
  } finally {
    busy(false);
  }
}

async function openLink(id) {
  const r = await api('POST', '/sessions/' + encodeURIComponent(id) + '/link-token', {});
  if (r.status === 410) {
    say('410 ' + (r.json && r.json.error ? r.json.error.code : 'session_expired') +
      ': this session has expired and cannot be continued. Start a new attempt.', 'error');
    await refresh(id);
    offer({ retry: true });
    return;
  }
  if (r.status !== 200) {
    say('Could not get a Link token: ' + errorText(r), 'error');
    return;
  }
  await linkReady();
  if (handler) handler.destroy();
  $('events').textContent = '';
  // As Plaid's Link web docs write it: https://plaid.com/docs/link/web/
  handler = Plaid.create({
    token: r.json.link_token,
    onSuccess: (public_token, metadata) => {
      // For Identity Verification public_token is null and this only means "the person reached
      // the end": the outcome comes from our API.
      say('Link finished. Reading the result from our API…');
      poll(id);
    },
    onLoad: () => {},
    onExit: (err, metadata) => {
      if (err) {
        say('Link closed with an error: ' + err.error_code + ' (' + (err.error_message || '') + ').', 'error');
      } else {
        say('You closed Link before finishing. Your session ' + id +
          ' is saved: choose "Continue verification" to resume where you left off.', 'warn');
      }
      offer({ resume: true });
      refresh(id);
    },
    onEvent: (eventName, metadata) => {
      const li = document.createElement('li');
      li.textContent = eventName + (metadata && metadata.view_name ? ' (' + metadata.view_name + ')' : '');
      $('events').appendChild(li);
    },
  });
  offer();
  handler.open();
}

// Poll our API until the status is final or pending review, for a bounded time.
async function poll(id) {
  const mine = ++pollToken;
  $('waiting').hidden = false;
  try {
    for (let i = 0; i < POLL_LIMIT; i++) {
      // Against real Plaid, webhooks cannot reach a laptop: ask the API to re-read Plaid.
      const refresh = config.plaid === 'plaid' && i % 3 === 2 ? '?refresh=true' : '';
      const r = await api('GET', '/sessions/' + encodeURIComponent(id) + refresh);
      if (mine !== pollToken) return;
      if (r.status !== 200) {
        say('Could not read the session: ' + errorText(r), 'error');
        return;
      }
      show(r.json);
      if (r.json.final || r.json.status === 'pending_review') {
        explain(r.json);
        return;
      }
      await new Promise((res) => setTimeout(res, POLL_INTERVAL_MS));
      if (mine !== pollToken) return;
    }
    say('Still waiting for the result after ' + POLL_LIMIT + ' s. Choose "Check status" to look again.', 'warn');
    offer({ resume: true });
  } finally {
    if (mine === pollToken) $('waiting').hidden = true;
  }
}

async function refresh(id) {
  const r = await api('GET', '/sessions/' + encodeURIComponent(id));
  if (r.status === 200) show(r.json);
  return r;
}

async function lookUp(id) {
  pollToken++;
  const r = await api('GET', '/sessions/' + encodeURIComponent(id));
  if (r.status !== 200) {
    say('Session ' + id + ': ' + errorText(r), 'error');
    return;
  }
  show(r.json);
  say('Session ' + id + ' is ' + r.json.status + '.');
  explain(r.json);
}

async function list() {
  const r = await api('GET', '/sessions');
  const ul = $('sessions');
  ul.textContent = '';
  if (r.status !== 200) {
    say('Could not list your sessions: ' + errorText(r), 'error');
    return;
  }
  if (!r.json.sessions.length) {
    const li = document.createElement('li');
    li.textContent = 'No sessions yet.';
    ul.appendChild(li);
  }
  for (const s of r.json.sessions) {
    const li = document.createElement('li');
    const status = document.createElement('span');
    status.className = 'badge ' + s.status;
    status.textContent = s.status;
    li.append(sessionLink(s.id), status);
    ul.appendChild(li);
  }
}

function busy(on) {
  for (const id of ['start', 'new-attempt', 'resume']) $(id).disabled = on;
}

// ---------------------------------------------------------------- Link script

let linkLoading = null;
function linkReady() {
  if (window.Plaid) return Promise.resolve();
  if (!linkLoading) {
    linkLoading = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = config.link_script;
      s.onload = resolve;
      s.onerror = () => reject(new Error('could not load ' + config.link_script));
      document.head.appendChild(s);
    });
  }
  return linkLoading;
}

async function init() {
  try {
    const r = await fetch('/demo/config.json', { cache: 'no-store' });
    if (r.ok) config = await r.json();
  } catch (e) { /* a static host without the config: real Plaid */ }
  if (!config.link_script) config.link_script = 'https://cdn.plaid.com/link/v2/stable/link-initialize.js';
  $('plaid-mode').textContent = 'Link: ' + (config.plaid === 'emulator'
    ? 'the Plaid emulator\u2019s stand-in (Sandbox test identity: Leslie Knope, SMS code 11111)'
    : 'Plaid\u2019s own Link SDK');
  linkReady().catch((e) => say(String(e), 'error'));

  for (const el of document.getElementsByName('target')) {
    el.addEventListener('change', () => {
      const deployed = $('target-deployed').checked;
      $('deployed-fields').hidden = !deployed;
      $('local-fields').hidden = deployed;
    });
  }
  $('local-user').addEventListener('change', () => {
    pollToken++;
    current = null;
    $('session-card').hidden = true;
    $('message').hidden = true;
    $('sessions').textContent = '';
    offer();
  });
  $('start').addEventListener('click', () => start());
  $('new-attempt').addEventListener('click', () => start());
  $('resume').addEventListener('click', resume);
  $('refresh').addEventListener('click', () => current && lookUp(current.id));
  $('list').addEventListener('click', list);
  $('lookup-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('lookup-id').value.trim();
    if (id) lookUp(id);
  });
}

init();
