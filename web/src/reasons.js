// Import result reasons (API.md "reason codes") in plain words. The server's
// reason is "CODE: detail"; the console shows the plain words first and the
// server's detail after them.
const PLAIN = {
  INVALID_ITEM: 'Not a keystore the server understands (the request item had the wrong shape).',
  INVALID_BASE64: 'The file could not be sent intact (bad encoding).',
  KEYSTORE_TOO_LARGE: 'The file is larger than the server accepts for one keystore.',
  PASSWORD_DECRYPTION_FAILED: 'The password could not be opened by the server (it was sealed to another key).',
  MALFORMED_KEYSTORE: 'Not a PKCS#12 file, or the file is damaged or cut short.',
  MAC_VERIFICATION_FAILED: 'Wrong password (or the file was altered).',
  DECRYPTION_FAILED: 'Wrong password: part of the file did not decrypt.',
  UNSUPPORTED_ALGORITHM: 'The file uses an encryption or integrity algorithm the server does not support.',
  ITERATION_LIMIT_EXCEEDED: 'The file asks for more key-derivation rounds than the server allows.',
  NO_PRIVATE_KEY: 'The file holds certificates only, no private key.',
  NO_CERTIFICATE: 'The file holds a private key without its certificate.',
  KEY_CERTIFICATE_MISMATCH: 'The private key does not belong to the certificate.',
  UNSUPPORTED_KEY_TYPE: 'The key type or size is not supported (RSA 2048-8192, EC P-256/384/521, Ed25519).',
  CHAIN_BUILDING_FAILED: 'The certificate does not chain to a trusted CA. Add its root under Trusted CAs.',
  SELF_SIGNED: 'A self-signed certificate that is not trusted. Add it under Trusted CAs to pin it.',
  ALREADY_IMPORTED: 'Already in the vault.',
  DUPLICATE_IN_REQUEST: 'The same certificate was in another file of this import.',
  INTERNAL_ERROR: 'The server failed on this file; its log has the details.',
};

/** {code, plain, detail} for a result reason ("" on success). */
export function explain(reason) {
  if (!reason) return { code: '', plain: '', detail: '' };
  const m = /^([A-Z_]+):\s*(.*)$/s.exec(reason);
  const code = m ? m[1] : '';
  const detail = m ? m[2] : reason;
  return { code, plain: PLAIN[code] || detail, detail };
}
