// The demo front end: start a verification, open Plaid Link with a token from our API, then read
// the outcome from our API. Link's callbacks only tell us that the person finished or left; the
// result is whatever GET /sessions/{id} says (a failed verification also ends in onSuccess, and
// a browser can be made to say anything). Or verify from a link: Plaid's hosted flow, opened from
// the session's `shareable_url` (sent by SMS or e-mail in a real app), with the outcome again read
// from our API. Every call goes through the typed client (client/client.ts, compiled to
// client.js by `make client`).
import { createClient, ApiError } from './client.js';

const POLL_INTERVAL_MS = 1000;
const POLL_LIMIT = 45; // about 45 s, then the page says it stopped waiting
const LINK_POLL_LIMIT = 300; // a person on a hosted link (maybe on a phone) takes longer
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

// The client for the chosen API: this origin with the local stack's stand-in identity, or a
// deployed API with a bearer token (its CORS lets this page read Retry-After and the request id).
function api() {
  if ($('target-deployed').checked) {
    return createClient({
      baseUrl: $('api-url').value.trim(),
      headers: { Authorization: 'Bearer ' + $('bearer').value.trim() },
    });
  }
  return createClient({ headers: { 'x-local-user': $('local-user').value } });
}

// What an error says to a person: status, our code (or API Gateway's message), when to retry,
// and the request id to quote to support.
function errorText(e) {
  if (!(e instanceof ApiError)) return String(e);
  let text = e.status === 0 ? e.message
    : e.code ? e.status + ' ' + e.code + ': ' + e.message
      : 'HTTP ' + e.status + ' from API Gateway: ' + e.message;
  if (e.retryAfter !== null) text += ' Try again in ' + e.retryAfter + ' s.';
  if (e.requestId) text += ' (request id ' + e.requestId + ')';
  return text;
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
  // A link is only of use while the session can still be completed.
  $('get-link').hidden = session.status !== 'active';
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
    let r;
    try {
      r = await api().startSession({ gave_consent: true });
    } catch (e) {
      say('Could not start: ' + errorText(e), 'error');
      return;
    }
    const session = r.body;
    hideShare();
    show(session);
    if (r.status === 200) {
      say('Resumed your open session ' + session.id + ' (200): opening Link where you left off…');
    } else if (session.previous_attempt_id) {
      say('New attempt ' + session.id + ' (201), retrying ' + session.previous_attempt_id + ': opening Link…');
    } else {
      say('Started session ' + session.id + ' (201): opening Link…');
    }
    if (session.final || session.status === 'pending_review') {
      explain(session);
      return;
    }
    await openLink(session.id, why);
  } finally {
    busy(false);
  }
}

// "Verify from a link": a shareable session, whose link the person opens (here, in a new tab;
// in a real app, from an SMS or e-mail). The page then waits for the result from our API.
async function startFromLink() {
  if (!$('consent').checked) {
    say('Please agree to the identity check first.', 'error');
    return;
  }
  busy(true);
  try {
    let r;
    try {
      r = await api().startSession({ gave_consent: true, is_shareable: true });
    } catch (e) {
      say('Could not start: ' + errorText(e), 'error');
      return;
    }
    const session = r.body;
    show(session);
    if (session.final || session.status === 'pending_review') {
      hideShare();
      explain(session);
      return;
    }
    // A resumed session's answer carries no link: ask for it again (the owner's live read).
    const url = session.shareable_url || await linkOf(session.id);
    if (!url) {
      hideShare();
      say('Your open session ' + session.id + ' was started without a link: choose "Start verification" to continue it here.', 'warn');
      offer({ resume: true });
      return;
    }
    showShare(url);
    say((r.status === 201 ? 'Started session ' + session.id + ' (201)' : 'Resumed your open session ' + session.id + ' (200)') +
      ' with a verification link: open it to verify. This page shows the result when you are done.');
    offer();
    poll(session.id, LINK_POLL_LIMIT);
  } finally {
    busy(false);
  }
}

// The session's link, read again from Plaid through our API; null when there is none now.
async function linkOf(id) {
  try {
    return await api().shareableUrl(id);
  } catch (e) {
    say('Could not get the link: ' + errorText(e), 'error');
    return null;
  }
}

async function getLinkAgain() {
  if (!current) return;
  const url = await linkOf(current.id);
  if (url) {
    showShare(url);
    say('Here is your verification link again. This page shows the result when you are done.');
    poll(current.id, LINK_POLL_LIMIT);
  } else {
    say('No link for session ' + current.id + ' right now (finished, started without one, or asked too often: try again in a few seconds).', 'warn');
  }
}

