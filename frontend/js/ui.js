//! Small DOM helpers shared by pages and widgets: element builder, toasts,
//! modal dialogs, number and time formatting. No framework.

import { errorText } from './api.js';

/**
 * Builds an element: el('button.btn.primary', {type: 'button', onclick}, 'Send').
 * Attributes starting with `on` become listeners; `dataset`, `style` objects are merged.
 * Children may be strings, nodes, arrays, null or false.
 */
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const node = document.createElement(tag || 'div');
  if (classes.length) node.className = classes.join(' ');
  if (attrs instanceof Node || typeof attrs === 'string' || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'style' && typeof v === 'object') {
      // Custom properties (`--x`) only take effect through setProperty.
      for (const [prop, val] of Object.entries(v)) {
        if (prop.startsWith('--')) node.style.setProperty(prop, String(val));
        else node.style[prop] = val;
      }
    }
    else if (k === 'class') node.className += (node.className ? ' ' : '') + v;
    else if (k === 'text') node.textContent = v;
    else if (v === true) node.setAttribute(k, '');
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the children of a node. */
export function mount(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** Shows a short message at the top of the screen. kind: info | success | error. */
export function toast(message, kind = 'info', ms = 3500) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = el('div.toast', { class: `toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(t);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => { t.classList.add('toast-out'); setTimeout(() => t.remove(), 300); }, ms);
  return t;
}

/** Toast for any error, in the contract's words. */
export function toastError(err) {
  return toast(errorText(err), 'error', 5000);
}

/**
 * Opens a modal dialog. `build(close)` returns the dialog's content. Resolves
 * with what close() was called with (undefined when dismissed).
 */
export function openDialog(title, build, { className = '' } = {}) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dlg = el('dialog.dialog', { 'aria-labelledby': titleId, class: className });
    const close = (value) => { dlg.close(); dlg.remove(); resolve(value); };
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(undefined); });
    dlg.addEventListener('click', (e) => { if (e.target === dlg) close(undefined); });
    dlg.append(
      el('div.dialog-head', el('h2', { id: titleId }, title),
        el('button.icon-btn', { type: 'button', 'aria-label': 'Close', onclick: () => close(undefined) }, '✕')),
      el('div.dialog-body', build(close)),
    );
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** A yes/no question. */
export function confirmDialog(title, text, yes = 'Confirm') {
  return openDialog(title, (close) => [
    el('p', text),
    el('div.row.end',
      el('button.btn.btn-ghost', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      el('button.btn.btn-primary', { type: 'button', onclick: () => close(true) }, yes)),
  ]);
}

/** Runs an async action with a button disabled and a busy state; errors become toasts. */
export async function busy(button, fn) {
  if (button) { button.disabled = true; button.setAttribute('aria-busy', 'true'); }
  try {
    return await fn();
  } catch (err) {
    toastError(err);
    return undefined;
  } finally {
    if (button) { button.disabled = false; button.removeAttribute('aria-busy'); }
  }
}

export const fmtCoins = (n) => Number(n || 0).toLocaleString('en-US');
export const fmtCount = (n) => {
  n = Number(n || 0);
  if (n >= 10000) return `${(n / 1000).toFixed(n >= 100000 ? 0 : 1)}k`;
  return n.toLocaleString('en-US');
};
export const fmtYuan = (cents) => `¥${(Number(cents || 0) / 100).toFixed(2)}`;
export function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString('en-GB', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
export function fmtClock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}
/** mm:ss until an ISO time, never negative. */
export function countdown(iso) {
  const s = Math.max(0, Math.ceil((new Date(iso).getTime() - Date.now()) / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}
export const secondsLeft = (iso) => Math.max(0, Math.ceil((new Date(iso).getTime() - Date.now()) / 1000));

/** A round avatar: the image when the user has one, else the initial on a colour of their id. */
export function avatar(user, size = 'md') {
  const name = (user && user.nickname) || '?';
  const hue = ((user && user.id) || 0) * 47 % 360;
  const node = el('span.avatar', { class: `avatar-${size}`, style: { '--hue': hue }, 'aria-hidden': 'true' });
  if (user && user.avatar && /^https:\/\//.test(user.avatar)) {
    node.append(el('img', { src: user.avatar, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer' }));
  } else {
    node.textContent = [...name][0].toUpperCase();
  }
  return node;
}

/** The label for a form control, with an optional hint and inline error slot. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  const err = el('p.field-error', { id: `${id}-err`, role: 'alert' });
  input.setAttribute('aria-describedby', `${id}-err`);
  return el('div.field', el('label', { for: id }, label), input, hint ? el('p.hint', hint) : null, err);
}

/** Shows an error under a field (or clears it with ''). */
export function setFieldError(input, message) {
  const err = document.getElementById(`${input.id}-err`);
  if (err) err.textContent = message || '';
  input.toggleAttribute('aria-invalid', Boolean(message));
}

/** Visible empty state for lists. */
export function emptyState(icon, title, text, action) {
  return el('div.empty', el('div.empty-icon', { 'aria-hidden': 'true' }, icon), el('h3', title),
    text ? el('p', text) : null, action || null);
}

/** Skeleton rows shown while a list loads. */
export function loading(label = 'Loading…') {
  return el('div.loading', { role: 'status' }, el('span.spinner', { 'aria-hidden': 'true' }), label);
}
