// Import: drop files or a folder of .p12/.pfx keystores, give one password
// (or one per file), and import them. Every password is sealed in the
// browser to the edge instance's DEK before it is sent; files go in batches
// of 100 (API.md's limit per request), and each job is followed with the
// waitSeconds long-poll, updating a progress bar and a status per file.
// The finished table gives each file's outcome, with the reason in plain
// words. #/import?job=ID shows a past job's results.
import { api, ApiError } from './api.js';
import { h, clear, errorBox, field, toast, routeParams, dateTime } from './dom.js';
import { dekKey, seal, toBase64 } from './seal.js';
import { explain } from './reasons.js';

const BATCH = 100;          // API.md: importInformation holds 1 to 100 items
const MAX_POLLS = 3;        // jobs followed at once (each holds a connection)
const WAIT_SECONDS = 2;     // long-poll: answer at once when final, else every 2 s
const MAX_FILE = 8 << 20;   // not sent: far beyond any keystore (server cap: 256 KiB)
const KEYSTORE_RE = /\.(p12|pfx)$/i;

function sizeText(n) {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/** Every File under a dropped DataTransfer, folders walked, with paths. */
async function droppedFiles(dt) {
  const entries = [...(dt.items || [])].map((it) => (it.webkitGetAsEntry ? it.webkitGetAsEntry() : null));
  if (!entries.length || entries.some((e) => !e)) {
    return [...dt.files].map((f) => ({ file: f, path: f.name }));
  }
  const out = [];
  const fileOf = (entry) => new Promise((res, rej) => entry.file(res, rej));
  const readAll = async (dir) => {
    const reader = dir.createReader();
    const all = [];
    for (;;) {
      // eslint-disable-next-line no-await-in-loop
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (!batch.length) return all;
      all.push(...batch);
    }
  };
  const walk = async (entry) => {
    if (entry.isFile) out.push({ file: await fileOf(entry), path: entry.fullPath.replace(/^\//, '') });
    else if (entry.isDirectory) for (const e of await readAll(entry)) await walk(e);
  };
  for (const e of entries) await walk(e);
  return out;
}

/** The outcome of one file from its result rows. */
function outcome(results) {
  const final = results.filter((r) => r.status !== 'PROCESSING');
  if (!final.length) return null;
  for (const s of ['IMPORTED', 'VALID', 'SKIPPED']) {
    const r = final.find((x) => x.status === s);
    if (r) return { status: s, reason: final.find((x) => x.status === 'FAILED')?.reason || r.reason };
  }
  return { status: 'FAILED', reason: final[0].reason };
}

function statusCell(row) {
  const o = row.outcome;
  if (!o) return h('span', { class: 'badge muted' }, row.state);
  return h('span', { class: `badge ${o.status.toLowerCase()}` }, o.status);
}

function reasonCell(row) {
  const o = row.outcome;
  if (!o || !o.reason) return '';
  const r = explain(o.reason);
  return h('span', { class: 'reason' }, h('span', { class: 'plain' }, r.plain), ' ',
    h('span', { class: 'code muted small' }, r.code ? `${r.code}: ${r.detail}` : ''));
}

function certCell(row) {
  const ids = [...new Set((row.results || []).map((r) => r.certificateId).filter(Boolean))];
  return ids.map((id, i) => h('a', { href: `#/inventory?status=any&id=${encodeURIComponent(id)}` }, i ? ` view ${i + 1}` : 'view'));
}

export function render(root) {
  const p = routeParams();
  clear(root);
  if (p.job) return renderJob(root, p.job);
  return renderImport(root);
}

async function renderJob(root, id) {
  root.append(h('h1', {}, 'Import job'), h('p', {}, h('a', { href: '#/import' }, '‹ New import')));
  try {
    const job = await api('GET', `/v1/certificates/imports/${encodeURIComponent(id)}`);
    const byItem = new Map();
    for (const r of job.results) {
      if (!byItem.has(r.itemIndex)) byItem.set(r.itemIndex, []);
      byItem.get(r.itemIndex).push(r);
    }
    const rows = [...byItem.entries()].sort((a, b) => a[0] - b[0]).map(([i, results]) => ({
      path: results.find((r) => r.label)?.label || `item ${i + 1}`, results, outcome: outcome(results), state: 'Processing',
    }));
    root.append(h('p', {}, `Started ${dateTime(job.creationDate)}; `, h('span', { class: `badge ${job.status.toLowerCase()}` }, job.status),
      job.completionDate ? `; finished ${dateTime(job.completionDate)}` : '', job.dryRun ? ' (dry run)' : ''),
    summary(rows), resultTable(rows, false));
  } catch (e) {
    root.append(errorBox(e));
  }
  root.dataset.ready = 'import';
}

function summary(rows) {
  const n = (s) => rows.filter((r) => r.outcome && r.outcome.status === s).length;
  const imported = n('IMPORTED') + n('VALID');
  const parts = [`${imported} imported`, `${n('SKIPPED')} skipped`, `${n('FAILED')} failed`];
  return h('p', { class: 'summary', id: 'import-summary', role: 'status' }, `${parts.join(', ')} (of ${rows.length} file${rows.length === 1 ? '' : 's'}).`);
}

function resultTable(rows, perFile) {
  return h('div', { class: 'table-scroll' }, h('table', { class: 'data', id: 'import-files' },
    h('caption', { class: 'sr' }, 'Files and their import status'),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'File'), h('th', { scope: 'col', class: 'num' }, 'Size'),
      perFile ? h('th', { scope: 'col' }, 'Password') : null,
      h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'What happened'), h('th', { scope: 'col' }, 'Certificate'))),
    h('tbody', {}, rows.map((row) => {
      const tr = h('tr', { 'data-file': row.path },
        h('td', { class: 'file' }, row.path),
        h('td', { class: 'num' }, row.file ? sizeText(row.file.size) : ''),
        perFile ? h('td', {}, row.passwordInput) : null,
        h('td', { class: 'status', 'data-status': row.outcome ? row.outcome.status : row.state }, statusCell(row)),
        h('td', { class: 'why' }, reasonCell(row)),
        h('td', {}, certCell(row)));
      row.tr = tr;
      return tr;
    }))));
}

