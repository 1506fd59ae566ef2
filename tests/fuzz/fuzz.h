/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * The libFuzzer entry points of the targets in this directory. With -Dfuzzing=true they are
 * linked with -fsanitize=fuzzer; otherwise fuzz-main.c calls them on every file of a corpus
 * (meson suite 'fuzz-corpus'), so every build replays the seeds.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* a property that does not hold is a finding: abort() so libFuzzer saves the input */
#define PM_FUZZ_CHECK(expr)                                                                      \
	do {                                                                                     \
		if (G_UNLIKELY(!(expr))) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

/* criticals (a g_return_if_fail) and warnings from the code under test are findings too */
static inline void
pm_fuzz_init(void)
{
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}
