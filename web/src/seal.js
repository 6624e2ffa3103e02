// Sealing secrets in the browser: a password or passphrase is encrypted to
// a DEK's public key with libsodium's crypto_box_seal (X25519 +
// XSalsa20-Poly1305) before it leaves the page, as API.md's clients do. Only
// the server's edge worker, which holds the DEK, can open it.
import sodium from './sodium.js';
import { api } from './api.js';

let readyPromise = null;

export function sodiumReady() {
  if (!readyPromise) readyPromise = sodium.ready;
  return readyPromise;
}

const B64 = () => sodium.base64_variants.ORIGINAL;

/**
 * The DEK public key for keyId (an edge instance's encryptionKeyId, or a
 * certificate's dekHash), checked against its id: the id is
 * base64url(SHA-256(key)) with padding, so a key that doesn't hash to the id
 * asked for is refused rather than sealed to.
 */
export async function dekKey(keyId) {
  await sodiumReady();
  const k = await api('GET', `/v1/edgeencryptionkeys/${encodeURIComponent(keyId)}`);
  const pk = sodium.from_base64(k.key, B64());
  if (pk.length !== sodium.crypto_box_PUBLICKEYBYTES) throw new Error(`the key ${keyId} is not a 32-byte X25519 key`);
  // WebCrypto exists on secure origins (HTTPS, or loopback as in `make run`);
  // a console served over plain HTTP elsewhere (--insecure-http) can't check
  if (globalThis.crypto && crypto.subtle) {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', pk));
    const id = sodium.to_base64(digest, sodium.base64_variants.URLSAFE);
    if (id !== keyId) throw new Error(`the key served for ${keyId} does not match its id; nothing was sent`);
  }
  return pk;
}

/** base64(crypto_box_seal(utf8(text), pk)) */
export async function seal(text, pk) {
  await sodiumReady();
  const msg = sodium.from_string(text);
  try {
    return sodium.to_base64(sodium.crypto_box_seal(msg, pk), B64());
  } finally {
    sodium.memzero(msg);
  }
}

/** Standard base64 of bytes (a keystore file). */
export async function toBase64(bytes) {
  await sodiumReady();
  return sodium.to_base64(bytes, B64());
}