function renderImport(root) {
  let rows = [];
  let running = false;
  const fileInput = h('input', { type: 'file', multiple: true, accept: '.p12,.pfx,application/x-pkcs12', id: 'file-input', class: 'sr' });
  const folderInput = h('input', { type: 'file', webkitdirectory: true, id: 'folder-input', class: 'sr' });
  const password = h('input', { type: 'password', id: 'import-password', autocomplete: 'off' });
  const perFile = h('input', { type: 'checkbox', id: 'per-file' });
  const startBtn = h('button', { type: 'button', class: 'primary', id: 'import-start', disabled: true }, 'Import');
  const clearBtn = h('button', { type: 'button', class: 'ghost', id: 'import-clear', disabled: true }, 'Clear the list');
  const progress = h('progress', { id: 'import-progress', max: 1, value: 0 });
  const progressText = h('span', { id: 'import-progress-text' }, '');
  const progressEl = h('div', { class: 'progress', hidden: true }, h('label', { for: 'import-progress' }, 'Progress '), progress, ' ', progressText);
  const note = h('p', { class: 'muted', id: 'import-note', role: 'status' });
  const listEl = h('div', { id: 'import-list' });
  const summaryEl = h('div', {});

  const drop = h('div', { class: 'dropzone', id: 'dropzone', tabindex: '0', role: 'button', 'aria-describedby': 'drop-hint' },
    h('strong', {}, 'Drop .p12 / .pfx files or a folder here'),
    h('span', { id: 'drop-hint', class: 'muted' }, 'or press Enter to choose files. Nothing leaves this page until you press Import.'));
  drop.addEventListener('click', () => fileInput.click());
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); fileInput.click(); } });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    add(await droppedFiles(e.dataTransfer));
  });
  fileInput.addEventListener('change', () => { add([...fileInput.files].map((f) => ({ file: f, path: f.name }))); fileInput.value = ''; });
  folderInput.addEventListener('change', () => { add([...folderInput.files].map((f) => ({ file: f, path: f.webkitRelativePath || f.name }))); folderInput.value = ''; });
  perFile.addEventListener('change', () => draw());
  clearBtn.addEventListener('click', () => { rows = []; summaryEl.replaceChildren(); progressEl.hidden = true; draw(); note.textContent = ''; });
  startBtn.addEventListener('click', () => start());

  function add(found) {
    if (running) return;
    const keystores = found.filter((f) => KEYSTORE_RE.test(f.path));
    const ignored = found.length - keystores.length;
    const known = new Set(rows.map((r) => r.path));
    for (const f of keystores) {
      if (known.has(f.path)) continue;
      known.add(f.path);
      rows.push({
        file: f.file, path: f.path, state: 'Ready', outcome: null, results: [],
        passwordInput: h('input', { type: 'password', autocomplete: 'off', 'aria-label': `Password for ${f.path}` }),
      });
    }
    note.textContent = `${rows.length} keystore${rows.length === 1 ? '' : 's'} ready.${ignored ? ` ${ignored} other file${ignored === 1 ? ' was' : 's were'} left out (only .p12 and .pfx are imported).` : ''}`;
    summaryEl.replaceChildren();
    draw();
  }

  function draw() {
    startBtn.disabled = running || !rows.length;
    clearBtn.disabled = running || !rows.length;
    clear(listEl);
    if (rows.length) listEl.append(resultTable(rows, perFile.checked && !rows.some((r) => r.outcome)));
  }

  function redrawRow(row) {
    if (!row.tr) return;
    const st = row.tr.querySelector('td.status');
    st.dataset.status = row.outcome ? row.outcome.status : row.state;
    st.replaceChildren(statusCell(row));
    row.tr.querySelector('td.why').replaceChildren(reasonCell(row));
    row.tr.lastChild.replaceChildren(...certCell(row));
  }

  function tick() {
    const done = rows.filter((r) => r.outcome).length;
    progress.max = rows.length;
    progress.value = done;
    progressText.textContent = `${done}/${rows.length}`;
  }

  function fail(row, reason) {
    row.outcome = { status: 'FAILED', reason };
    redrawRow(row);
    tick();
  }

  async function post(body) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await api('POST', '/outagedetection/v1/certificates/imports', body);
      } catch (e) {
        // a full queue (429) or a node starting (503) is worth a wait
        if (!(e instanceof ApiError) || (e.status !== 429 && e.status !== 503) || attempt >= 5) throw e;
        note.textContent = `The server is busy; trying again in ${2 ** attempt} s…`;
        await new Promise((res) => setTimeout(res, 1000 * 2 ** attempt));
      }
    }
  }

  async function follow(jobId, batch) {
    for (;;) {
      const job = await api('GET', `/outagedetection/v1/certificates/imports/${encodeURIComponent(jobId)}?waitSeconds=${WAIT_SECONDS}`);
      const byItem = new Map();
      for (const r of job.results) {
        if (!byItem.has(r.itemIndex)) byItem.set(r.itemIndex, []);
        byItem.get(r.itemIndex).push(r);
      }
      batch.forEach((row, i) => {
        if (row.outcome) return;
        row.results = byItem.get(i) || [];
        row.outcome = outcome(row.results);
        if (!row.outcome && row.state !== 'Processing') row.state = 'Processing';
        redrawRow(row);
      });
      tick();
      if (job.status === 'COMPLETED' || job.status === 'FAILED') return;
    }
  }

  async function start() {
    const shared = password.value;
    const each = perFile.checked;
    const todo = rows.filter((r) => !r.outcome);
    if (!todo.length) return;
    running = true;
    draw();
    progressEl.hidden = false;
    summaryEl.replaceChildren();
    todo.forEach((r) => { r.state = 'Waiting'; r.results = []; redrawRow(r); });
    tick();
    const sealed = new Map(); // password -> sealed box, for this run only
    try {
      const edges = (await api('GET', '/v1/edgeinstances')).edgeInstances;
      const edge = edges.find((e) => e.edgeStatus === 'ACTIVE') || edges[0];
      if (!edge) throw new Error('this tenant has no edge instance to import with');
      if (edge.edgeStatus !== 'ACTIVE') note.textContent = 'No edge instance is active right now: the files will wait until one is.';
      const pk = await dekKey(edge.encryptionKeyId);
      const sealOnce = async (pw) => {
        if (!sealed.has(pw)) sealed.set(pw, await seal(pw, pk));
        return sealed.get(pw);
      };
      const polls = new Set();
      for (let b = 0; b < todo.length; b += BATCH) {
        const batch = todo.slice(b, b + BATCH);
        const sendable = [];
        const items = [];
        for (const row of batch) {
          if (row.file.size > MAX_FILE) { fail(row, `KEYSTORE_TOO_LARGE: ${sizeText(row.file.size)} is not sent`); continue; }
          const pw = each ? row.passwordInput.value : shared;
          const item = { pkcs12Keystore: await toBase64(new Uint8Array(await row.file.arrayBuffer())), label: row.path.slice(0, 256) };
          if (pw !== '') item.dekEncryptedPassword = await sealOnce(pw);
          items.push(item);
          sendable.push(row);
        }
        if (!items.length) continue;
        sendable.forEach((r) => { r.state = 'Sending'; redrawRow(r); });
        let job;
        try {
          job = await post({ edgeInstanceId: edge.id, encryptionKeyId: edge.encryptionKeyId, importInformation: items });
        } catch (e) {
          sendable.forEach((r) => fail(r, `the server refused this batch: ${e.message}`));
          continue;
        }
        sendable.forEach((r) => { r.state = 'Queued'; redrawRow(r); });
        const poll = follow(job.id, sendable).catch((e) => sendable.filter((r) => !r.outcome).forEach((r) => fail(r, `lost track of the job ${job.id}: ${e.message}`)));
        polls.add(poll);
        poll.finally(() => polls.delete(poll));
        if (polls.size >= MAX_POLLS) await Promise.race(polls);
      }
      await Promise.all(polls);
      summaryEl.replaceChildren(h('h2', {}, 'Result'), summary(rows));
      toast('Import finished.', 'ok');
    } catch (e) {
      todo.filter((r) => !r.outcome).forEach((r) => { r.state = 'Not sent'; redrawRow(r); });
      summaryEl.replaceChildren(errorBox(e));
    } finally {
      sealed.clear();
      password.value = '';
      rows.forEach((r) => { r.passwordInput.value = ''; });
      running = false;
      draw();
      tick();
    }
  }

  const pickers = h('div', { class: 'actions left' },
    h('label', { for: 'file-input', class: 'button ghost' }, 'Choose files'), fileInput,
    h('label', { for: 'folder-input', class: 'button ghost' }, 'Choose a folder'), folderInput);
  // the labels act as buttons: make them reachable and usable by keyboard
  for (const l of pickers.querySelectorAll('label.button')) {
    l.tabIndex = 0;
    l.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); l.click(); } });
  }
  root.append(h('h1', {}, 'Import keystores'),
    h('section', { class: 'panel' },
      drop, pickers,
      h('div', { class: 'grid2' },
        field('Password', password, 'Used for every file unless you give one per file. Sealed in this page before it is sent.'),
        h('div', { class: 'field check' }, perFile, h('label', { for: 'per-file' }, 'A different password for each file'))),
      h('div', { class: 'actions left' }, startBtn, clearBtn), note, progressEl),
    summaryEl, listEl);
  root.dataset.ready = 'import';
}
