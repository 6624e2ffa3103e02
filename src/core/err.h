/*
 * err.h - the one error enum of tlsvault.
 *
 * Every fallible function below cmd/ returns enum tv_err (TV_OK = 0, failures
 * negative) and is marked TV_WUR. Nothing below cmd/ prints or exits: the
 * caller decides how to tell a person. tv_strerror() gives a short, lower-case
 * description that never contains caller data (and so never a secret).
 */
#ifndef TV_CORE_ERR_H
#define TV_CORE_ERR_H

#define TV_WUR __attribute__((warn_unused_result))

enum tv_err {
	TV_OK = 0,
	TV_ERR_NOMEM = -1,     /* allocation failed */
	TV_ERR_INVALID = -2,   /* bad argument or malformed input */
	TV_ERR_IO = -3,        /* file or socket error */
	TV_ERR_NOT_FOUND = -4, /* no such object */
	TV_ERR_EXISTS = -5,    /* object already exists */
	TV_ERR_CRYPTO = -6,    /* a cryptographic operation failed */
	TV_ERR_STORE = -7,     /* the store failed (SQL error, I/O) */
	TV_ERR_BUSY = -8,      /* try again later (lock, queue full) */
	TV_ERR_STATE = -9,     /* object in the wrong state */
	TV_ERR_TOO_LARGE = -10, /* input over a cap */
	TV_ERR_DENIED = -11,   /* not allowed */
	TV_ERR_INTERNAL = -12, /* a bug or an impossible state */
	TV_ERR_VERSION = -13,  /* schema or file version not supported */
	TV_ERR_LIMIT = -14,    /* over a quota (rate, queue depth): retry later */
};

/** Short description of err; a static string, thread-safe. */
const char *tv_strerror(enum tv_err err);

#endif
