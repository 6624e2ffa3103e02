// The expiry timeline: ACTIVE certificates expiring per week over the next
// 12 months, as an SVG bar chart with a table as its text alternative.
//
// Each week is one count query (certificatesearch with pageSize 1 and a
// validityEnd range), a range count on the (tenant, validity_end) index, so
// the cost doesn't grow with the number of certificates the way paging
// through them all would (see docs/ARCHITECTURE.md, "Web console").
import { search, pool } from './api.js';
import { h, s, DAY_MS } from './dom.js';

const WEEK_MS = 7 * DAY_MS;

/**
 * Weeks from now to a year from now: [{weekOf, from, to}] in ms. Weeks start
 * on Monday 00:00 UTC; the first runs from now (what expired earlier this
 * week is "expired", not "expiring").
 */
export function weekBuckets(now) {
  const d = new Date(now);
  const dow = (d.getUTCDay() + 6) % 7; // Monday = 0
  const monday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - dow * DAY_MS;
  const horizon = now + 365 * DAY_MS;
  const weeks = [];
  for (let start = monday; start < horizon; start += WEEK_MS) {
    weeks.push({ weekOf: start, from: Math.max(start, now), to: start + WEEK_MS });
  }
  return weeks;
}

export function iso(ms) {
  return new Date(ms).toISOString();
}

/** The search expression for ACTIVE certificates expiring in [from, to). */
export function expiringBetween(from, to) {
  const operands = [{ field: 'certificateStatus', operator: 'EQ', value: 'ACTIVE' }];
  if (from !== undefined) operands.push({ field: 'validityEnd', operator: 'GTE', value: iso(from) });
  if (to !== undefined) operands.push({ field: 'validityEnd', operator: 'LT', value: iso(to) });
  return { operator: 'AND', operands };
}

/** How many certificates match expression (one count query). */
export async function count(expression, signal) {
  const r = await search(expression, { pageSize: 1, signal });
  return r.count;
}

/** Fill in .count for every week (at most 6 queries in flight). */
export async function loadWeeks(now, signal) {
  const weeks = weekBuckets(now);
  const counts = await pool(weeks.map((w) => () => count(expiringBetween(w.from, w.to), signal)), 6);
  weeks.forEach((w, i) => { w.count = counts[i]; });
  return weeks;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function weekLabel(w) {
  return `week of ${iso(w.weekOf).slice(0, 10)}`;
}

/**
 * The chart and its table. onPick(week) runs when a bar (or its table row
 * link) is chosen, by click or by Enter/Space.
 */
export function renderTimeline(weeks, onPick) {
  const max = Math.max(1, ...weeks.map((w) => w.count));
  const barW = 11;
  const gap = 4;
  const left = 34;
  const top = 10;
  const plotH = 150;
  const width = left + weeks.length * (barW + gap) + 6;
  const height = top + plotH + 30;
  const total = weeks.reduce((n, w) => n + w.count, 0);
  const busiest = weeks.reduce((b, w) => (w.count > b.count ? w : b), weeks[0]);
  const summary = total
    ? `${total} certificate${total === 1 ? '' : 's'} expire in the next 12 months; the busiest ${weekLabel(busiest)} has ${busiest.count}.`
    : 'No certificate expires in the next 12 months.';

  const svg = s('svg', {
    class: 'timeline', viewBox: `0 0 ${width} ${height}`, role: 'group',
    'aria-label': `Expirations per week for the next 12 months. ${summary} The table below lists every week.`,
  });
  // y axis: 0, half, max
  for (const v of [...new Set([0, Math.round(max / 2), max])]) {
    const y = top + plotH - (v / max) * plotH;
    svg.append(s('line', { x1: left - 4, x2: width, y1: y, y2: y, class: 'grid' }),
      s('text', { x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
  }
  let lastMonth = -1;
  weeks.forEach((w, i) => {
    const x = left + i * (barW + gap);
    const hgt = w.count ? Math.max(2, (w.count / max) * plotH) : 0;
    const label = `${weekLabel(w)}: ${w.count} certificate${w.count === 1 ? '' : 's'}`;
    const bar = s('g', {
      class: w.count ? 'bar' : 'bar empty',
      'data-week': iso(w.weekOf).slice(0, 10),
      'data-from': iso(w.from),
      'data-to': iso(w.to),
      'data-count': w.count,
    },
    s('title', {}, label),
    s('rect', { x, y: top + plotH - hgt, width: barW, height: hgt, rx: 1.5 }),
    // a taller transparent target, so short bars are easy to hit
    s('rect', { x: x - gap / 2, y: top, width: barW + gap, height: plotH, class: 'hit' }));
    if (w.count) {
      bar.setAttribute('tabindex', '0');
      bar.setAttribute('role', 'button');
      bar.setAttribute('aria-label', `${label}. Show them.`);
      bar.addEventListener('click', () => onPick(w));
      bar.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onPick(w); }
      });
    }
    svg.append(bar);
    // a month's name under its first week; the current month's only when
    // the next name is far enough away not to collide with it
    const month = new Date(w.weekOf).getUTCMonth();
    if (month !== lastMonth) {
      const next = new Date(w.weekOf + 21 * DAY_MS).getUTCMonth();
      if (i > 0 || next === month) {
        svg.append(s('text', { x, y: top + plotH + 16, class: 'axis' }, MONTHS[month]));
      }
      lastMonth = month;
    }
  });

  const rows = weeks.map((w) => h('tr', { 'data-week': iso(w.weekOf).slice(0, 10), 'data-count': w.count },
    h('th', { scope: 'row' }, iso(w.weekOf).slice(0, 10)),
    h('td', { class: 'num' }, String(w.count)),
    h('td', {}, w.count ? h('a', { href: '#', onclick: (e) => { e.preventDefault(); onPick(w); } }, `Show ${w.count}`) : '')));
  const table = h('table', { class: 'data compact', id: 'timeline-table' },
    h('caption', {}, 'Active certificates expiring per week (weeks start on Monday, UTC)'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Week of'), h('th', { scope: 'col', class: 'num' }, 'Expiring'), h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Action')))),
    h('tbody', {}, rows));

  return h('div', { class: 'timeline-wrap' },
    h('p', { class: 'muted', id: 'timeline-summary' }, summary),
    h('div', { class: 'chart-scroll' }, svg),
    h('details', { class: 'as-table' }, h('summary', {}, 'Show the weeks as a table'), table));
}
