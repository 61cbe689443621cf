// The caller's projects (GET /api/projects: served from the Redis output cache after the first read) and a form
// to create one.
import { describe, get, post } from '../api.js';
import { clearErrors, field, formError, h, replace, showFieldErrors, time } from '../dom.js';

export async function render({ main, navigate, current }) {
  const list = h('ul', { class: 'list', id: 'projects' });
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading...');
  const form = h('form', { class: 'inline', novalidate: true, 'aria-label': 'Create a project' },
    field('New project name', 'name', { required: true, maxlength: 100 }),
    h('button', { type: 'submit' }, 'Create'),
    h('p', { class: 'form-error', role: 'alert' }));

  form.addEventListener('submit', async event => {
    event.preventDefault();
    clearErrors(form);
    const created = await post('/api/projects', { name: form.elements.name.value });
    if (!current()) return;
    if (!created.ok) {
      if (!showFieldErrors(form, created.problem)) formError(form, describe(created.problem));
      return;
    }
    navigate(`/projects/${encodeURIComponent(created.data.id)}`);
  });

  replace(main, h('h1', {}, 'Projects'), h('section', { class: 'card' }, h('h2', {}, 'Create a project'), form),
    h('section', { class: 'card' }, h('h2', {}, 'Your projects'), status, list));

  const answer = await get('/api/projects');
  if (!current()) return;
  if (!answer.ok) {
    status.textContent = describe(answer.problem);
    return;
  }
  status.textContent = answer.data.length === 0 ? 'No projects yet: create one, or ask an owner to add you (give them your user id, shown at the top).' : '';
  replace(list, answer.data.map(p => h('li', {},
    h('a', { class: 'name', href: `/projects/${encodeURIComponent(p.id)}` }, p.name),
    h('span', { class: 'muted' }, p.role),
    h('span', { class: 'meta' }, `created ${time(p.createdAt)}`))));
}
