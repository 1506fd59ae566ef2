/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <string.h>

#include "fuzz.h"
#include "natpmp.h"

/* big-endian words from the fuzzer's bytes (zero past the end) */
static inline guint64
pm_fuzz_read_be(const uint8_t *data, size_t size, size_t offset, guint width)
{
	guint64 val = 0;

	for (guint i = 0; i < width; i++)
		val = val << 8 | (offset + i < size ? data[offset + i] : 0);
	return val;
}

/*
 * pm_natpmp_epoch_is_reset against a model of RFC 6886 §3.6 as natpmp.h states it, in
 * 128-bit arithmetic so that nothing can wrap or saturate: a reset when, and only when,
 * new + 2 s < last + 7/8 * elapsed (7/8 rounded the way the codec rounds it:
 * elapsed - elapsed / 8). Plus two properties that do not depend
 * on the rounding: no time passed and no step back is never a reset, and waiting longer
 * never turns a reset into a non-reset.
 */
static inline void
pm_fuzz_check_epoch(guint32 last_epoch, guint32 new_epoch, guint64 elapsed_us)
{
	const unsigned __int128 usec = 1000000;
	unsigned __int128 lhs = (unsigned __int128)new_epoch * usec + 2 * usec;
	unsigned __int128 rhs = (unsigned __int128)last_epoch * usec + elapsed_us - elapsed_us / 8;
	gboolean model = lhs < rhs;
	gboolean got = pm_natpmp_epoch_is_reset(last_epoch, new_epoch, elapsed_us);

	if (got != model) {
		fprintf(stderr,
			"epoch_is_reset(last=%u, new=%u, elapsed_us=%" G_GUINT64_FORMAT
			") = %d, the model says %d\n",
			last_epoch,
			new_epoch,
			elapsed_us,
			got,
			model);
		abort();
	}
	if (new_epoch >= last_epoch)
		PM_FUZZ_CHECK(!pm_natpmp_epoch_is_reset(last_epoch, new_epoch, 0));
	if (got && elapsed_us < G_MAXUINT64)
		PM_FUZZ_CHECK(pm_natpmp_epoch_is_reset(last_epoch, new_epoch, elapsed_us + 1));
	/* the same epoch again, right away, is the normal case of two quick replies */
	PM_FUZZ_CHECK(!pm_natpmp_epoch_is_reset(new_epoch, new_epoch, 0));
}
