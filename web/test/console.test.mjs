// The web console end to end, in Debian's headless Chromium driven by
// playwright-core: a real `tlsvaultd serve` on a fresh vault and keystores
// made with openssl at test time. The five scenarios of issue 12:
//   1. sign in, trust a root, drop 5 keystores (1 wrong password): 5/5,
//      4 IMPORTED, 1 with the wrong-password reason;
//   2. search by CN, export a PKCS#12 with a passphrase, openssl opens it;
//   3. the dashboard's weekly expiry chart has the right counts in the
//      right weeks (the data behind the bars, checked against openssl's
//      dates), and its table alternative agrees;
//   4. the security headers are there, and the page logged no CSP
//      violation and no console error in all of the above;
//   5. screenshots of the dashboard, the inventory and the import result
//      (1280 px, and the dashboard at 390 px) are saved in TV_WEB_TEST_OUT.
//
// Environment (set by CTest): TVD_PATH, TV_WEB_NODE_MODULES, TV_WEB_TEST_OUT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TVD = process.env.TVD_PATH;
const NODE_MODULES = process.env.TV_WEB_NODE_MODULES;
const OUT = process.env.TV_WEB_TEST_OUT;
if (!TVD || !NODE_MODULES || !OUT) throw new Error('run through ctest: TVD_PATH, TV_WEB_NODE_MODULES and TV_WEB_TEST_OUT must be set');
const { chromium } = createRequire(join(NODE_MODULES, 'index.js'))('playwright-core');

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
const PASSWORD = 'Keystore-Pw-4u!';
const WRONG_PASSWORD = 'Another-Pw-9x?';
const EXPORT_PASSPHRASE = 'Export-Pass-7q#';
const DAY_MS = 86400000;
// leaves: days of validity; the last is made with another password
const LEAVES = [
  { n: 1, days: 10 }, { n: 2, days: 40 }, { n: 3, days: 100 }, { n: 4, days: 200 },
  { n: 5, days: 300, wrong: true },
];
const CN = (n) => `leaf${n}.console-test.example`;

const tmp = mkdtempSync(join(tmpdir(), 'tv-web-'));
const state = { consoleErrors: [], cspViolations: [], pageErrors: [] };
let server;
let context;
let page;
let base;
let apiKey;

