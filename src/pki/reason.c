/*
 * DESIGN: a table indexed by the enum, checked against the enum's size at
 * compile time, so that adding a code without its string fails the build.
 * tv__fail() exists so each failure site is one statement: set the message,
 * return the code.
 */
#include "pki/reason.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const S_codes[] = {
	[TV_REASON_OK] = "",
	[TV_REASON_INVALID_ITEM] = "INVALID_ITEM",
	[TV_REASON_INVALID_BASE64] = "INVALID_BASE64",
	[TV_REASON_KEYSTORE_TOO_LARGE] = "KEYSTORE_TOO_LARGE",
	[TV_REASON_PASSWORD_DECRYPTION_FAILED] = "PASSWORD_DECRYPTION_FAILED",
	[TV_REASON_MALFORMED_KEYSTORE] = "MALFORMED_KEYSTORE",
	[TV_REASON_MAC_VERIFICATION_FAILED] = "MAC_VERIFICATION_FAILED",
	[TV_REASON_DECRYPTION_FAILED] = "DECRYPTION_FAILED",
	[TV_REASON_UNSUPPORTED_ALGORITHM] = "UNSUPPORTED_ALGORITHM",
	[TV_REASON_ITERATION_LIMIT_EXCEEDED] = "ITERATION_LIMIT_EXCEEDED",
	[TV_REASON_NO_PRIVATE_KEY] = "NO_PRIVATE_KEY",
	[TV_REASON_NO_CERTIFICATE] = "NO_CERTIFICATE",
	[TV_REASON_KEY_CERTIFICATE_MISMATCH] = "KEY_CERTIFICATE_MISMATCH",
	[TV_REASON_UNSUPPORTED_KEY_TYPE] = "UNSUPPORTED_KEY_TYPE",
	[TV_REASON_CHAIN_BUILDING_FAILED] = "CHAIN_BUILDING_FAILED",
	[TV_REASON_SELF_SIGNED] = "SELF_SIGNED",
	[TV_REASON_ALREADY_IMPORTED] = "ALREADY_IMPORTED",
	[TV_REASON_DUPLICATE_IN_REQUEST] = "DUPLICATE_IN_REQUEST",
	[TV_REASON_INTERNAL_ERROR] = "INTERNAL_ERROR",
};

_Static_assert(sizeof(S_codes) / sizeof(S_codes[0]) == TV_REASON_COUNT,
	       "every enum tv_reason needs its API string");

const char *tv_reason_code(enum tv_reason reason)
{
	if ((int)reason < 0 || (int)reason >= TV_REASON_COUNT)
		return S_codes[TV_REASON_INTERNAL_ERROR];
	return S_codes[reason];
}

void tv_reason_format(char *out, size_t out_size, enum tv_reason reason,
		      const char *text)
{
	if (!out || !out_size)
		return;
	if (reason == TV_REASON_OK)
		out[0] = '\0';
	else if (!text || !text[0])
		snprintf(out, out_size, "%s", tv_reason_code(reason));
	else
		snprintf(out, out_size, "%s: %s", tv_reason_code(reason), text);
}

enum tv_reason tv__fail(char *msg, size_t msg_size, enum tv_reason reason,
			const char *fmt, ...)
{
	va_list ap;

	if (msg && msg_size) {
		va_start(ap, fmt);
		vsnprintf(msg, msg_size, fmt, ap);
		va_end(ap);
	}
	return reason;
}
