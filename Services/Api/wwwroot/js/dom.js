// Builds DOM nodes. Text always goes in as text nodes (textContent), never as HTML: a project called
// <img src=x onerror=...> is shown as those characters. Nothing in the portal assigns innerHTML.

/** h('li', { class: 'row', onclick: fn }, 'text', childNode, ...): an element; strings become text nodes. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name === 'value') element.value = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** A labelled input with a slot for its error message, linked by aria-describedby. */
export function field(label, name, attributes = {}) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const error = h('p', { class: 'error', id: `${id}-error` });
  const control = attributes.options
    ? h('select', { id, name, 'aria-describedby': error.id }, ...attributes.options.map(o => h('option', { value: o }, o)))
    : h('input', { id, name, 'aria-describedby': error.id, ...attributes });
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, error);
}

/** Shows problem+json field errors ({errors: {name: [message]}}) under the fields of a form; returns whether any matched. */
export function showFieldErrors(form, problem) {
  let matched = false;
  for (const input of form.querySelectorAll('input, select')) {
    const messages = fieldMessages(problem, input.name);
    const error = document.getElementById(input.getAttribute('aria-describedby'));
    if (error) error.textContent = messages.join(' ');
    input.setAttribute('aria-invalid', messages.length > 0 ? 'true' : 'false');
    matched ||= messages.length > 0;
  }
  return matched;
}

function fieldMessages(problem, name) {
  const errors = problem?.errors ?? {};
  const key = Object.keys(errors).find(k => k.toLowerCase() === name.toLowerCase());
  return key ? errors[key] : [];
}

export function clearErrors(form) {
  showFieldErrors(form, null);
  const formError = form.querySelector('.form-error');
  if (formError) formError.textContent = '';
}

export function formError(form, message) {
  const slot = form.querySelector('.form-error');
  if (slot) slot.textContent = message;
}

export const time = iso => iso ? new Date(iso).toLocaleString() : '';