function showShare(url) {
  const a = $('share-url');
  a.href = url;
  a.textContent = url;
  $('share').hidden = false;
}

function hideShare() {
  $('share').hidden = true;
  $('share-url').removeAttribute('href');
  $('share-url').textContent = '';
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
  let token;
  try {
    token = await api().linkToken(id);
  } catch (e) {
    if (e instanceof ApiError && e.status === 410) {
      say('410 ' + (e.code || 'session_expired') +
        ': this session has expired and cannot be continued. Start a new attempt.', 'error');
      await refresh(id);
      offer({ retry: true });
      return;
    }
    say('Could not get a Link token: ' + errorText(e), 'error');
    return;
  }
  await linkReady();
  if (handler) handler.destroy();
  $('events').textContent = '';
  // As Plaid's Link web docs write it: https://plaid.com/docs/link/web/
  handler = Plaid.create({
    token: token.link_token,
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
async function poll(id, limit = POLL_LIMIT) {
  const mine = ++pollToken;
  $('waiting').hidden = false;
  try {
    for (let i = 0; i < limit; i++) {
      // Against real Plaid, webhooks cannot reach a laptop: ask the API to re-read Plaid.
      const refresh = config.plaid === 'plaid' && i % 6 === 5;
      let session;
      try {
        session = await api().getSession(id, { refresh });
      } catch (e) {
        if (mine !== pollToken) return;
        say('Could not read the session: ' + errorText(e), 'error');
        return;
      }
      if (mine !== pollToken) return;
      show(session);
      if (session.final || session.status === 'pending_review') {
        hideShare();
        explain(session);
        return;
      }
      await new Promise((res) => setTimeout(res, POLL_INTERVAL_MS));
      if (mine !== pollToken) return;
    }
    say('Still waiting for the result after ' + limit + ' s. Choose "Check status" to look again.', 'warn');
    offer({ resume: true });
  } finally {
    if (mine === pollToken) $('waiting').hidden = true;
  }
}

async function refresh(id) {
  try {
    show(await api().getSession(id));
  } catch (e) { /* the message already says what happened */ }
}

async function lookUp(id) {
  pollToken++;
  let session;
  try {
    session = await api().getSession(id);
  } catch (e) {
    say('Session ' + id + ': ' + errorText(e), 'error');
    return;
  }
  hideShare();
  show(session);
  say('Session ' + id + ' is ' + session.status + '.');
  explain(session);
}

async function list() {
  const ul = $('sessions');
  ul.textContent = '';
  let page;
  try {
    page = await api().listSessions();
  } catch (e) {
    say('Could not list your sessions: ' + errorText(e), 'error');
    return;
  }
  if (!page.sessions.length) {
    const li = document.createElement('li');
    li.textContent = 'No sessions yet.';
    ul.appendChild(li);
  }
  for (const s of page.sessions) {
    const li = document.createElement('li');
    const status = document.createElement('span');
    status.className = 'badge ' + s.status;
    status.textContent = s.status;
    li.append(sessionLink(s.id), status);
    ul.appendChild(li);
  }
}

function busy(on) {
  for (const id of ['start', 'start-link', 'new-attempt', 'resume']) $(id).disabled = on;
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

// The outcome events panel (make run only: `idv-local serve` answers /demo/events from what
// `idv-local events` published). Not part of the API, so fetched as /demo/config.json is.
async function pollOutcomeEvents() {
  try {
    const r = await fetch('/demo/events', { cache: 'no-store' });
    if (!r.ok) return;
    const { events } = await r.json();
    const list = $('outcome-events');
    list.textContent = '';
    for (const e of events.slice().reverse()) {
      const d = e.detail || {};
      const li = document.createElement('li');
      li.textContent = `${d.session_id}: ${d.previous_status || '(new)'} \u2192 ${d.status} (sequence ${d.sequence}, ${d.occurred_at})`;
      list.appendChild(li);
    }
    $('outcome-events-card').hidden = false;
  } catch (e) { /* no local front: no panel */ }
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
    hideShare();
    $('session-card').hidden = true;
    $('message').hidden = true;
    $('sessions').textContent = '';
    offer();
  });
  pollOutcomeEvents();
  setInterval(pollOutcomeEvents, 2000);
  $('start').addEventListener('click', () => start());
  $('start-link').addEventListener('click', startFromLink);
  $('get-link').addEventListener('click', getLinkAgain);
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
