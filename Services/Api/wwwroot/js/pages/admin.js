// Operators: queue counts (refreshed every 2 s while the page is shown, and at once on each event), dead jobs with
// their last error and "retry", cancel a job, broadcast an alert, change a user's tier.
import { api, describe, get, post } from '../api.js';
import { clearErrors, field, formError, h, replace, showFieldErrors, time } from '../dom.js';
import * as session from '../session.js';
import * as stream from '../stream.js';

const RefreshEvery = 2000;

export async function render({ main, current }) {
  if (!session.isAdmin()) {
    replace(main, h('h1', {}, 'Admin'), h('p', {}, 'Only administrators can see this page.'));
    return;
  }
  const counts = h('tbody', { id: 'queue-counts' });
  const dead = h('tbody', { id: 'dead-jobs' });
  const deadStatus = h('p', { class: 'muted', role: 'status' });
  let lastDead = null;

  async function refresh() {
    const answer = await get('/api/admin/queues');
    if (!current() || !answer.ok) return;
    replace(counts, answer.data.map(q => h('tr', { dataset: { queue: q.queue } },
      h('th', { scope: 'row' }, q.queue),
      ...[q.ready, q.scheduled, q.active, q.dead].map(n => h('td', { class: 'num' }, n)))));
    const signature = answer.data.map(q => `${q.queue}:${q.dead}`).join(',');
    if (signature !== lastDead) {
      lastDead = signature;
      await loadDead(answer.data.filter(q => q.dead > 0).map(q => q.queue));
    }
  }

  async function loadDead(queues) {
    const answers = await Promise.all(queues.map(q => get(`/api/admin/queues/${encodeURIComponent(q)}/dead`)));
    if (!current()) return;
    const jobs = answers.filter(a => a.ok).flatMap(a => a.data.jobs);
    deadStatus.textContent = jobs.length === 0 ? 'No dead jobs.' : '';
    replace(dead, jobs.map(job => {
      const retry = h('button', { type: 'button', 'aria-label': `Retry ${job.id}` }, 'Retry');
      const cancel = h('button', { type: 'button', class: 'secondary', 'aria-label': `Cancel ${job.id}` }, 'Cancel');
      retry.addEventListener('click', () => act(retry, `/api/admin/jobs/${encodeURIComponent(job.id)}/retry`));
      cancel.addEventListener('click', () => act(cancel, `/api/admin/jobs/${encodeURIComponent(job.id)}/cancel`));
      return h('tr', { dataset: { job: job.id } },
        h('td', {}, job.id), h('td', {}, job.type), h('td', { class: 'num' }, `${job.attempts}/${job.maxAttempts}`),
        h('td', { class: 'name' }, job.error ?? ''), h('td', {}, time(job.diedAt)), h('td', {}, retry, ' ', cancel));
    }));
  }

  async function act(button, path) {
    button.disabled = true;
    const answer = await post(path);
    if (!answer.ok) deadStatus.textContent = describe(answer.problem);
    lastDead = null;
    await refresh();
  }

  const cancelForm = form('Cancel a job', [field('Job id', 'jobId', { required: true, placeholder: 'deployment-12' })], 'Cancel job',
    values => post(`/api/admin/jobs/${encodeURIComponent(values.jobId.trim())}/cancel`), () => 'Cancelled.');
  const alertForm = form('Broadcast an alert', [field('Message', 'message', { required: true, maxlength: 1000 }),
    field('Severity', 'severity', { options: ['info', 'warning', 'critical'] })], 'Broadcast',
    values => post('/notifications/alerts', values), answer => `Sent as event ${answer.data.id}.`);
  const tierForm = form('Change a user\'s tier', [field('User id', 'userId', { required: true, inputmode: 'numeric' }),
    field('Tier', 'tier', { options: ['user', 'premium', 'admin'] })], 'Change tier',
    values => api('PUT', `/auth/users/${encodeURIComponent(values.userId.trim())}/tier`, { tier: values.tier }), () => 'Tier changed: it applies to the user\'s next request.');

  replace(main, h('h1', {}, 'Admin'),
    h('section', { class: 'card' }, h('h2', {}, 'Queues'), h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'queue'), ...['ready', 'scheduled', 'active', 'dead'].map(c => h('th', { scope: 'col', class: 'num' }, c)))),
      counts))),
    h('section', { class: 'card' }, h('h2', {}, 'Dead jobs'), deadStatus, h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ...['job', 'type', 'attempts', 'last error', 'died', ''].map(c => h('th', { scope: 'col' }, c)))),
      dead))),
    h('section', { class: 'card' }, alertForm),
    h('section', { class: 'card' }, tierForm),
    h('section', { class: 'card' }, cancelForm));

  await refresh();
  const timer = setInterval(() => { if (document.visibilityState === 'visible') refresh(); }, RefreshEvery);
  const unsubscribe = stream.subscribe(() => refresh());
  return () => { clearInterval(timer); unsubscribe(); };

  function form(title, fields, label, send, done) {
    const element = h('form', { novalidate: true, 'aria-label': title },
      h('h2', {}, title), ...fields, h('div', {}, h('button', { type: 'submit' }, label)),
      h('p', { class: 'form-error', role: 'alert' }), h('p', { class: 'muted', role: 'status' }));
    element.addEventListener('submit', async event => {
      event.preventDefault();
      clearErrors(element);
      const status = element.querySelector('p[role=status]');
      status.textContent = '';
      const answer = await send(Object.fromEntries(new FormData(element)));
      if (!current()) return;
      if (!answer.ok) {
        if (!showFieldErrors(element, answer.problem)) formError(element, describe(answer.problem));
        return;
      }
      status.textContent = done(answer);
      element.reset();
      refresh();
    });
    return element;
  }
}
