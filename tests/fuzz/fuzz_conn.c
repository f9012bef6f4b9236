/*
 * fuzz_conn.c - what the connector does with a legacy system's answer:
 * the probes (XPath through libxml2's HTML and XML parsers, JSON paths,
 * PCRE2 patterns) and the masking of evidence.
 *
 * The first byte picks the content type (HTML, XML, JSON), the rest is the
 * body. Every probe must answer -1, 0 or 1, with a value exactly when it
 * answers 1. Masking ID numbers keeps the length and is idempotent (a
 * masked text has no ID number left to mask), and masking with the
 * connector's secrets never grows the text past the input plus the
 * "***" of blanked tokens.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const specs[] = {
	"xpath://td[@id='cert_no']",
	"xpath://*[local-name()='Status']",
	"xpath://form//input[@type='hidden']",
	"json:found",
	"json:cases.0.id",
	"re:data-code=\"([^\"]+)\"",
	"re:(?<![0-9])[0-9]{17}[0-9X]",
};
static struct conn_probe probes[sizeof(specs) / sizeof(specs[0])];
static config_t cfg;
static struct conn_def *def;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct err e;

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (conn_probe_parse(&probes[i], specs[i], &e) != 0)
			abort();
	config_init(&cfg);
	if (!config_read_string(&cfg, "connectors = { f = { base_url ="
	    " \"http://127.0.0.1:1\"; }; };\nstep = { };"))
		abort();
	if ((def = conn_def_load(config_lookup(&cfg, "step"), "f", &e)) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "text/html;charset=UTF-8",
	    "text/xml;charset=UTF-8", "application/json" };
	struct conn_resp r = { 0 };
	char *text, *m1, *m2;

	if (size < 1)
		return 0;
	r.status = 200;
	r.ctype = strdup(types[data[0] % 3]);
	r.body = fuzz_strndup(data + 1, size - 1);
	r.len = strlen(r.body);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		char *v = (char *)1;
		int rc = conn_probe_eval(&probes[i], &r, &v);

		if (rc < -1 || rc > 1 || (rc == 1) != (v != NULL)) {
			fprintf(stderr, "%s: rc %d, value %p\n", specs[i], rc,
			    (void *)v);
			abort();
		}
		free(v);
	}
	text = r.body;
	m1 = conn_mask_ids(text);
	m2 = conn_mask_ids(m1);
	if (strlen(m1) != strlen(text) || strcmp(m1, m2) != 0) {
		fprintf(stderr, "ID masking changed the length or was not"
		    " idempotent\n");
		abort();
	}
	free(m1);
	free(m2);
	m1 = conn_mask(def, text);
	free(m1);
	conn_resp_clear(&r);
	return 0;
}
