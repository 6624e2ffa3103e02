// The console's shell: sign-in, the hash router (#/dashboard, #/inventory,
// #/import, #/cas, #/apikeys) and the header. Each view renders into a new
// container, so a slow answer for a view the user already left lands in a
// detached element instead of the page.
import { api, SIGNED_OUT_EVENT } from './api.js';
import { getKey, setKey, clearKey } from './session.js';
import { h, clear, field, errorBox } from './dom.js';
import { sodiumReady } from './seal.js';
import * as dashboard from './dashboard.js';
import * as inventory from './inventory.js';
import * as importer from './importer.js';
import * as cas from './cas.js';
import * as apikeys from './apikeys.js';

const VIEWS = { dashboard, inventory, import: importer, cas, apikeys };
const TITLES = { dashboard: 'Dashboard', inventory: 'Inventory', import: 'Import', cas: 'Trusted CAs', apikeys: 'API keys' };

const ctx = { account: null };
let lastView = '';
let seq = 0;

const $ = (id) => document.getElementById(id);

function currentView() {
  const m = /^#\/([a-z]+)/.exec(location.hash);
  return m && VIEWS[m[1]] ? m[1] : 'dashboard';
}

function signIn(message) {
  ctx.account = null;
  lastView = '';
  $('nav').hidden = true;
  $('who').hidden = true;
  const main = clear($('main'));
  const key = h('input', { type: 'password', id: 'api-key', autocomplete: 'off', spellcheck: 'false', required: true, class: 'mono' });
  const status = h('div', { role: 'status' }, message ? errorBox(new Error(message)) : null);
  const form = h('form', { class: 'panel signin', 'aria-labelledby': 'signin-h' },
    h('h1', { id: 'signin-h' }, 'Sign in'),
    h('p', { class: 'muted' }, 'Use a tlsvault API key. It is kept in this browser tab only and sent only to this server.'),
    field('API key', key),
    h('div', { class: 'actions left' }, h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, 'Sign in')),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const k = key.value.trim();
    if (!k) return;
    try {
      ctx.account = await api('GET', '/v1/useraccounts', undefined, { key: k });
      setKey(k);
      key.value = '';
      signedIn();
    } catch (err) {
      clear(status).append(errorBox(err.status === 401 ? new Error('That key was not accepted (unknown, revoked or expired).') : err));
      key.select();
    }
  });
  main.append(form);
  document.title = 'Sign in · tlsvault';
  key.focus();
}

function signedIn() {
  const a = ctx.account;
  $('nav').hidden = false;
  $('who').hidden = false;
  $('who-name').textContent = `${a.company.name} · ${a.apiKey.role}`;
  $('nav-apikeys').hidden = a.apiKey.role !== 'ADMIN';
  // READ_ONLY keys can look, not change: the server refuses it anyway (403)
  $('nav-import').hidden = a.apiKey.role === 'READ_ONLY';
  route();
}

async function route() {
  if (!ctx.account) return;
  const view = currentView();
  const mySeq = ++seq;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${TITLES[view]} · tlsvault`;
  const root = h('div', { class: `view view-${view}` });
  clear($('main')).append(root);
  const changed = view !== lastView;
  lastView = view;
  if (changed) $('toast').className = 'toast'; // a message about the last view
  try {
    await VIEWS[view].render(root, ctx);
  } catch (e) {
    root.append(errorBox(e));
  }
  // a new view: move focus to its heading, for keyboard and screen readers
  if (changed && mySeq === seq && !root.querySelector('#detail')) {
    const h1 = root.querySelector('h1');
    if (h1 && !root.contains(document.activeElement)) {
      h1.tabIndex = -1;
      h1.focus({ preventScroll: true });
    }
  }
}

async function start() {
  $('signout').addEventListener('click', () => { clearKey(); signIn(); });
  $('skip').addEventListener('click', (e) => { e.preventDefault(); $('main').focus(); });
  window.addEventListener(SIGNED_OUT_EVENT, (e) => { clearKey(); signIn(`Signed out: ${e.detail}`); });
  window.addEventListener('hashchange', () => { if (location.hash.startsWith('#/')) route(); });
  sodiumReady(); // compile libsodium while the user signs in
  const k = getKey();
  if (!k) { signIn(); return; }
  try {
    ctx.account = await api('GET', '/v1/useraccounts', undefined, { key: k });
    signedIn();
  } catch (e) {
    clearKey();
    signIn(e.status === 401 ? 'Your key is no longer accepted; sign in again.' : e.message);
  }
}

start();
