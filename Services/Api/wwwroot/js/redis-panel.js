// "Redis at work": what the last answer says about the patterns that served it.
import { h, replace } from './dom.js';

let dashboardUrl = null;
export function setDashboardUrl(url) { dashboardUrl = url; }

export function showResponse(method, path, response) {
  const text = id => document.getElementById(id);
  text('redis-request').textContent = `${method} ${path.split('?')[0]} -> ${response.status}`;

  const cache = response.headers.get('x-cache');
  text('redis-cache').textContent = cache ? `${cache} (${cache === 'HIT' ? 'answered from Redis' : 'endpoint ran, answer stored'})` : 'not cacheable';

  const limit = response.headers.get('x-ratelimit-limit');
  const remaining = response.headers.get('x-ratelimit-remaining');
  const reset = response.headers.get('x-ratelimit-reset');
  const retryAfter = response.headers.get('retry-after');
  text('redis-limit').textContent = limit
    ? `${remaining}/${limit} left, window resets in ${reset} s`
    : response.status === 429 ? `refused: retry in ${retryAfter} s` : 'not counted';

  // traceresponse: 00-<trace id>-<span id>-<flags> (W3C Trace Context level 2).
  const traceId = response.headers.get('traceresponse')?.split('-')[1];
  const trace = text('redis-trace');
  if (!traceId) replace(trace, '-');
  else if (dashboardUrl) replace(trace, h('a', { href: `${dashboardUrl}/traces/detail/${traceId}`, target: '_blank', rel: 'noopener' }, traceId));
  else replace(trace, traceId);
}
