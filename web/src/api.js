// The one way the console talks to tlsvaultd: the public HTTP API (API.md)
// on this origin, with the API key in the tppl-api-key header. Errors come
// back as ApiError with API.md's code and message.
import { getKey } from './session.js';

export class ApiError extends Error {
  constructor(status, code, message, args) {
    super(message);
    this.status = status;
    this.code = code;
    this.args = args || [];
  }
}

// Fired when the server says the key is no longer good (401), so the app
// can go back to the sign-in form.
export const SIGNED_OUT_EVENT = 'tlsvault:signed-out';

async function errorOf(r) {
  let code = 0;
  let message = `HTTP ${r.status}`;
  let args = [];
  try {
    const body = await r.json();
    const e = body && body.errors && body.errors[0];
    if (e) {
      code = e.code;
      message = e.message || message;
      args = e.args || [];
    }
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(r.status, code, message, args);
}

/**
 * method, path (starting with /), body (an object sent as JSON, or
 * undefined). With opts.raw the fetch Response is returned on success (for
 * downloads); otherwise the parsed JSON, or null for 204.
 */
export async function api(method, path, body, opts = {}) {
  const headers = { 'tppl-api-key': opts.key || getKey() };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (opts.signal) init.signal = opts.signal;
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 0, 'the server did not answer (is tlsvaultd running?)');
  }
  if (!r.ok) {
    const err = await errorOf(r);
    if (r.status === 401 && !opts.key) window.dispatchEvent(new CustomEvent(SIGNED_OUT_EVENT, { detail: err.message }));
    throw err;
  }
  if (opts.raw) return r;
  if (r.status === 204) return null;
  return r.json();
}

/** POST .../certificatesearch; returns {count, certificates}. */
export function search(expression, { orders = [], page = 0, pageSize = 100, signal } = {}) {
  const body = { paging: { pageNumber: page, pageSize } };
  if (expression) body.expression = expression;
  if (orders.length) body.ordering = { orders };
  return api('POST', '/outagedetection/v1/certificatesearch', body, { signal });
}

/** Run tasks (functions returning promises) with at most limit at a time. */
export async function pool(tasks, limit) {
  const out = new Array(tasks.length);
  let next = 0;
  async function worker() {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return out;
}
