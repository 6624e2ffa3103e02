// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so
// certificate names, labels and reasons from the server can't inject markup.

/**
 * h('button', {type: 'button', onclick: fn, class: 'x'}, 'text', childEl)
 * Attributes starting with "on" become listeners; false/null/undefined
 * attributes and children are skipped; arrays of children are flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVGNS = 'http://www.w3.org/2000/svg';

/** The same for SVG elements (attributes only, no listeners by name). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let toastTimer = 0;
/** A short message in the live region (read out by screen readers). */
export function toast(text, kind = 'info') {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.className = `toast show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; }, 6000);
}

/** "2026-11-27" from an ISO date (UTC, as the API gives it). */
export function day(iso) {
  return iso ? iso.slice(0, 10) : '';
}

/** "2026-11-27 08:01 UTC" */
export function dateTime(iso) {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '';
}

export const DAY_MS = 86400000;

/** Whole days from now to iso (negative when past). */
export function daysLeft(iso, now = Date.now()) {
  return Math.floor((Date.parse(iso) - now) / DAY_MS);
}

/** "in 12 days", "expired 3 days ago", "today" */
export function relDays(iso, now = Date.now()) {
  const d = daysLeft(iso, now);
  if (Date.parse(iso) < now) {
    const ago = Math.max(0, -d - 1);
    return ago === 0 ? 'expired today' : `expired ${ago} day${ago === 1 ? '' : 's'} ago`;
  }
  if (d === 0) return 'expires today';
  return `in ${d} day${d === 1 ? '' : 's'}`;
}

/** The CN=... part of a DN, else the DN. */
export function cnOf(dn) {
  const m = /(?:^|,)\s*CN=((?:\\,|[^,])*)/.exec(dn || '');
  return m ? m[1].replace(/\\,/g, ',') : dn || '';
}

/** A labelled form field: <label>text <input ...></label> with an id link. */
let fieldSeq = 0;
export function field(labelText, input, hint) {
  if (!input.id) input.id = `f${++fieldSeq}`;
  const hintEl = hint ? h('span', { class: 'hint', id: `${input.id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: input.id }, labelText), input, hintEl);
}

/** A modal dialog; resolves with the value given to close(), or null. */
export function modal(title, build) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'dlg-title' });
    let result = null;
    const close = (v) => { result = v; dlg.close(); };
    dlg.append(h('h2', { id: 'dlg-title' }, title), build(close));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** Ask yes/no; resolves true for yes. */
export function confirmDialog(title, text, yesText = 'OK', danger = false) {
  return modal(title, (close) => h('div', {},
    h('p', {}, text),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'ghost', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: danger ? 'danger' : 'primary', autofocus: true, onclick: () => close(true) }, yesText))))
    .then((v) => v === true);
}

/** A message for a failed call, in the page (role=alert) and as text. */
export function errorBox(err) {
  return h('p', { class: 'error', role: 'alert' }, err && err.message ? err.message : String(err));
}

/** Save bytes as a file the browser downloads. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** Parameters of the current hash route: #/inventory?q=x -> {q: 'x'} */
export function routeParams() {
  const i = location.hash.indexOf('?');
  return Object.fromEntries(new URLSearchParams(i < 0 ? '' : location.hash.slice(i + 1)));
}

export function routeTo(view, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== '' && v !== null)).toString();
  location.hash = `#/${view}${q ? `?${q}` : ''}`;
}
