// Inventory: the vault's certificates through certificatesearch (filters,
// sorting, paging), and a detail panel with the chain, the SANs, the dates,
// retire / recover / delete, and export. The view's state is the route's
// query (#/inventory?q=web&sort=validityEnd&page=2&id=...), so the back
// button and a reload keep it.
import { api, search } from './api.js';
import { h, clear, errorBox, day, dateTime, relDays, cnOf, field, routeParams, routeTo, toast, confirmDialog, DAY_MS } from './dom.js';
import { renderExport } from './export.js';

const PAGE_SIZE = 25;

const SORTS = {
  certificateName: 'Name',
  issuerDN: 'Issuer',
  validityEnd: 'Expires',
  keyStrength: 'Key',
  certificateStatus: 'Status',
};

function iso(ms) {
  return new Date(ms).toISOString();
}

async function keyIds() {
  const r = await api('GET', '/v1/edgeencryptionkeys');
  return r.encryptionKeys.map((k) => k.id);
}

/** The search expression for the route's filters (null: everything). */
export async function expressionFor(p, now = Date.now()) {
  const ops = [];
  const q = (p.q || '').trim();
  if (q) {
    ops.push({
      operator: 'OR',
      operands: ['subjectCN', 'subjectAlternativeNameDns', 'certificateName', 'serialNumber', 'fingerprint']
        .map((f) => ({ field: f, operator: 'MATCH', value: q })),
    });
  }
  if ((p.issuer || '').trim()) ops.push({ field: 'issuerDN', operator: 'MATCH', value: p.issuer.trim() });
  if (p.type) ops.push({ field: 'encryptionType', operator: 'EQ', value: p.type });
  const status = statusOf(p);
  if (status) ops.push({ field: 'certificateStatus', operator: 'EQ', value: status });
  if (p.exp === 'expired') ops.push({ field: 'validityEnd', operator: 'LT', value: iso(now) });
  else if (p.exp) {
    ops.push({ field: 'validityEnd', operator: 'GTE', value: iso(now) },
      { field: 'validityEnd', operator: 'LT', value: iso(now + Number(p.exp) * DAY_MS) });
  }
  if (p.expFrom) ops.push({ field: 'validityEnd', operator: 'GTE', value: p.expFrom });
  if (p.expTo) ops.push({ field: 'validityEnd', operator: 'LT', value: p.expTo });
  if (p.keys === 'yes') {
    const ids = await keyIds();
    ops.push({ field: 'dekHash', operator: 'IN', value: ids.length ? ids : ['-'] });
  }
  if (!ops.length) return null;
  return ops.length === 1 ? ops[0] : { operator: 'AND', operands: ops };
}

/** The status filter: ACTIVE unless the route says RETIRED or any. */
function statusOf(p) {
  if (p.status === undefined) return 'ACTIVE';
  return p.status === 'any' ? '' : p.status;
}

function keyText(c) {
  if (!c.encryptionType) return '';
  return c.keyCurve ? `${c.encryptionType} ${c.keyCurve}` : `${c.encryptionType} ${c.keyStrength || ''}`.trim();
}

function expiryCell(c, now) {
  const past = Date.parse(c.validityEnd) < now;
  const soon = !past && Date.parse(c.validityEnd) < now + 30 * DAY_MS;
  return h('td', { 'data-sort': c.validityEnd },
    h('span', {}, day(c.validityEnd)), ' ',
    h('span', { class: `badge ${past ? 'failed' : soon ? 'warn' : 'muted'}` }, relDays(c.validityEnd, now)));
}

function filters(p) {
  const q = h('input', { type: 'search', name: 'q', value: p.q || '', placeholder: 'CN, SAN, serial or fingerprint', autocomplete: 'off', id: 'inv-q' });
  const issuer = h('input', { type: 'text', name: 'issuer', value: p.issuer || '', placeholder: 'part of the issuer DN', autocomplete: 'off' });
  const sel = (name, cur, opts) => h('select', { name }, opts.map(([v, t]) => h('option', { value: v, selected: v === cur }, t)));
  const status = sel('status', statusOf(p), [['ACTIVE', 'Active'], ['RETIRED', 'Retired'], ['', 'Any']]);
  const type = sel('type', p.type || '', [['', 'Any'], ['RSA', 'RSA'], ['EC', 'EC'], ['ED25519', 'Ed25519']]);
  const custom = p.expFrom || p.expTo;
  const expOpts = [['', 'Any time'], ['expired', 'Expired'], ['30', 'Within 30 days'], ['60', 'Within 60 days'], ['90', 'Within 90 days'], ['365', 'Within a year']];
  if (custom) expOpts.push(['custom', `${p.expFrom ? day(p.expFrom) : '…'} to ${p.expTo ? day(p.expTo) : '…'}`]);
  const exp = sel('exp', custom ? 'custom' : p.exp || '', expOpts);
  const keys = sel('keys', p.keys || '', [['', 'Any'], ['yes', 'With a private key']]);
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search certificates' },
    field('Search', q), field('Issuer', issuer), field('Key type', type), field('Status', status), field('Expires', exp), field('Private key', keys),
    h('div', { class: 'field buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('button', { type: 'button', class: 'ghost', onclick: () => routeTo('inventory', {}) }, 'Reset')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = {
      q: q.value.trim(), issuer: issuer.value.trim(), type: type.value, status: status.value, keys: keys.value,
      sort: p.sort, dir: p.dir,
    };
    if (exp.value === 'custom') { next.expFrom = p.expFrom; next.expTo = p.expTo; } else next.exp = exp.value;
    if (next.status === '') next.status = 'any';
    routeTo('inventory', next);
  });
  return form;
}

