// One project: members, rename and add member (owner), Deploy, and its deployments, newest first, whose state
// badges move live from the notification stream (deployment_status events), with no reload and no polling.
import { api, describe, get, post } from '../api.js';
import { clearErrors, field, formError, h, replace, showFieldErrors, time } from '../dom.js';
import * as session from '../session.js';
import * as stream from '../stream.js';

// A job's state (from GET .../deployments) as a deployment state; "running" when the step is not known yet.
const FromJob = { pending: 'queued', scheduled: 'queued', active: 'running', retrying: 'retrying', completed: 'succeeded', failed: 'failed', dead: 'dead', cancelled: 'cancelled' };
// Job states that say more than the last event did (a failed attempt that will be retried, or is dead).
const Settled = new Set(['retrying', 'dead', 'cancelled']);

export async function render({ main, params: [id], current }) {
  const title = h('h1', {}, 'Project');
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading...');
  replace(main, title, status);

  const answer = await get(`/api/projects/${encodeURIComponent(id)}`);
  if (!current()) return;
  if (!answer.ok) {
    status.textContent = answer.status === 403 ? 'You are not a member of this project.' : describe(answer.problem);
    return;
  }
  let project = answer.data;
  status.textContent = '';
  title.textContent = project.name;
  const me = session.me();
  const owner = session.isAdmin() || me.user.id === project.ownerId;

  const members = h('ul', { class: 'list', id: 'members' });
  const deployments = h('ul', { class: 'list', id: 'deployments', 'aria-live': 'polite' });
  const rows = new Map();          // deployment id -> { item, badge, jobState }
  const steps = new Map();         // deployment id -> the statuses its events reported, in stream order
  const lastEvent = id => steps.get(id)?.at(-1);

  async function showMembers() {
    const names = await Promise.all(project.members.map(m => get(`/api/users/${encodeURIComponent(m.userId)}`)));
    if (!current()) return;
    replace(members, project.members.map((m, i) => h('li', {},
      h('span', { class: 'name' }, names[i].ok ? names[i].data.name : `user ${m.userId}`),
      h('span', { class: 'muted' }, m.role),
      h('span', { class: 'meta' }, `user id ${m.userId}`))));
  }

  function show(deploymentId) {
    const row = rows.get(deploymentId);
    if (!row) return;
    const event = lastEvent(deploymentId);
    const state = event && !(event === 'failed' && Settled.has(row.jobState)) ? event : FromJob[row.jobState] ?? 'unknown';
    if (row.badge.dataset.state !== state) {
      row.badge.dataset.state = state;
      row.badge.textContent = state;
    }
    row.trail.textContent = steps.has(deploymentId) ? `live: ${steps.get(deploymentId).join(' -> ')}` : '';
  }

  async function loadDeployments() {
    const list = await get(`/api/projects/${encodeURIComponent(id)}/deployments`);
    if (!current() || !list.ok) return;
    const items = list.data.map(d => {
      const row = rows.get(d.id) ?? { badge: h('span', { class: 'badge' }), trail: h('span', { class: 'meta trail' }) };
      row.jobState = d.state;
      row.item ??= h('li', { dataset: { deployment: d.id } },
        h('span', { class: 'name' }, `${d.branch} -> ${d.environment}`),
        row.badge,
        h('span', { class: 'meta' }, `requested ${time(d.createdAt)}${d.jobId ? `, job ${d.jobId}` : ''}`),
        row.trail);
      rows.set(d.id, row);
      show(d.id);
      return row.item;
    });
    replace(deployments, items.length ? items : h('li', { class: 'muted' }, 'No deployments yet.'));
  }

  const unsubscribe = stream.subscribe(event => {
    if (event.type !== 'deployment_status' || event.payload.projectId !== project.id) return;
    const { deploymentId, status: state } = event.payload;
    steps.set(deploymentId, [...(steps.get(deploymentId) ?? []), state]);
    if (!rows.has(deploymentId) || state === 'succeeded' || state === 'failed') loadDeployments();
    else show(deploymentId);
  });

  const deploy = h('form', { class: 'inline', novalidate: true, 'aria-label': 'Deploy' },
    field('Branch', 'branch', { value: 'main', required: true }),
    field('Environment', 'environment', { options: ['staging', 'production'] }),
    h('button', { type: 'submit' }, 'Deploy'),
    h('p', { class: 'form-error', role: 'alert' }));
  deploy.addEventListener('submit', async event => {
    event.preventDefault();
    clearErrors(deploy);
    const values = Object.fromEntries(new FormData(deploy));
    const accepted = await post(`/api/projects/${encodeURIComponent(id)}/deployments`, values);
    if (!current()) return;
    if (!accepted.ok) {
      if (!showFieldErrors(deploy, accepted.problem)) formError(deploy, describe(accepted.problem));
      return;
    }
    loadDeployments();
  });

  const sections = [
    h('section', { class: 'card' }, h('h2', {}, 'Deploy'), deploy),
    h('section', { class: 'card' }, h('h2', {}, 'Deployments'), deployments),
    h('section', { class: 'card' }, h('h2', {}, 'Members'), members, owner ? addMemberForm() : null),
  ];
  if (owner) sections.push(h('section', { class: 'card' }, h('h2', {}, 'Rename'), renameForm()));
  main.append(h('p', { class: 'muted' }, `Project ${project.id}, created ${time(project.createdAt)}`), ...sections);

  function addMemberForm() {
    const form = h('form', { class: 'inline', novalidate: true, 'aria-label': 'Add a member' },
      field('User id of the new member', 'userId', { required: true, inputmode: 'numeric' }),
      h('button', { type: 'submit' }, 'Add member'),
      h('p', { class: 'form-error', role: 'alert' }));
    form.addEventListener('submit', async event => {
      event.preventDefault();
      clearErrors(form);
      const added = await post(`/api/projects/${encodeURIComponent(id)}/members`, { userId: form.elements.userId.value.trim() });
      if (!current()) return;
      if (!added.ok) {
        if (!showFieldErrors(form, added.problem)) formError(form, describe(added.problem));
        return;
      }
      form.reset();
      const reloaded = await get(`/api/projects/${encodeURIComponent(id)}`);
      if (reloaded.ok && current()) {
        project = reloaded.data;
        showMembers();
      }
    });
    return form;
  }

  function renameForm() {
    const form = h('form', { class: 'inline', novalidate: true, 'aria-label': 'Rename the project' },
      field('Name', 'name', { value: project.name, required: true, maxlength: 100 }),
      h('button', { type: 'submit' }, 'Rename'),
      h('p', { class: 'form-error', role: 'alert' }));
    form.addEventListener('submit', async event => {
      event.preventDefault();
      clearErrors(form);
      const renamed = await api('PATCH', `/api/projects/${encodeURIComponent(id)}`, { name: form.elements.name.value });
      if (!current()) return;
      if (!renamed.ok) {
        if (!showFieldErrors(form, renamed.problem)) formError(form, describe(renamed.problem));
        return;
      }
      project = { ...project, name: renamed.data.name };
      title.textContent = project.name;
    });
    return form;
  }

  await Promise.all([showMembers(), loadDeployments()]);
  return unsubscribe;
}
