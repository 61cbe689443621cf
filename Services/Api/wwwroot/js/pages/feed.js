// The live feed: alerts (everyone), project_created (admins) and the deployments of your projects, as they
// arrive on the stream; on opening, the recent alerts from the notifier's history too.
import { get } from '../api.js';
import { h, replace, time } from '../dom.js';
import * as session from '../session.js';
import * as stream from '../stream.js';

export async function render({ main, current }) {
  const list = h('ol', { class: 'list feed', id: 'feed', reversed: true });
  replace(main, h('h1', {}, 'Live feed'),
    h('p', { class: 'muted' }, 'Newest first. New events also show as notices in the corner; the indicator at the top says whether the stream is live.'),
    h('section', { class: 'card' }, list));

  const draw = () => replace(list, stream.events.length === 0
    ? h('li', { class: 'muted' }, 'Nothing yet.')
    : [...stream.events].reverse().map(item));
  draw();
  const unsubscribe = stream.subscribe(draw);

  const channels = ['system:alert', ...(session.isAdmin() ? ['project:created'] : [])];
  const histories = await Promise.all(channels.map(channel => get(`/notifications/history?channel=${encodeURIComponent(channel)}`)));
  if (current()) {
    stream.remember(histories.filter(answer => answer.ok).flatMap(answer => answer.data));
    draw();
  }
  return unsubscribe;
}

function item(event) {
  const when = h('span', { class: 'meta' }, `${time(new Date(event.timestamp).toISOString())}, event ${event.id}`);
  const p = event.payload;
  switch (event.type) {
    case 'system_alert':
      return h('li', { dataset: { type: event.type, id: event.id } },
        h('span', { class: 'name' }, p.message), h('span', { class: 'severity' }, p.severity), when);
    case 'project_created':
      return h('li', { dataset: { type: event.type, id: event.id } },
        h('span', { class: 'name' }, 'Project created: ', h('a', { href: `/projects/${encodeURIComponent(p.projectId)}` }, p.name)),
        h('span', { class: 'muted' }, `owner ${p.ownerId}`), when);
    default:
      return h('li', { dataset: { type: event.type, id: event.id } },
        h('span', { class: 'name' }, 'Deployment of project ', h('a', { href: `/projects/${encodeURIComponent(p.projectId)}` }, p.projectId)),
        h('span', { class: 'badge', dataset: { state: p.status } }, p.status), when);
  }
}
