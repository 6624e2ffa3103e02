// API keys (role ADMIN): create (the key is shown once, with a copy
// button), list, revoke. The vault keeps only each key's hash, so a key that
// is not copied now is gone.
import { api } from './api.js';
import { h, clear, errorBox, day, dateTime, field, toast, confirmDialog, modal, routeTo } from './dom.js';

function shownOnce(created) {
  return modal('Copy the new API key now', (close) => {
    const key = h('input', { type: 'text', readonly: true, value: created.key, id: 'new-key', class: 'mono', 'aria-describedby': 'new-key-hint' });
    const copied = h('span', { role: 'status', class: 'muted' });
    const copy = h('button', {
      type: 'button', class: 'primary',
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(created.key);
          copied.textContent = 'Copied.';
        } catch {
          key.select();
          copied.textContent = 'Selected: press Ctrl+C to copy.';
        }
      },
    }, 'Copy');
    return h('div', {},
      h('p', { id: 'new-key-hint' }, `“${created.name}” (${created.role}), valid until ${day(created.validityEndDate)}. It is shown only this once: the vault keeps only its hash.`),
      h('div', { class: 'inline' }, key, copy), copied,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'ghost', onclick: () => { key.value = ''; close(true); } }, 'Done')));
  });
}

function createForm(reload) {
  const name = h('input', { type: 'text', id: 'key-name', required: true, maxlength: 100, autocomplete: 'off' });
  const role = h('select', { id: 'key-role' },
    h('option', { value: 'READ_ONLY' }, 'READ_ONLY: read only'),
    h('option', { value: 'PKI_ADMIN', selected: true }, 'PKI_ADMIN: import, trusted CAs, export'),
    h('option', { value: 'ADMIN' }, 'ADMIN: everything, API keys too'));
  const days = h('input', { type: 'number', id: 'key-days', min: 1, max: 3650, value: 90, required: true });
  const status = h('p', { role: 'status', class: 'muted' });
  const form = h('form', { class: 'panel', 'aria-labelledby': 'key-new-h' },
    h('h2', { id: 'key-new-h' }, 'New API key'),
    h('div', { class: 'grid3' }, field('Name', name), field('Role', role), field('Valid for (days)', days)),
    h('div', { class: 'actions left' }, h('button', { type: 'submit', class: 'primary' }, 'Create')), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const created = await api('POST', '/v1/apikeys', { name: name.value.trim(), role: role.value, validityDays: Number(days.value) });
      await shownOnce(created);
      name.value = '';
      reload();
    } catch (err) {
      status.textContent = `Not created: ${err.message}`;
    }
  });
  return form;
}

export async function render(root, ctx) {
  clear(root);
  const reload = () => routeTo('apikeys', { _: Date.now() });
  const listEl = h('section', { class: 'panel', 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, 'Keys'));
  root.append(h('h1', {}, 'API keys'), createForm(reload), listEl);
  try {
    const r = await api('GET', '/v1/apikeys');
    listEl.append(h('div', { class: 'table-scroll' }, h('table', { class: 'data', id: 'keys-table' },
      h('caption', { class: 'sr' }, 'API keys'),
      h('thead', {}, h('tr', {}, ['Name', 'Role', 'Created', 'Valid until', 'Last used', 'State'].map((t) => h('th', { scope: 'col' }, t)),
        h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Actions')))),
      h('tbody', {}, r.apiKeys.map((k) => {
        const mine = ctx.account && ctx.account.apiKey && ctx.account.apiKey.id === k.id;
        return h('tr', {},
          h('td', {}, k.name, mine ? h('span', { class: 'muted small' }, ' (this session)') : null),
          h('td', {}, k.role),
          h('td', {}, day(k.creationDate)),
          h('td', {}, day(k.validityEndDate)),
          h('td', {}, k.lastUsedDate ? dateTime(k.lastUsedDate) : 'never'),
          h('td', {}, h('span', { class: `badge ${k.revoked ? 'failed' : 'ok'}` }, k.revoked ? 'revoked' : 'active')),
          h('td', {}, k.revoked ? '' : h('button', {
            type: 'button', class: 'danger small', 'aria-label': `Revoke ${k.name}`,
            onclick: async () => {
              const yes = await confirmDialog('Revoke this key?',
                `${k.name}: every client using it is refused from now on.${mine ? ' This is the key you signed in with: you will be signed out.' : ''}`, 'Revoke', true);
              if (!yes) return;
              try {
                await api('DELETE', `/v1/apikeys/${encodeURIComponent(k.id)}`);
                toast('Key revoked.', 'ok');
                reload();
              } catch (e) { toast(e.message, 'error'); }
            },
          }, 'Revoke')));
      })))));
  } catch (e) {
    listEl.append(errorBox(e));
  }
  root.dataset.ready = 'apikeys';
}
