/*
 * fuzz_cases.c - cases_parse on a dropped file of applications (a JSON
 * object or array, or a CSV with a header row), as the cases.split step
 * reads what people drop into an inbox.
 *
 * The input is the file's text, with id_no and name required and one
 * Chinese header mapped. A file that does not parse must say why as
 * "path:line: ..."; every application emitted must be an object holding
 * the required fields, with rows counting up from 1 and a line >= 1; the
 * counts must agree with what was emitted and listed as bad.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t n, last_row;
};

static int
emit(void *arg, json_t *app, size_t row, unsigned line, struct err *e)
{
	struct seen *s = arg;

	(void)e;
	if (!json_is_object(app) || json_object_get(app, "id_no") == NULL ||
	    json_object_get(app, "name") == NULL || row <= s->last_row ||
	    line == 0)
		abort();
	s->last_row = row;
	s->n++;
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tz_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *required[] = { "id_no", "name" };
	static char *field[] = { "id_no" }, *header[] = { "公民身份号码" };
	static const struct cases_spec spec = { required, 2, field, header, 1 };
	char *text = fuzz_strndup(data, size);
	struct cases_counts n = { 0 };
	struct seen s = { 0 };
	json_t *bad = json_array();
	struct err e = { 0 };
	int rc;

	/* cases_parse takes what recon_read_text gives: text up to a NUL. */
	rc = cases_parse("in.csv", text, strlen(text), &spec, emit, &s, bad, &n,
	    &e);
	if (rc == -1 && strncmp(e.msg, "in.csv:", 7) != 0)
		abort();
	if (rc == -2 || n.apps != s.n || json_array_size(bad) != (n.bad <
	    CASES_MAX_BAD ? n.bad : CASES_MAX_BAD))
		abort();
	for (size_t i = 0; i < json_array_size(bad); i++)
		if (strncmp(json_string_value(json_object_get(json_array_get(bad,
		    i), "message")), "in.csv:", 7) != 0)
			abort();
	json_decref(bad);
	free(text);
	return 0;
}