function openssl(args, opts = {}) {
  return execFileSync('openssl', args, { cwd: join(tmp, 'ks'), stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

function makeKeystores() {
  mkdirSync(join(tmp, 'ks'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=Console Test Root']);
  for (const l of LEAVES) {
    openssl(['req', '-x509', ...ec, '-keyout', `${l.n}.key`, '-out', `${l.n}.crt`, '-days', String(l.days),
      '-subj', `/CN=${CN(l.n)}`, '-addext', `subjectAltName=DNS:${CN(l.n)}`, '-CA', 'ca.crt', '-CAkey', 'ca.key']);
    openssl(['pkcs12', '-export', '-inkey', `${l.n}.key`, '-in', `${l.n}.crt`, '-name', `leaf${l.n}`,
      '-passout', `pass:${l.wrong ? WRONG_PASSWORD : PASSWORD}`, '-out', `leaf${l.n}.p12`]);
    const end = openssl(['x509', '-in', `${l.n}.crt`, '-noout', '-enddate']).toString().trim().replace(/^notAfter=/, '');
    l.notAfter = Date.parse(end);
    assert.ok(Number.isFinite(l.notAfter), `openssl's end date "${end}" parses`);
  }
}

async function startServer() {
  const data = join(tmp, 'data');
  const init = JSON.parse(execFileSync(TVD, ['init', '--data', data]).toString());
  apiKey = init.apiKey;
  const logPath = join(tmp, 'server.log');
  const fd = openSync(logPath, 'w');
  server = spawn(TVD, ['serve', '--data', data, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  server.logPath = logPath;
  server.exited = new Promise((res) => server.on('exit', (code, signal) => res({ code, signal })));
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    const log = readFileSync(logPath, 'utf8');
    const m = /"msg":"listening".*?"port":(\d+)/.exec(log);
    if (m) return Number(m[1]);
    if (server.exitCode !== null) throw new Error(`tlsvaultd exited:\n${log}`);
    await new Promise((r) => setTimeout(r, 20)); // poll interval, not a wait for an event
  }
  throw new Error('tlsvaultd did not log "listening" in 30 s');
}

async function view(name) {
  await page.waitForSelector(`main > .view-${name}[data-ready="${name}"]`, { timeout: 30000 });
}

async function go(hash, name) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await view(name);
}

/** A test whose failure leaves a screenshot and the page's text behind. */
function scenario(name, fn) {
  test(name, async () => {
    try {
      await fn();
    } catch (e) {
      const n = name.slice(0, 1);
      try {
        await page.screenshot({ path: join(OUT, `failure-${n}.png`), fullPage: true });
        process.stderr.write(`--- ${name}: page text (screenshot: failure-${n}.png) ---\n${(await page.textContent('main')).slice(0, 3000)}\n`);
      } catch { /* the page itself is gone: keep the first error */ }
      throw e;
    }
  });
}

async function shot(p, file) {
  await p.screenshot({ path: join(OUT, file), fullPage: true });
}

before(async () => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  makeKeystores();
  base = `http://127.0.0.1:${await startServer()}`;
  context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  page = context.pages()[0] || await context.newPage();
  watch(page);
});

function watch(p) {
  p.on('console', (m) => {
    if (m.type() === 'error') state.consoleErrors.push(m.text());
    if (/Content.Security.Policy/i.test(m.text())) state.cspViolations.push(m.text());
  });
  p.on('pageerror', (e) => state.pageErrors.push(String(e)));
}

async function collectCsp(p) {
  const v = await p.evaluate(() => window.__csp || []);
  state.cspViolations.push(...v);
}

after(async () => {
  if (context) await context.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    const { code, signal } = await server.exited;
    const log = readFileSync(server.logPath, 'utf8');
    // never a secret in the log, and a clean exit (ASan/UBSan report here)
    for (const secret of [PASSWORD, WRONG_PASSWORD, EXPORT_PASSPHRASE, apiKey]) {
      assert.ok(!log.includes(secret), 'a secret reached the server log');
    }
    assert.equal(code, 0, `tlsvaultd exit ${code} ${signal || ''}:\n${log.slice(-4000)}`);
  }
  rmSync(tmp, { recursive: true, force: true });
});

scenario('1. sign in, add a trusted root, import 5 keystores with one wrong password', async () => {
  const resp = await page.goto(`${base}/ui/`);
  assert.equal(resp.status(), 200);
  await page.fill('#api-key', apiKey);
  await page.click('#signin-submit');
  await view('dashboard');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tlsvault.apiKey')) !== null, true);
  assert.ok(!page.url().includes(apiKey), 'the key is not in the URL');

  // trust the root, by pasting its PEM
  await go('#/cas', 'cas');
  await page.fill('#ca-pem', readFileSync(join(tmp, 'ks', 'ca.crt'), 'utf8'));
  await page.click('#ca-add');
  await page.waitForSelector('#cas-table tbody tr[data-fingerprint]');
  const fp = openssl(['x509', '-in', 'ca.crt', '-noout', '-fingerprint', '-sha1']).toString().trim().split('=')[1].replace(/:/g, '');
  assert.deepEqual(await page.$$eval('#cas-table tbody tr', (rows) => rows.map((r) => r.dataset.fingerprint)), [fp]);

  // drop the five keystores on the drop zone
  await go('#/import', 'import');
  const files = LEAVES.map((l) => ({ name: `leaf${l.n}.p12`, b64: readFileSync(join(tmp, 'ks', `leaf${l.n}.p12`)).toString('base64') }));
  const dt = await page.evaluateHandle((list) => {
    const d = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
      d.items.add(new File([bytes], f.name, { type: 'application/x-pkcs12' }));
    }
    return d;
  }, files);
  await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: dt });
  await page.waitForSelector('#import-files tbody tr:nth-child(5)');
  await page.fill('#import-password', PASSWORD);
  await page.click('#import-start');
  await page.waitForFunction(() => document.getElementById('import-progress-text')?.textContent === '5/5', null, { timeout: 60000 });
  await page.waitForSelector('#import-summary');
  assert.equal(await page.$eval('#import-progress', (p) => `${p.value}/${p.max}`), '5/5');
  const rows = await page.$$eval('#import-files tbody tr', (trs) => trs.map((tr) => ({
    file: tr.dataset.file, status: tr.querySelector('td.status').dataset.status, why: tr.querySelector('td.why').textContent,
  })));
  assert.equal(rows.length, 5);
  for (const l of LEAVES) {
    const r = rows.find((x) => x.file === `leaf${l.n}.p12`);
    assert.ok(r, `a row for leaf${l.n}.p12`);
    if (l.wrong) {
      assert.equal(r.status, 'FAILED');
      assert.match(r.why, /Wrong password/);
      assert.match(r.why, /MAC_VERIFICATION_FAILED/);
    } else {
      assert.equal(r.status, 'IMPORTED', `leaf${l.n}: ${r.why}`);
    }
  }
  assert.equal(rows.filter((r) => r.status === 'IMPORTED').length, 4);
  assert.match(await page.textContent('#import-summary'), /4 imported, 0 skipped, 1 failed/);
  assert.equal(await page.inputValue('#import-password'), '', 'the password field is cleared');
  await shot(page, 'import-result.png');
  await collectCsp(page);
});

