// The API key lives in this tab's sessionStorage only: it survives a reload,
// is gone when the tab closes, is never put in a URL, a cookie or
// localStorage, and is sent only as the tppl-api-key header (api.js).
const KEY = 'tlsvault.apiKey';

export function getKey() {
  return sessionStorage.getItem(KEY) || '';
}

export function setKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function clearKey() {
  sessionStorage.removeItem(KEY);
}
