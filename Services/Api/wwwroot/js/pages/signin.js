// Sign in and register. Field errors come from the problem+json answers; a 429 (too many attempts) disables the
// form and counts down the Retry-After seconds, after which it can be used again.
import { describe, post } from '../api.js';
import { clearErrors, field, formError, h, replace, showFieldErrors } from '../dom.js';

export function render({ main, path, query, signedIn, current }) {
  const registering = path === '/register';
  const submit = h('button', { type: 'submit' }, registering ? 'Create account' : 'Sign in');
  const form = h('form', { class: 'card', novalidate: true },
    registering ? field('Name', 'name', { autocomplete: 'name', required: true }) : null,
    field('Email', 'email', { type: 'email', autocomplete: 'username', required: true }),
    field('Password', 'password', { type: 'password', autocomplete: registering ? 'new-password' : 'current-password', required: true }),
    h('p', { class: 'form-error', role: 'alert' }),
    h('p', { class: 'countdown', role: 'status', 'aria-live': 'polite' }),
    h('div', {}, submit));
  let timer = null;

  form.addEventListener('submit', async event => {
    event.preventDefault();
    clearErrors(form);
    const values = Object.fromEntries(new FormData(form));
    submit.disabled = true;
    if (registering) {
      const created = await post('/auth/register', values);
      if (!current()) return;
      if (!created.ok) return failed(created);
    }
    const login = await post('/auth/login', { email: values.email, password: values.password }, { quiet401: true });
    if (!current()) return;
    if (!login.ok) return failed(login);
    await signedIn(query.get('next'));
  });

  function failed(answer) {
    if (answer.status === 429) return countDown(answer.retryAfter ?? 60);
    submit.disabled = false;
    if (answer.status === 401) return formError(form, 'Wrong email or password.');
    if (!showFieldErrors(form, answer.problem)) formError(form, describe(answer.problem));
  }

  function countDown(seconds) {
    const status = form.querySelector('.countdown');
    const until = Date.now() + seconds * 1000;
    formError(form, 'Too many sign-in attempts.');
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(timer);
        timer = null;
        status.textContent = 'You can try again now.';
        formError(form, '');
        submit.disabled = false;
        return;
      }
      status.textContent = `Next attempt allowed in ${left} s`;
    };
    tick();
    timer = setInterval(tick, 250);
  }

  replace(main,
    h('h1', {}, registering ? 'Create an account' : 'Sign in'),
    h('p', { id: 'signin-message', class: 'muted', role: 'status' }),
    form,
    h('p', {}, registering ? 'Already registered? ' : 'New here? ',
      h('a', { href: registering ? '/signin' : '/register' }, registering ? 'Sign in' : 'Create an account')));
  return () => clearInterval(timer);
}
