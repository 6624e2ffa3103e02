// Dashboard: counts, the expiry timeline, recent import jobs. Every number
// is a count query (certificatesearch, pageSize 1), so the page costs the
// same for a hundred certificates as for a hundred thousand.
import { api, pool } from './api.js';
import { h, clear, errorBox, dateTime, routeTo, DAY_MS } from './dom.js';
import { count, expiringBetween, loadWeeks, renderTimeline, iso } from './timeline.js';

function card(label, value, hint, onClick, id) {
  return h('a', { class: value ? 'card' : 'card zero', href: '#', id, onclick: (e) => { e.preventDefault(); onClick(); } },
    h('span', { class: 'card-value', 'data-value': value }, String(value)),
    h('span', { class: 'card-label' }, label),
    hint ? h('span', { class: 'card-hint' }, hint) : null);
}

async function keyIds() {
  const r = await api('GET', '/v1/edgeencryptionkeys');
  return r.encryptionKeys.map((k) => k.id);
}

async function counts(now) {
  const ids = await keyIds();
  const q = [
    () => count(null),
    () => (ids.length ? count({ field: 'dekHash', operator: 'IN', value: ids }) : 0),
    () => count(expiringBetween(undefined, now)),
    () => count(expiringBetween(now, now + 30 * DAY_MS)),
    () => count(expiringBetween(now, now + 60 * DAY_MS)),
    () => count(expiringBetween(now, now + 90 * DAY_MS)),
  ];
  const [total, withKeys, expired, d30, d60, d90] = await pool(q, 6);
  return { total, withKeys, expired, d30, d60, d90 };
}

function jobsTable(jobs) {
  if (!jobs.length) return h('p', { class: 'muted' }, 'No import yet. ', h('a', { href: '#/import' }, 'Import keystores'), '.');
  return h('div', { class: 'table-scroll' }, h('table', { class: 'data', id: 'recent-jobs' },
    h('caption', { class: 'sr' }, 'Recent import jobs'),
    h('thead', {}, h('tr', {},
      ['Started', 'Status', 'Files', 'Imported', 'Skipped', 'Failed'].map((t, i) => h('th', { scope: 'col', class: i > 1 ? 'num' : null }, t)))),
    h('tbody', {}, jobs.map((j) => h('tr', {},
      h('td', {}, h('a', { href: `#/import?job=${encodeURIComponent(j.id)}` }, dateTime(j.creationDate))),
      h('td', {}, h('span', { class: `badge ${j.status.toLowerCase()}` }, j.status), j.dryRun ? ' (dry run)' : ''),
      h('td', { class: 'num' }, `${j.finalItemCount}/${j.itemCount}`),
      h('td', { class: 'num' }, String(j.resultCounts.IMPORTED + j.resultCounts.VALID)),
      h('td', { class: 'num' }, String(j.resultCounts.SKIPPED)),
      h('td', { class: 'num' }, String(j.resultCounts.FAILED)))))));
}

export async function render(root) {
  const now = Date.now();
  clear(root);
  const countsEl = h('section', { class: 'cards', 'aria-label': 'Counts', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Counting…'));
  const chartEl = h('section', { class: 'panel', 'aria-labelledby': 'tl-h', id: 'timeline', 'aria-busy': 'true' },
    h('h2', { id: 'tl-h' }, 'Expirations per week, next 12 months'),
    h('p', { class: 'muted' }, 'Loading…'));
  const jobsEl = h('section', { class: 'panel', 'aria-labelledby': 'jobs-h' }, h('h2', { id: 'jobs-h' }, 'Recent imports'));
  root.append(h('h1', {}, 'Dashboard'), countsEl, chartEl, jobsEl);

  const show = (params) => routeTo('inventory', params);
  const load = [
    counts(now).then((c) => {
      clear(countsEl).append(
        card('Certificates', c.total, 'in the vault', () => show({}), 'count-total'),
        card('With private keys', c.withKeys, 'can be exported', () => show({ keys: 'yes' }), 'count-keys'),
        card('Expired', c.expired, 'still active', () => show({ expTo: iso(now) }), 'count-expired'),
        card('Within 30 days', c.d30, 'expiring', () => show({ expFrom: iso(now), expTo: iso(now + 30 * DAY_MS) }), 'count-30'),
        card('Within 60 days', c.d60, 'expiring', () => show({ expFrom: iso(now), expTo: iso(now + 60 * DAY_MS) }), 'count-60'),
        card('Within 90 days', c.d90, 'expiring', () => show({ expFrom: iso(now), expTo: iso(now + 90 * DAY_MS) }), 'count-90'));
    }).catch((e) => clear(countsEl).append(errorBox(e))).finally(() => countsEl.removeAttribute('aria-busy')),
    loadWeeks(now).then((weeks) => {
      chartEl.lastChild.replaceWith(renderTimeline(weeks, (w) => show({ expFrom: iso(w.from), expTo: iso(w.to) })));
    }).catch((e) => chartEl.lastChild.replaceWith(errorBox(e))).finally(() => chartEl.removeAttribute('aria-busy')),
    api('GET', '/v1/certificates/imports?limit=10').then((r) => jobsEl.append(jobsTable(r.imports)))
      .catch((e) => jobsEl.append(errorBox(e))),
  ];
  await Promise.all(load);
  root.dataset.ready = 'dashboard';
}
