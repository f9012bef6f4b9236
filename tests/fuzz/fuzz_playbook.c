/*
 * fuzz_playbook.c - pb_load on playbook files (libconfig) a supervisor
 * writes: trigger (with its cron expression), calendar name, policies and
 * every step kind's prepare().
 *
 * The input is the file. pb_load must either return a playbook and report
 * nothing, or return NULL with at least one problem; pb_unref and
 * pb_diag_clear must free everything (LeakSanitizer checks).
 */
#include <stdint.h>
#include <stdlib.h>

#include "cron.h"
#include "fuzz_common.h"
#include "playbook.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tz_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pb_diag d = { 0 };
	struct playbook *pb;

	if (fuzz_has_include(data, size))
		return -1;   /* keep it out of the corpus */
	pb = pb_load(fuzz_input_path(data, size), &d);
	if (pb == NULL) {
		if (d.n == 0)
			abort();
	} else {
		if (d.n != 0 || pb->name == NULL || pb->nsteps == 0)
			abort();
		for (size_t i = 0; i < pb->nsteps; i++)
			if (pb->steps[i].id == NULL || pb->steps[i].kind == NULL)
				abort();
		if (pb->trigger == TRIG_CRON && pb->cron != NULL)
			(void)cron_next(pb->cron, fuzz_probes[3]);
		pb_unref(pb);
	}
	pb_diag_clear(&d);
	return 0;
}