scenario('2. search by CN finds them; export one as PKCS#12 and openssl opens it', async () => {
  await go('#/inventory', 'inventory');
  await page.fill('#inv-q', 'console-test');
  await page.press('#inv-q', 'Enter');
  await page.waitForFunction(() => /of 4$/.test(document.getElementById('inv-range')?.textContent || ''));
  await view('inventory');
  const names = await page.$$eval('#inventory-table tbody a.cert-link', (as) => as.map((a) => a.textContent));
  assert.deepEqual(names, [CN(1), CN(2), CN(3), CN(4)], 'sorted by expiry, the wrong-password one absent');

  await page.fill('#inv-q', CN(3));
  await page.press('#inv-q', 'Enter');
  await page.waitForFunction(() => /of 1$/.test(document.getElementById('inv-range')?.textContent || ''));
  await view('inventory');
  await page.click(`#inventory-table a.cert-link:text-is("${CN(3)}")`);
  await page.waitForSelector('#detail #exp-submit');
  await view('inventory');
  assert.match(await page.textContent('#detail'), new RegExp(`DNS ${CN(3).replace(/\./g, '\\.')}`));
  assert.match(await page.textContent('#detail .chain'), /Console Test Root/);
  await page.selectOption('#exp-format', 'PKCS12');
  await page.fill('#exp-pass', EXPORT_PASSPHRASE);
  await page.fill('#exp-pass2', EXPORT_PASSPHRASE);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#exp-submit')]);
  const file = join(tmp, 'export.p12');
  await download.saveAs(file);
  assert.match(download.suggestedFilename(), /\.p12$/);
  await page.waitForFunction(() => /^Downloaded /.test(document.getElementById('exp-status')?.textContent || ''));
  // openssl opens it with the passphrase (MAC checked), with the key and the leaf
  const pass = `pass:${EXPORT_PASSPHRASE}`;
  const subject = openssl(['pkcs12', '-in', file, '-passin', pass, '-nokeys', '-clcerts']).toString();
  assert.match(openssl(['x509', '-noout', '-subject'], { input: subject, stdio: ['pipe', 'pipe', 'pipe'] }).toString(), new RegExp(CN(3).replace(/\./g, '\\.')));
  assert.match(openssl(['pkcs12', '-in', file, '-passin', pass, '-nocerts', '-nodes']).toString(), /BEGIN PRIVATE KEY/);
  assert.throws(() => openssl(['pkcs12', '-in', file, '-passin', 'pass:not-it', '-noout']), 'a wrong passphrase is refused');
  assert.equal(await page.inputValue('#exp-pass'), '', 'the passphrase field is cleared');

  // the inventory screenshot: all four, with the detail panel open
  await page.fill('#inv-q', 'console-test');
  await page.press('#inv-q', 'Enter');
  await page.waitForFunction(() => /of 4$/.test(document.getElementById('inv-range')?.textContent || ''));
  await view('inventory');
  await page.click(`#inventory-table a.cert-link:text-is("${CN(2)}")`);
  await page.waitForSelector('#detail #exp-submit');
  await view('inventory');
  await shot(page, 'inventory.png');
  await collectCsp(page);
});

