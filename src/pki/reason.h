/*
 * reason.h - why an import item failed: the reason codes of API.md.
 *
 * DESIGN: the pki readers return exactly one enum tv_reason and, in a
 * caller-supplied buffer, a message for a person. The enum is the stable
 * machine-readable part; tv_reason_code() gives the string that starts the
 * "reason" field of an import result ("MAC_VERIFICATION_FAILED"). Messages
 * name algorithms and numbers, never password or key bytes. Everything here
 * is pure and thread-safe.
 */
#ifndef TV_PKI_REASON_H
#define TV_PKI_REASON_H

#include <stddef.h>

/* The order is part of the interface (other layers store it): append only. */
enum tv_reason {
	TV_REASON_OK = 0,
	TV_REASON_INVALID_ITEM,
	TV_REASON_INVALID_BASE64,
	TV_REASON_KEYSTORE_TOO_LARGE,
	TV_REASON_PASSWORD_DECRYPTION_FAILED,
	TV_REASON_MALFORMED_KEYSTORE,
	TV_REASON_MAC_VERIFICATION_FAILED,
	TV_REASON_DECRYPTION_FAILED,
	TV_REASON_UNSUPPORTED_ALGORITHM,
	TV_REASON_ITERATION_LIMIT_EXCEEDED,
	TV_REASON_NO_PRIVATE_KEY,
	TV_REASON_NO_CERTIFICATE,
	TV_REASON_KEY_CERTIFICATE_MISMATCH,
	TV_REASON_UNSUPPORTED_KEY_TYPE,
	TV_REASON_CHAIN_BUILDING_FAILED,
	TV_REASON_SELF_SIGNED,
	TV_REASON_ALREADY_IMPORTED,
	TV_REASON_DUPLICATE_IN_REQUEST,
	TV_REASON_INTERNAL_ERROR,
};

#define TV_REASON_COUNT ((int)TV_REASON_INTERNAL_ERROR + 1)

/** Size of a reason message buffer that never truncates a pki message. */
#define TV_REASON_MSG_SIZE 256

/**
 * A reason with its message, for callers that want one object to pass
 * around. The readers take (char *msg, size_t msg_size) so that any buffer
 * works; pass m.text and sizeof(m.text).
 */
struct tv_reason_msg {
	enum tv_reason reason;
	char text[TV_REASON_MSG_SIZE];
};

/**
 * The API string of a reason: "MAC_VERIFICATION_FAILED", and "" for
 * TV_REASON_OK. A value outside the enum gives "INTERNAL_ERROR". The result
 * is a static string. Thread-safe.
 */
const char *tv_reason_code(enum tv_reason reason);

/**
 * Format the "reason" field of an import result into out[0..out_size):
 * "" for TV_REASON_OK, else "<CODE>: <text>" (or "<CODE>" when text is NULL
 * or empty). Always NUL-terminates when out_size > 0; truncates silently.
 * Thread-safe.
 */
void tv_reason_format(char *out, size_t out_size, enum tv_reason reason,
		      const char *text);

/*
 * Internal to src/pki: write a printf-style message into msg[0..msg_size)
 * (a no-op when msg is NULL or msg_size is 0) and return reason, so that a
 * failure reads `rc = tv__fail(msg, msz, TV_REASON_X, "...", ...)`.
 * Never pass secret bytes as arguments.
 */
enum tv_reason tv__fail(char *msg, size_t msg_size, enum tv_reason reason,
			const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
