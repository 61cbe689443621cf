// Every call to /api, /auth and /notifications goes through here: JSON bodies only (a cross-site form cannot send
// one without a CORS preflight, so simple-form CSRF is impossible), the session cookie as the only credential, and
// the answer's Redis facts (X-Cache, rate limit, trace) handed to the "Redis at work" panel.
import { showResponse } from './redis-panel.js';

const signedOutListeners = new Set();
export const onSignedOut = listener => signedOutListeners.add(listener);

/**
 * fetch with JSON in and out. Resolves to { ok, status, data, problem, retryAfter }. A 401 (the session was revoked
 * or expired) tells the signed-out listeners, unless quiet401 is set (callers that handle it themselves).
 */
export async function api(method, path, body, { quiet401 = false } = {}) {
  const headers = { accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-cache',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, problem: { title: 'The server cannot be reached. Check your connection and try again.' } };
  }
  showResponse(method, path, response);
  const text = response.status === 204 ? '' : await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  const result = {
    ok: response.ok, status: response.status,
    data: response.ok ? json : null,
    problem: response.ok ? null : (json ?? { title: `${response.status} ${response.statusText}` }),
    retryAfter: Number(response.headers.get('retry-after')) || null,
  };
  if (response.status === 401 && !quiet401) signedOutListeners.forEach(listener => listener());
  return result;
}

export const get = (path, options) => api('GET', path, undefined, options);
export const post = (path, body, options) => api('POST', path, body ?? {}, options);

/** A sentence for an error answer: its detail, else its title. */
export const describe = problem => problem?.detail || problem?.title || 'Something went wrong.';
