#!/usr/bin/env node
// Build the web console into one C source file that tlsvaultd compiles in.
//
//   node web/build.mjs --src web/src --modules BUILD/web/node_modules \
//                      --out BUILD/web/dist --c BUILD/web/ui_assets.c
//
// DESIGN: the console is plain files, so "building" is only naming. Every
// file but index.html gets a hash of its content in its name
// (app.3f9a1c2b7d.js) and can then be cached for a year; references between
// files (import specifiers, src/href in index.html) are rewritten to the
// hashed names, leaves first, so a change in one module renames every file
// that imports it. libsodium's browser build comes from the pinned npm
// packages (package-lock.json); its bare "libsodium" import is rewritten to
// the vendored file, so the browser needs no import map (which would need
// an inline script, and the CSP allows none). The output is a table of
// {name, type, bytes, etag, immutable} in C (see src/api/ui.h), plus the
// same files in --out for inspection. Any reference that names no file
// fails the build.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';

function parseArgs(argv) {
  const args = {};
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (!k.startsWith('--') || v === undefined) {
      throw new Error(`usage: build.mjs --src DIR --modules DIR --out DIR --c FILE (at "${k}")`);
    }
    args[k.slice(2)] = v;
  }
  for (const k of ['src', 'modules', 'out', 'c']) {
    if (!args[k]) throw new Error(`build.mjs: missing --${k}`);
  }
  return args;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

// Vendored files: [name in the console, path under node_modules, rewrite].
const VENDOR = [
  ['libsodium.js', 'libsodium/dist/modules-esm/libsodium.mjs', (t) => t],
  ['sodium.js', 'libsodium-wrappers/dist/modules-esm/libsodium-wrappers.mjs',
    (t) => {
      const out = t.replace(/from\s*(["'])libsodium\1/g, 'from"./libsodium.js"');
      if (out === t) throw new Error('build.mjs: libsodium-wrappers no longer imports "libsodium"; check the vendoring');
      return out;
    }],
];

function sha256(buf) {
  return createHash('sha256').update(buf).digest();
}

// References a file makes to other console files, by their source names.
function references(name, text) {
  const ext = extname(name);
  const refs = [];
  let re;
  if (ext === '.js') {
    re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])\.\/([\w.-]+)\1/g;
    for (const m of text.matchAll(re)) refs.push({ whole: m[0], target: m[2] });
  } else if (ext === '.html') {
    re = /\b(?:src|href)=(["'])([\w.-]+\.(?:js|css|svg|txt))\1/g;
    for (const m of text.matchAll(re)) refs.push({ whole: m[0], target: m[2] });
  } else if (ext === '.css') {
    re = /url\(\s*(["']?)([\w.-]+\.svg)\1\s*\)/g;
    for (const m of text.matchAll(re)) refs.push({ whole: m[0], target: m[2] });
  }
  return refs;
}

function hashedName(name, content) {
  const ext = extname(name);
  const h = sha256(content).toString('hex').slice(0, 10);
  return `${basename(name, ext)}.${h}${ext}`;
}

function loadSources(args) {
  const files = new Map();
  for (const f of readdirSync(args.src).sort()) {
    const p = join(args.src, f);
    if (!statSync(p).isFile()) throw new Error(`build.mjs: ${p}: the console is flat, no folders`);
    if (!TYPES[extname(f)]) throw new Error(`build.mjs: ${p}: no content type for "${extname(f)}"`);
    if (!/^[\w.-]+$/.test(f)) throw new Error(`build.mjs: ${p}: name must be [A-Za-z0-9_.-]`);
    files.set(f, readFileSync(p, 'utf8'));
  }
  for (const [name, rel, rewrite] of VENDOR) {
    if (files.has(name)) throw new Error(`build.mjs: ${name} is vendored; remove it from src`);
    files.set(name, rewrite(readFileSync(join(args.modules, rel), 'utf8')));
  }
  // the licences of what is vendored travel with it
  const lic = ['libsodium', 'libsodium-wrappers'].map((pkg) => {
    const meta = JSON.parse(readFileSync(join(args.modules, pkg, 'package.json'), 'utf8'));
    return `${pkg} ${meta.version} (${meta.license})\n\n${readFileSync(join(args.modules, pkg, 'LICENSE'), 'utf8')}`;
  });
  files.set('licenses.txt', `The tlsvault web console includes:\n\n${lic.join('\n\n')}`);
  if (!files.has('index.html')) throw new Error('build.mjs: no index.html in --src');
  return files;
}

// Name every file, leaves first; returns Map(source name -> {name, bytes}).
function nameAll(files) {
  const done = new Map();
  const visiting = new Set();
  function visit(name, from) {
    if (done.has(name)) return done.get(name);
    if (!files.has(name)) throw new Error(`build.mjs: ${from} refers to "${name}", which does not exist`);
    if (visiting.has(name)) throw new Error(`build.mjs: import cycle through ${name}`);
    visiting.add(name);
    let text = files.get(name);
    for (const r of references(name, text)) {
      const dep = visit(r.target, name);
      text = text.split(r.whole).join(r.whole.replace(r.target, dep.name));
    }
    visiting.delete(name);
    const bytes = Buffer.from(text, 'utf8');
    const out = { name: name === 'index.html' ? name : hashedName(name, bytes), bytes };
    done.set(name, out);
    return out;
  }
  for (const name of files.keys()) visit(name, 'the build');
  return done;
}

function cString(s) {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function emitC(assets) {
  const lines = [
    '/* Generated by web/build.mjs from web/src and the pinned npm packages. Do not edit. */',
    '#include "api/ui.h"',
    '',
  ];
  assets.forEach((a, i) => {
    lines.push(`static const unsigned char S_asset${i}[${a.bytes.length + 1}] = {`);
    const hex = [];
    for (const b of a.bytes) hex.push(`0x${b.toString(16).padStart(2, '0')}`);
    hex.push('0x00'); // never read (len excludes it); keeps an empty file a valid array
    for (let k = 0; k < hex.length; k += 16) lines.push(`\t${hex.slice(k, k + 16).join(',')},`);
    lines.push('};');
  });
  lines.push('', 'const struct tv_ui_asset tv_ui_assets[] = {');
  assets.forEach((a, i) => {
    lines.push(`\t{ ${cString(a.name)}, ${cString(a.type)}, S_asset${i}, ${a.bytes.length}, ${cString(a.etag)}, ${a.immutable ? 'true' : 'false'} },`);
  });
  lines.push('};', '', `const size_t tv_ui_asset_count = ${assets.length};`, '');
  return lines.join('\n');
}

function main() {
  const args = parseArgs(process.argv);
  const named = nameAll(loadSources(args));
  const assets = [...named.values()]
    .map((a) => ({
      name: a.name,
      bytes: a.bytes,
      type: TYPES[extname(a.name)],
      etag: `"${sha256(a.bytes).toString('base64url').slice(0, 22)}"`,
      immutable: a.name !== 'index.html',
    }))
    .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  rmSync(args.out, { recursive: true, force: true });
  mkdirSync(args.out, { recursive: true });
  for (const a of assets) writeFileSync(join(args.out, a.name), a.bytes);
  const c = emitC(assets);
  // only replace the C file when it changed, so an unchanged console
  // doesn't recompile and relink
  let old = null;
  try { old = readFileSync(args.c, 'utf8'); } catch { /* first build */ }
  if (old !== c) writeFileSync(args.c, c);
  const total = assets.reduce((n, a) => n + a.bytes.length, 0);
  process.stdout.write(`web console: ${assets.length} files, ${total} bytes\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}
