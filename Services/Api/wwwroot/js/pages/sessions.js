// The caller's sessions (devices): revoke one, or sign out everywhere. Revoked sessions are refused by every
// service at once; a tab using one finds out at its next request and its stream ends.
import { api, describe, get } from '../api.js';
import { h, replace, time } from '../dom.js';
import * as session from '../session.js';

export async function render({ main, current }) {
  const list = h('ul', { class: 'list', id: 'sessions' });
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading...');
  const everywhere = h('button', { type: 'button', class: 'danger', id: 'signout-everywhere' }, 'Sign out everywhere');
  everywhere.addEventListener('click', async () => {
    everywhere.disabled = true;
    // Every session of this user, this one included: the 401 that follows sends this tab to sign-in too.
    await api('DELETE', '/auth/sessions');
    await get('/auth/me');
  });
  const me = session.me();
  replace(main, h('h1', {}, 'Sessions'),
    h('p', {}, `Signed in as ${me.user.email}. Your user id is `, h('strong', {}, me.user.id), ': a project owner adds you with it.'),
    h('section', { class: 'card' }, h('h2', {}, 'Your devices'), status, list),
    h('section', { class: 'card' }, h('h2', {}, 'Everywhere'), h('p', {}, 'Ends every session of yours, on every device, including this one.'), everywhere));

  async function load() {
    const answer = await get('/auth/sessions');
    if (!current()) return;
    if (!answer.ok) {
      status.textContent = describe(answer.problem);
      return;
    }
    status.textContent = '';
    replace(list, answer.data.map(s => {
      const revoke = h('button', { type: 'button', class: 'secondary', 'aria-label': `Revoke the session of ${s.userAgent || 'an unknown device'}` }, s.current ? 'Sign out' : 'Revoke');
      revoke.addEventListener('click', async () => {
        revoke.disabled = true;
        const done = await api('DELETE', `/auth/sessions/${encodeURIComponent(s.id)}`);
        if (s.current) await get('/auth/me');
        else if (done.ok) load();
      });
      return h('li', { dataset: { session: s.id } },
        h('span', { class: 'name' }, s.userAgent || 'unknown device', s.current ? ' (this device)' : ''),
        revoke,
        h('span', { class: 'meta' }, `signed in ${time(s.createdAt)}, last active ${time(s.lastActivity)}, expires ${time(s.expiresAt)}`));
    }));
  }
  await load();
}
