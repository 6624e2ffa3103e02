/*
 * DESIGN: see timing.h. CLOCK_MONOTONIC through the vDSO costs about 20 ns,
 * against a read of about 3 ms, so a timed read is a faithful read. The
 * clock is only read when the context carries counters.
 */
#include "pki/timing.h"

#include <stddef.h>
#include <time.h>

static const char *const S_names[TV_PKI_PHASE_COUNT] = {
	[TV_PKI_PHASE_KDF] = "kdf",
	[TV_PKI_PHASE_MAC] = "mac",
	[TV_PKI_PHASE_DECRYPT] = "decrypt",
	[TV_PKI_PHASE_CERT_DECODE] = "cert_decode",
	[TV_PKI_PHASE_KEY_DECODE] = "key_decode",
	[TV_PKI_PHASE_PAIRING] = "pairing",
};

static uint64_t S_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *tv_pki_phase_name(enum tv_pki_phase phase)
{
	return (unsigned)phase < TV_PKI_PHASE_COUNT ? S_names[phase] : "?";
}

void tv_pki_timing_reset(struct tv_pki_timing *t)
{
	size_t i;

	for (i = 0; t && i < TV_PKI_PHASE_COUNT; i++) {
		atomic_store_explicit(&t->ns[i], 0, memory_order_relaxed);
		atomic_store_explicit(&t->spans[i], 0, memory_order_relaxed);
	}
}

uint64_t tv__timing_begin(const struct tv_pki_ctx *ctx)
{
	/* 0 means "off"; a real stamp is never 0 (boot is long past) */
	return tv__pki_ctx_timing(ctx) ? S_now_ns() : 0;
}

uint64_t tv__timing_since(uint64_t t0)
{
	return t0 ? S_now_ns() - t0 : 0;
}

void tv__timing_end(const struct tv_pki_ctx *ctx, enum tv_pki_phase phase, uint64_t t0,
		    uint64_t excluded_ns)
{
	struct tv_pki_timing *t;
	uint64_t ns;

	if (!t0 || (unsigned)phase >= TV_PKI_PHASE_COUNT)
		return;
	t = tv__pki_ctx_timing(ctx);
	if (!t)
		return;
	ns = S_now_ns() - t0;
	ns = ns > excluded_ns ? ns - excluded_ns : 0;
	atomic_fetch_add_explicit(&t->ns[phase], ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->spans[phase], 1, memory_order_relaxed);
}
