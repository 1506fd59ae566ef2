/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The driver of a fuzz target in a build without -Dfuzzing=true: runs
 * LLVMFuzzerTestOneInput once on each file named on the command line and on each regular
 * file of each directory named there (sorted, not recursive). No input at all is an error,
 * so a corpus that went missing cannot pass. Used by the meson suite 'fuzz-corpus', and by
 * hand to replay a crash file found by a fuzzing build.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static gboolean
pm_fuzz_main_run_file(const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *contents = NULL;
	gsize len = 0;
	guint8 *exact;

	if (!g_file_get_contents(path, &contents, &len, &error)) {
		fprintf(stderr, "fuzz-main: %s\n", error->message);
		return FALSE;
	}
	/* a copy of exactly @len bytes (no trailing NUL, at least one byte allocated): a read
	 * past the input is then a heap overflow the sanitizers see */
	exact = g_malloc(len > 0 ? len : 1);
	memcpy(exact, contents, len);
	LLVMFuzzerTestOneInput(exact, len);
	g_free(exact);
	return TRUE;
}

static gint
pm_fuzz_main_compare(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

int
main(int argc, char **argv)
{
	guint runs = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GError) error = NULL;
		g_autoptr(GDir) dir = NULL;
		struct stat st;
		const char *name;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "fuzz-main: %s: %s\n", argv[i], g_strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (!pm_fuzz_main_run_file(argv[i]))
				return 1;
			runs++;
			continue;
		}
		dir = g_dir_open(argv[i], 0, &error);
		if (dir == NULL) {
			fprintf(stderr, "fuzz-main: %s\n", error->message);
			return 1;
		}
		while ((name = g_dir_read_name(dir)) != NULL)
			g_ptr_array_add(names, g_build_filename(argv[i], name, NULL));
		g_ptr_array_sort(names, pm_fuzz_main_compare);
		for (guint j = 0; j < names->len; j++) {
			const char *path = g_ptr_array_index(names, j);

			if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			printf("%s\n", path);
			fflush(stdout);
			if (!pm_fuzz_main_run_file(path))
				return 1;
			runs++;
		}
	}
	printf("fuzz-main: %u input(s) ran without a finding\n", runs);
	if (runs == 0) {
		fprintf(stderr, "fuzz-main: no input found\n");
		return 1;
	}
	return 0;
}
