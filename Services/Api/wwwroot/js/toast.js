import { h } from './dom.js';

/** A short-lived message in the corner: positioned over the page, so it never moves the layout. */
export function toast(text, severity = 'info') {
  const item = h('div', { class: 'toast', role: 'status', dataset: { severity } }, text);
  const region = document.getElementById('toasts');
  region.append(item);
  while (region.children.length > 4) region.firstElementChild.remove();
  setTimeout(() => item.remove(), 6000);
}
