#include "core/err.h"

const char *tv_strerror(enum tv_err err)
{
	switch (err) {
	case TV_OK: return "ok";
	case TV_ERR_NOMEM: return "out of memory";
	case TV_ERR_INVALID: return "invalid input";
	case TV_ERR_IO: return "i/o error";
	case TV_ERR_NOT_FOUND: return "not found";
	case TV_ERR_EXISTS: return "already exists";
	case TV_ERR_CRYPTO: return "cryptographic operation failed";
	case TV_ERR_STORE: return "store error";
	case TV_ERR_BUSY: return "busy";
	case TV_ERR_STATE: return "wrong state";
	case TV_ERR_TOO_LARGE: return "too large";
	case TV_ERR_DENIED: return "denied";
	case TV_ERR_INTERNAL: return "internal error";
	case TV_ERR_VERSION: return "unsupported version";
	case TV_ERR_LIMIT: return "over a limit; retry later";
	}
	return "unknown error";
}
