// Trusted CAs: the tenant's own (add by pasting PEM or uploading a file,
// delete), and the system roots (read-only). A keystore is imported only
// when its chain ends at one of them.
import { api } from './api.js';
import { h, clear, errorBox, day, cnOf, field, toast, confirmDialog, routeParams, routeTo } from './dom.js';
import { toBase64 } from './seal.js';

const TYPE = { ROOT_CA: 'Root CA', CA: 'Intermediate CA', SELF_ISSUED_CA: 'Self-issued CA', END_ENTITY: 'Pinned certificate' };

function table(cas, editable, reload, system = false) {
  if (!cas.length) return h('p', { class: 'muted' }, system ? 'None.' : 'No trusted CA yet. Add the roots your keystores chain to.');
  return h('div', { class: 'table-scroll' }, h('table', { class: 'data', id: system ? 'system-cas-table' : 'cas-table' },
    h('caption', { class: 'sr' }, system ? 'System roots' : 'Your trusted CAs'),
    h('thead', {}, h('tr', {}, ['Subject', 'Type', 'Expires', 'SHA-1'].map((t) => h('th', { scope: 'col' }, t)),
      editable ? h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Actions')) : null)),
    h('tbody', {}, cas.map((c) => h('tr', { 'data-fingerprint': c.fingerprint },
      h('td', { title: c.subjectDN }, cnOf(c.subjectDN)),
      h('td', {}, TYPE[c.certificateType] || c.certificateType),
      h('td', {}, day(c.validityEnd)),
      h('td', {}, h('code', { class: 'small', title: c.fingerprint }, `${c.fingerprint.slice(0, 16)}…`)),
      editable ? h('td', {}, h('button', {
        type: 'button', class: 'danger small', 'aria-label': `Delete ${cnOf(c.subjectDN)}`,
        onclick: async () => {
          const yes = await confirmDialog('Stop trusting this CA?',
            `${c.subjectDN}: certificates already imported stay; later imports that chain to it will fail.`, 'Delete', true);
          if (!yes) return;
          try {
            await api('POST', '/v1/trustedcacertificates/deletion', { fingerprints: [c.fingerprint] });
            toast('Trusted CA deleted.', 'ok');
            reload();
          } catch (e) { toast(e.message, 'error'); }
        },
      }, 'Delete')) : null)))));
}

/** A PEM text as is; a binary (DER) file as base64. */
async function fileText(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  return text.includes('-----BEGIN') ? text : toBase64(bytes);
}

function addForm(reload) {
  const pem = h('textarea', { id: 'ca-pem', rows: 6, spellcheck: 'false', placeholder: '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----' });
  const file = h('input', { type: 'file', id: 'ca-file', accept: '.pem,.crt,.cer,.der', multiple: true });
  const status = h('p', { role: 'status', class: 'muted', id: 'ca-status' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'ca-add' }, 'Add');
  const form = h('form', { class: 'panel', 'aria-labelledby': 'ca-add-h' },
    h('h2', { id: 'ca-add-h' }, 'Add trusted CAs'),
    field('Paste PEM (one or more certificates)', pem),
    field('Or upload certificate files (.pem, .crt, .cer, .der)', file),
    h('div', { class: 'actions left' }, submit), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const encoded = [];
    if (pem.value.trim()) encoded.push(pem.value.trim());
    for (const f of file.files) encoded.push(await fileText(f));
    if (!encoded.length) { status.textContent = 'Paste a PEM certificate or choose a file first.'; return; }
    submit.disabled = true;
    try {
      const r = await api('POST', '/v1/trustedcacertificates', { encodedCertificates: encoded });
      status.textContent = `${r.certificatesCount} certificate${r.certificatesCount === 1 ? '' : 's'} trusted: ${r.certificates.map((c) => cnOf(c.subjectDN)).join(', ')}.`;
      toast('Trusted CAs updated.', 'ok');
      pem.value = '';
      file.value = '';
      reload();
    } catch (err) {
      status.textContent = `Not added: ${err.message}`;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function render(root, ctx) {
  const p = routeParams();
  const canEdit = ctx.account.apiKey.role !== 'READ_ONLY';
  clear(root);
  const listEl = h('section', { class: 'panel', 'aria-labelledby': 'cas-h' }, h('h2', { id: 'cas-h' }, 'Your trusted CAs'));
  const reload = () => routeTo('cas', { ...p, _: Date.now() });
  root.append(h('h1', {}, 'Trusted CAs'), canEdit ? addForm(reload) : null, listEl);
  try {
    const r = await api('GET', '/v1/trustedcacertificates');
    listEl.append(table(r.certificates, canEdit, reload));
  } catch (e) {
    listEl.append(errorBox(e));
  }
  const sys = h('details', { class: 'panel', open: p.system === '1' },
    h('summary', {}, 'System roots (read-only)'));
  sys.addEventListener('toggle', async () => {
    if (!sys.open || sys.dataset.loaded) return;
    sys.dataset.loaded = '1';
    try {
      const r = await api('GET', '/v1/trustedcacertificates?source=GLOBALLY_TRUSTED');
      sys.append(h('p', { class: 'muted' }, `${r.certificatesCount} roots from the operating system's store, trusted unless the server runs with --no-system-roots.`),
        table(r.certificates, false, reload, true));
    } catch (e) {
      sys.append(errorBox(e));
    }
  });
  root.append(sys);
  root.dataset.ready = 'cas';
}