scenario('3. the dashboard chart shows the imported certificates in the right weeks', async () => {
  await go('#/dashboard', 'dashboard');
  const bars = await page.$$eval('svg.timeline g.bar', (gs) => gs.map((g) => ({
    week: g.dataset.week, from: Date.parse(g.dataset.from), to: Date.parse(g.dataset.to),
    count: Number(g.dataset.count), height: Number(g.querySelector('rect').getAttribute('height')),
    focusable: g.getAttribute('tabindex') === '0',
  })));
  const now = Date.now();
  // the weeks: Mondays (UTC), consecutive, from this week to a year out
  assert.ok(bars.length >= 53 && bars.length <= 54, `${bars.length} weeks`);
  bars.forEach((b, i) => {
    assert.equal(new Date(`${b.week}T00:00:00Z`).getUTCDay(), 1, `${b.week} is a Monday`);
    assert.equal(b.to - Date.parse(`${b.week}T00:00:00Z`), 7 * DAY_MS);
    if (i) assert.equal(b.from, bars[i - 1].to);
  });
  assert.ok(bars[0].from <= now && bars[0].to > now, 'the first week holds today');
  assert.ok(bars[bars.length - 1].to >= now + 365 * DAY_MS - 60000, 'the last week reaches a year out');
  // each imported leaf in the week holding its notAfter (from openssl), nothing else
  const imported = LEAVES.filter((l) => !l.wrong);
  for (const b of bars) {
    const expected = imported.filter((l) => l.notAfter >= b.from && l.notAfter < b.to).length;
    assert.equal(b.count, expected, `week of ${b.week}`);
    assert.equal(b.height > 0, expected > 0, `bar height for the week of ${b.week}`);
    assert.equal(b.focusable, expected > 0, 'bars with certificates are reachable by keyboard');
  }
  assert.equal(bars.reduce((n, b) => n + b.count, 0), 4);
  // the table alternative says the same
  const table = await page.$$eval('#timeline-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.week, Number(tr.dataset.count)]));
  assert.deepEqual(table, bars.map((b) => [b.week, b.count]));
  assert.match(await page.getAttribute('svg.timeline', 'aria-label'), /4 certificates expire in the next 12 months/);
  // the counts
  const card = (id) => page.$eval(`#${id} .card-value`, (e) => Number(e.textContent));
  assert.equal(await card('count-keys'), 4);
  assert.equal(await card('count-expired'), 0);
  assert.equal(await card('count-30'), 1);
  assert.equal(await card('count-60'), 2);
  assert.equal(await card('count-90'), 2);
  assert.equal(await card('count-total'), 5, 'four leaves and the root stored as their issuer');
  assert.match(await page.textContent('#recent-jobs'), /COMPLETED/);
  await shot(page, 'dashboard.png');

  // keyboard: Enter on the first week with a certificate lists it
  const first = bars.findIndex((b) => b.count > 0);
  await page.focus(`svg.timeline g.bar:nth-of-type(${first + 1})`);
  await page.keyboard.press('Enter');
  await view('inventory');
  assert.deepEqual(await page.$$eval('#inventory-table tbody a.cert-link', (as) => as.map((a) => a.textContent)), [CN(1)]);

  // 390 px wide (the same tab: the key is in its sessionStorage): nothing
  // wider than the screen, on the dashboard and the import page
  await page.setViewportSize({ width: 390, height: 844 });
  await go('#/dashboard', 'dashboard');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no horizontal scrolling at 390 px');
  await shot(page, 'dashboard-390.png');
  await go('#/import', 'import');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no horizontal scrolling at 390 px');
  await go('#/inventory?q=console-test', 'inventory');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no horizontal scrolling at 390 px');
  await shot(page, 'inventory-390.png');
  await page.setViewportSize({ width: 1280, height: 900 });
  await collectCsp(page);
});

scenario('4. security headers are sent, and no CSP violation or console error happened', async () => {
  const r = await page.request.get(`${base}/ui/`);
  const hd = r.headers();
  const csp = hd['content-security-policy'];
  assert.ok(csp, 'a Content-Security-Policy header');
  for (const d of ["default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) {
    assert.ok(csp.split(';').map((x) => x.trim()).includes(d), `CSP has ${d}`);
  }
  assert.ok(!/unsafe-inline|unsafe-eval'/.test(csp.replace("'wasm-unsafe-eval'", '')), 'no inline or eval allowance');
  assert.equal(hd['x-frame-options'], 'DENY');
  assert.equal(hd['referrer-policy'], 'no-referrer');
  assert.equal(hd['x-content-type-options'], 'nosniff');
  assert.equal(hd['cache-control'], 'no-cache');
  const html = await r.text();
  assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), 'no inline script');
  assert.ok(!/\sstyle=|<style/.test(html), 'no inline style');
  const asset = /src="(app\.[0-9a-f]{10}\.js)"/.exec(html);
  assert.ok(asset, 'the script has a content-hashed name');
  const a = await page.request.get(`${base}/ui/${asset[1]}`);
  assert.equal(a.headers()['cache-control'], 'public, max-age=31536000, immutable');
  assert.ok(a.headers()['content-security-policy']);
  const redirect = await page.request.get(`${base}/ui`, { maxRedirects: 0 });
  assert.equal(redirect.status(), 301);
  assert.equal(redirect.headers().location, '/ui/');

  assert.deepEqual(state.cspViolations, [], 'no CSP violation');
  assert.deepEqual(state.pageErrors, [], 'no uncaught error');
  assert.deepEqual(state.consoleErrors, [], 'no console error');
});

test('5. screenshots of the dashboard, the inventory and the import result are saved', () => {
  for (const f of ['dashboard.png', 'inventory.png', 'import-result.png', 'dashboard-390.png']) {
    const p = join(OUT, f);
    const st = statSync(p);
    assert.ok(st.size > 10000, `${p} is a real picture (${st.size} bytes)`);
    assert.equal(readFileSync(p).subarray(1, 4).toString(), 'PNG');
  }
  process.stdout.write(`# screenshots in ${OUT}\n`);
});
