// One Server-Sent Events stream per tab (/notifications/stream), kept across page changes. When it drops we reconnect
// ourselves, with ?lastEventId= (the newest event seen, or the resume point read when it opened), after checking that
// the session still exists: EventSource's own retry would resend Last-Event-ID only once an event has arrived, and
// gives up for good on a non-200 answer (the notifier restarting, or the session gone).
import { get } from './api.js';

const Types = ['system_alert', 'project_created', 'deployment_status', 'reset'];
const listeners = new Set();
const seen = new Set();
/** Every event this tab has seen, oldest first (at most 200), for the live feed. */
export const events = [];

let source = null;
let wanted = false;
let lastEventId = null;
let retryTimer = null;
let backoff = 1000;
let dropped = false;
let resumedAt = null;
let missed = 0;
let settleTimer = null;

/** listener(event) for every new event ({id, type, payload, timestamp}); returns a function that removes it. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function start() {
  wanted = true;
  if (!source && !retryTimer) connect();
}

/** Closes the stream for good (signed out): the indicator says why. */
export function stop(state = 'offline', text = state) {
  wanted = false;
  clearTimeout(retryTimer);
  retryTimer = null;
  source?.close();
  source = null;
  setState(state, text);
}

/** Adds events read elsewhere (the history endpoint) to the feed, skipping any already seen. */
export function remember(list) {
  for (const event of list) add(event, false);
  events.sort((a, b) => a.id - b.id);
}

function connect() {
  retryTimer = null;
  setState(dropped ? 'reconnecting' : 'connecting', dropped ? 'reconnecting' : 'connecting');
  source = new EventSource(lastEventId === null ? '/notifications/stream' : `/notifications/stream?lastEventId=${lastEventId}`);
  source.onopen = () => {
    backoff = 1000;
    if (lastEventId === null) baseline();
    if (dropped) {
      dropped = false;
      resumedAt = Date.now();
      missed = 0;
      showResumed();
    } else {
      setState('live', 'live');
    }
  };
  source.onerror = () => {
    source?.close();
    source = null;
    if (!wanted) return;
    dropped = true;
    resumedAt = null;
    setState('reconnecting', 'reconnecting');
    retryTimer = setTimeout(retry, backoff);
    backoff = Math.min(backoff * 2, 8000);
  };
  for (const type of Types) source.addEventListener(type, receive);
}

// A stream that has received nothing yet has no Last-Event-ID to resume from. The newest alert (and, for admins,
// project_created), read after the stream opened, is one: anything later comes on the stream. Deployment history is
// not read: each of its events costs the notifier a membership check; a resume replays the few after the baseline.
async function baseline() {
  const channels = ['system:alert', 'project:created'];
  const histories = await Promise.all(channels.map(c => get(`/notifications/history?channel=${encodeURIComponent(c)}`, { quiet401: true })));
  const newest = Math.max(0, ...histories.filter(a => a.ok).flatMap(a => a.data.map(e => e.id)));
  if (lastEventId === null) lastEventId = String(newest);
}

async function retry() {
  const me = await get('/auth/me', { quiet401: true });
  if (!wanted) return;
  if (me.status === 401) {
    stop('closed', 'closed: signed out');
    return;
  }
  connect();
}

function receive(message) {
  if (message.lastEventId) lastEventId = message.lastEventId;
  if (message.type === 'reset') {
    setState('reset', 'reset: history reloaded');
    return;
  }
  const event = JSON.parse(message.data);
  // Published before this connection opened: an event the stream missed while it was down, delivered on resume.
  if (resumedAt !== null && event.timestamp < resumedAt && !seen.has(event.id)) {
    missed++;
    showResumed();
  }
  add(event, true);
}

function add(event, live) {
  if (seen.has(event.id)) return;
  seen.add(event.id);
  events.push(event);
  if (events.length > 200) events.shift();
  if (live) listeners.forEach(listener => listener(event));
}

function showResumed() {
  setState('resumed', `resumed: ${missed} missed event${missed === 1 ? '' : 's'} delivered`);
  clearTimeout(settleTimer);
  settleTimer = setTimeout(() => { if (source && !dropped) setState('live', 'live'); }, 10000);
}

function setState(state, text) {
  const indicator = document.getElementById('stream-state');
  indicator.dataset.state = state;
  indicator.textContent = text;
  indicator.title = `Notification stream: ${text}`;
}
