// The portal's entry point: a small History API router (deep links, back button), the header, and the rules that
// apply on every page (a 401 anywhere sends the tab to sign-in and closes its stream).
import { api, get, onSignedOut } from './api.js';
import { h, replace } from './dom.js';
import { setDashboardUrl } from './redis-panel.js';
import { toast } from './toast.js';
import * as session from './session.js';
import * as stream from './stream.js';
import * as signin from './pages/signin.js';
import * as projects from './pages/projects.js';
import * as project from './pages/project.js';
import * as feed from './pages/feed.js';
import * as sessions from './pages/sessions.js';
import * as admin from './pages/admin.js';

const routes = [
  { pattern: /^\/signin$/, page: signin, title: 'Sign in', open: true },
  { pattern: /^\/register$/, page: signin, title: 'Register', open: true },
  { pattern: /^\/projects$/, page: projects, title: 'Projects' },
  { pattern: /^\/projects\/([^/]+)$/, page: project, title: 'Project' },
  { pattern: /^\/feed$/, page: feed, title: 'Live feed' },
  { pattern: /^\/sessions$/, page: sessions, title: 'Sessions' },
  { pattern: /^\/admin$/, page: admin, title: 'Admin' },
];

const main = document.getElementById('main');
let generation = 0;
let cleanup = null;

export function navigate(path, { replace: replacing = false } = {}) {
  history[replacing ? 'replaceState' : 'pushState'](null, '', path);
  render();
}

async function render() {
  const { pathname, search } = location;
  const here = ++generation;
  cleanup?.();
  cleanup = null;
  if (pathname === '/') return navigate(session.me() ? '/projects' : '/signin', { replace: true });
  const route = routes.find(r => r.pattern.test(pathname));
  if (route && !route.open && !session.me()) {
    return navigate(`/signin?next=${encodeURIComponent(pathname + search)}`, { replace: true });
  }
  if (route?.open && session.me()) return navigate('/projects', { replace: true });
  showHeader(pathname);
  replace(main);
  if (!route) {
    document.title = 'Not found - Dev platform';
    replace(main, h('h1', {}, 'Not found'), h('p', {}, 'There is no page at this address. ', h('a', { href: '/projects' }, 'Your projects')));
    return;
  }
  document.title = `${route.title} - Dev platform`;
  const context = {
    main,
    params: pathname.match(route.pattern).slice(1).map(decodeURIComponent),
    query: new URLSearchParams(search),
    path: pathname,
    navigate,
    signedIn: signedInAs,
    // False once the user has moved on: a page's late answers must not draw over the next page.
    current: () => here === generation,
  };
  cleanup = (await route.page.render(context)) ?? null;
  if (here !== generation) {
    cleanup?.();
    return;
  }
  if (document.activeElement === document.body) main.focus({ preventScroll: true });
}

function showHeader(pathname) {
  const me = session.me();
  document.getElementById('nav').hidden = !me;
  document.getElementById('nav-admin').hidden = !session.isAdmin();
  document.getElementById('signout').hidden = !me;
  document.getElementById('whoami').textContent = me ? `${me.user.name} (${me.user.tier}, id ${me.user.id})` : '';
  for (const link of document.querySelectorAll('nav a')) {
    if (pathname.startsWith(link.getAttribute('href'))) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

/** After sign-in: who we are, the stream, then where the user was going. */
async function signedInAs(next) {
  await session.load();
  stream.start();
  navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/projects');
}

function signedOut(message) {
  session.forget();
  stream.stop('closed', 'closed: signed out');
  const next = location.pathname.startsWith('/signin') ? '' : `?next=${encodeURIComponent(location.pathname + location.search)}`;
  navigate(`/signin${next}`, { replace: true });
  if (message) document.getElementById('signin-message')?.replaceChildren(message);
}

onSignedOut(() => {
  if (session.me()) signedOut('Your session has ended (signed out here or on another device). Sign in again.');
});

document.getElementById('signout').addEventListener('click', async () => {
  await api('DELETE', '/auth/sessions/current', undefined, { quiet401: true });
  signedOut('Signed out.');
});

document.addEventListener('click', event => {
  const link = event.target.closest('a[href]');
  if (!link || link.target || link.origin !== location.origin || event.button !== 0
      || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  if (link.pathname + link.search !== location.pathname + location.search) navigate(link.pathname + link.search);
});
window.addEventListener('popstate', render);

stream.subscribe(event => {
  if (event.type === 'system_alert') toast(event.payload.message, event.payload.severity);
  else if (event.type === 'project_created') toast(`Project created: ${event.payload.name}`);
});

const state = await get('/portal/state');
setDashboardUrl(state.data?.dashboardUrl ?? null);
if (state.data?.signedIn && await session.load()) stream.start();
render();