function sortHeader(p, field, label) {
  const cur = (p.sort || 'validityEnd') === field;
  const dir = cur ? (p.dir === 'DESC' ? 'DESC' : 'ASC') : null;
  return h('th', { scope: 'col', 'aria-sort': cur ? (dir === 'ASC' ? 'ascending' : 'descending') : null },
    h('button', {
      type: 'button', class: 'sort',
      onclick: () => routeTo('inventory', { ...p, id: undefined, page: undefined, sort: field, dir: cur && dir === 'ASC' ? 'DESC' : 'ASC' }),
    }, label, h('span', { 'aria-hidden': 'true', class: 'arrow' }, cur ? (dir === 'ASC' ? ' ▲' : ' ▼') : '')));
}

function table(p, result, now) {
  const rows = result.certificates.map((c) => h('tr', { class: p.id === c.id ? 'selected' : null, 'data-id': c.id },
    h('td', {}, h('a', { href: '#', class: 'cert-link', onclick: (e) => { e.preventDefault(); routeTo('inventory', { ...p, id: c.id }); } }, c.certificateName || c.subjectCN?.[0] || c.fingerprint),
      c.label ? h('span', { class: 'muted small' }, ` (${c.label})`) : null),
    h('td', {}, cnOf(c.issuerDN)),
    expiryCell(c, now),
    h('td', {}, keyText(c)),
    h('td', {}, h('span', { class: `badge ${c.certificateStatus === 'ACTIVE' ? 'ok' : 'muted'}` }, c.certificateStatus)),
    h('td', {}, c.dekHash ? 'yes' : 'no')));
  return h('div', { class: 'table-scroll' }, h('table', { class: 'data', id: 'inventory-table' },
    h('caption', { class: 'sr' }, 'Certificates'),
    h('thead', {}, h('tr', {}, Object.entries(SORTS).map(([f, t]) => sortHeader(p, f, t)), h('th', { scope: 'col' }, 'Private key'))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No certificate matches.')))));
}

function pager(p, result) {
  const page = Number(p.page || 0);
  const from = result.count ? page * PAGE_SIZE + 1 : 0;
  const to = Math.min(result.count, (page + 1) * PAGE_SIZE);
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('span', { id: 'inv-range' }, `${from}–${to} of ${result.count}`),
    h('button', { type: 'button', class: 'ghost', disabled: page === 0, onclick: () => routeTo('inventory', { ...p, id: undefined, page: page - 1 || undefined }) }, '‹ Previous'),
    h('button', { type: 'button', class: 'ghost', disabled: to >= result.count, onclick: () => routeTo('inventory', { ...p, id: undefined, page: page + 1 }) }, 'Next ›'));
}

function dl(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

async function chain(c) {
  const out = [];
  for (const id of (c.issuerCertificateIds || []).slice(0, 10)) {
    try {
      out.push(await api('GET', `/outagedetection/v1/certificates/${encodeURIComponent(id)}`));
    } catch (e) {
      out.push({ id, subjectDN: `(not readable: ${e.message})` });
    }
  }
  return out;
}

async function setStatus(c, to, p) {
  const path = to === 'RETIRED' ? 'retirement' : 'recovery';
  try {
    await api('POST', `/outagedetection/v1/certificates/${path}`, { certificateIds: [c.id] });
    toast(to === 'RETIRED' ? 'Certificate retired.' : 'Certificate recovered.', 'ok');
    routeTo('inventory', { ...p, _: Date.now() });
  } catch (e) {
    toast(e.message, 'error');
  }
}

async function remove(c, p) {
  const yes = await confirmDialog('Delete this certificate?',
    `${c.certificateName} and its private key will be erased from the vault. This cannot be undone.`, 'Delete', true);
  if (!yes) return;
  try {
    await api('POST', '/outagedetection/v1/certificates/deletion', { certificateIds: [c.id] });
    toast('Certificate deleted.', 'ok');
    routeTo('inventory', { ...p, id: undefined });
  } catch (e) {
    toast(e.message, 'error');
  }
}

async function detail(p, now, canChange) {
  const panel = h('section', { class: 'panel detail', id: 'detail', 'aria-labelledby': 'detail-h', tabindex: '-1' });
  let c;
  try {
    c = await api('GET', `/outagedetection/v1/certificates/${encodeURIComponent(p.id)}`);
  } catch (e) {
    panel.append(h('h2', { id: 'detail-h' }, 'Certificate'), errorBox(e));
    return panel;
  }
  const sans = c.subjectAlternativeNamesByType || {};
  const sanItems = [['DNS', sans.dNSName], ['IP', sans.iPAddress], ['Email', sans.rfc822Name], ['URI', sans.uniformResourceIdentifier]]
    .flatMap(([t, list]) => (list || []).map((v) => h('li', {}, h('span', { class: 'muted small' }, `${t} `), v)));
  const issuers = await chain(c);
  const chainList = h('ol', { class: 'chain' },
    h('li', {}, c.subjectDN, h('span', { class: 'muted small' }, ' (this certificate)')),
    issuers.map((x) => h('li', {}, x.subjectDN || x.id, x.validityEnd ? h('span', { class: 'muted small' }, ` until ${day(x.validityEnd)}`) : null)));
  const close = h('button', { type: 'button', class: 'ghost close', 'aria-label': 'Close the details', onclick: () => routeTo('inventory', { ...p, id: undefined }) }, '✕');
  const actions = h('div', { class: 'actions left' },
    c.certificateStatus === 'ACTIVE'
      ? h('button', { type: 'button', onclick: () => setStatus(c, 'RETIRED', p) }, 'Retire')
      : h('button', { type: 'button', onclick: () => setStatus(c, 'ACTIVE', p) }, 'Recover'),
    h('button', {
      type: 'button', class: 'danger', disabled: c.certificateStatus !== 'RETIRED',
      title: c.certificateStatus !== 'RETIRED' ? 'Retire it first' : null, onclick: () => remove(c, p),
    }, 'Delete'));
  panel.append(
    h('div', { class: 'detail-head' }, h('h2', { id: 'detail-h' }, c.certificateName || c.fingerprint), close),
    dl([
      ['Subject', c.subjectDN],
      ['Issuer', c.issuerDN],
      ['Valid from', dateTime(c.validityStart)],
      ['Valid until', [dateTime(c.validityEnd), ' ', h('span', { class: 'muted' }, `(${relDays(c.validityEnd, now)})`)]],
      ['Key', keyText(c)],
      ['Signature', c.signatureAlgorithm],
      ['Serial', h('code', {}, c.serialNumber)],
      ['SHA-1', h('code', { class: 'wrap' }, c.fingerprint)],
      ['Status', c.certificateStatus],
      ['Private key', c.dekHash ? 'stored (sealed to the tenant key)' : 'not stored'],
      ['Label', c.label],
      ['Imported', c.importJobId ? h('a', { href: `#/import?job=${encodeURIComponent(c.importJobId)}` }, dateTime(c.creationDate)) : dateTime(c.creationDate)],
    ]),
    h('h3', {}, 'Subject alternative names'),
    sanItems.length ? h('ul', { class: 'sans' }, sanItems) : h('p', { class: 'muted' }, 'None.'),
    h('h3', {}, 'Chain'),
    chainList,
    // READ_ONLY keys may not change or export (the server answers 403)
    canChange ? actions : null,
    !canChange ? null
      : c.dekHash ? renderExport(c) : h('p', { class: 'muted' }, 'No private key is stored for this certificate, so it cannot be exported.'));
  return panel;
}

export async function render(root, ctx) {
  const p = routeParams();
  delete p._;
  const now = Date.now();
  clear(root);
  const listEl = h('div', { class: 'list', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Searching…'));
  const layout = h('div', { class: p.id ? 'inventory with-detail' : 'inventory' }, listEl);
  root.append(h('h1', {}, 'Inventory'), filters(p), layout);
  const page = Number(p.page || 0);
  const order = { field: p.sort && SORTS[p.sort] ? p.sort : 'validityEnd', direction: p.dir === 'DESC' ? 'DESC' : 'ASC' };
  const work = [(async () => {
    try {
      const result = await search(await expressionFor(p, now), { orders: [order], page, pageSize: PAGE_SIZE });
      clear(listEl).append(table(p, result, now), pager(p, result));
    } catch (e) {
      clear(listEl).append(errorBox(e));
    } finally {
      listEl.removeAttribute('aria-busy');
    }
  })()];
  if (p.id) {
    work.push(detail(p, now, ctx.account.apiKey.role !== 'READ_ONLY').then((panel) => {
      layout.prepend(panel);
      panel.focus();
    }));
  }
  await Promise.all(work);
  root.dataset.ready = 'inventory';
}
