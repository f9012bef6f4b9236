/*
 * fuzz_config.c - config_load on clerkd.conf (libconfig), the file an
 * administrator writes; clerkctl reads it too.
 *
 * The input is the file. A load that succeeds must fill every path, and
 * config_clear must free everything either way (LeakSanitizer checks).
 */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "fuzz_common.h"

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
	struct config c;
	struct err e = { 0 };

	if (fuzz_has_include(data, size))
		return -1;   /* keep it out of the corpus */
	if (config_load(&c, fuzz_input_path(data, size), &e) < 0) {
		if (e.msg[0] == '\0')
			abort();
	} else {
		char *token;

		if (c.file == NULL || c.state_dir == NULL ||
		    c.database == NULL || c.work_dir == NULL ||
		    c.listen_host == NULL || c.playbook_dir == NULL ||
		    c.calendar_dir == NULL || c.timezone == NULL ||
		    c.lease_ms <= 0 || c.drain_grace_ms <= 0 || c.poll_ms <= 0)
			abort();
		token = config_token_path(&c);
		free(token);
	}
	config_clear(&c);
	return 0;
}
