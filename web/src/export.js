// Export: the certificate with its private key as PKCS#12, PEM (zip) or
// JKS. The passphrases are sealed in the browser to the key named by the
// certificate's dekHash (API.md, keystore export), so they cross the network
// only as sealed boxes; the file the server returns is saved as a download.
import { api } from './api.js';
import { h, field, toast, download } from './dom.js';
import { dekKey, seal } from './seal.js';

function filenameOf(r, fallback) {
  const cd = r.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(cd);
  return m ? m[1] : fallback;
}

const EXT = { PKCS12: 'p12', PEM: 'zip', JKS: 'jks' };

export function renderExport(c) {
  const format = h('select', { name: 'format', id: 'exp-format' },
    h('option', { value: 'PKCS12' }, 'PKCS#12 (.p12)'),
    h('option', { value: 'PEM' }, 'PEM files in a zip'),
    h('option', { value: 'JKS' }, 'Java KeyStore (.jks)'));
  const profile = h('select', { name: 'profile', id: 'exp-profile' },
    h('option', { value: 'MODERN' }, 'Modern (AES-256, SHA-256)'),
    h('option', { value: 'LEGACY' }, 'Legacy (3DES, SHA-1) for old Windows and Java'));
  const pass = h('input', { type: 'password', id: 'exp-pass', autocomplete: 'new-password', required: true });
  const pass2 = h('input', { type: 'password', id: 'exp-pass2', autocomplete: 'new-password', required: true });
  const storePass = h('input', { type: 'password', id: 'exp-store-pass', autocomplete: 'new-password' });
  const label = h('input', { type: 'text', id: 'exp-label', value: c.certificateName || 'certificate', maxlength: 256 });
  const status = h('p', { class: 'muted', role: 'status', id: 'exp-status' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'exp-submit' }, 'Export and download');
  const profileField = field('Profile', profile);
  const storeField = field('Keystore passphrase (optional)', storePass, 'Protects the .jks file; empty means the same as the key passphrase.');
  storeField.hidden = true;
  format.addEventListener('change', () => {
    profileField.hidden = format.value !== 'PKCS12';
    storeField.hidden = format.value !== 'JKS';
  });

  const form = h('form', { class: 'export', 'aria-labelledby': 'exp-h' },
    h('h3', { id: 'exp-h' }, 'Export with the private key'),
    h('div', { class: 'grid2' },
      field('Format', format), profileField,
      field('Passphrase', pass, 'Protects the private key in the file. Sealed here before it is sent.'),
      field('Repeat the passphrase', pass2),
      storeField, field('Name in the file', label)),
    h('div', { class: 'actions left' }, submit), status);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!pass.value) { status.textContent = 'Enter a passphrase: a private key never leaves unprotected.'; pass.focus(); return; }
    if (pass.value !== pass2.value) { status.textContent = 'The two passphrases differ.'; pass2.focus(); return; }
    submit.disabled = true;
    status.textContent = 'Sealing the passphrase and exporting…';
    try {
      const pk = await dekKey(c.dekHash);
      const body = {
        exportFormat: format.value,
        encryptedPrivateKeyPassphrase: await seal(pass.value, pk),
        encryptedKeystorePassphrase: format.value === 'JKS' && storePass.value ? await seal(storePass.value, pk) : '',
        certificateLabel: label.value.trim(),
      };
      if (format.value === 'PKCS12') body.keystoreProfile = profile.value;
      const r = await api('POST', `/outagedetection/v1/certificates/${encodeURIComponent(c.id)}/keystore`, body, { raw: true });
      const blob = await r.blob();
      const name = filenameOf(r, `${label.value.trim() || 'certificate'}.${EXT[format.value]}`);
      download(blob, name);
      status.textContent = `Downloaded ${name} (${blob.size} bytes).`;
      toast(`Exported ${name}.`, 'ok');
    } catch (err) {
      status.textContent = `Export failed: ${err.message}`;
    } finally {
      pass.value = '';
      pass2.value = '';
      storePass.value = '';
      submit.disabled = false;
    }
  });
  return form;
}
