/*
 * ctl_ocr.c - "clerkctl ocr check": the ocr.check step's document check
 * without the daemon, for supervisors tuning a template.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ocr.h"

int ctl_ocr_check(const char *file, const char *tmpl, const char *tdir,
    const char *payload, bool json);

/* Display columns of a UTF-8 string: CJK takes two. */
static int
cols(const char *s)
{
	int n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xc0) == 0x80)
			continue;
		n += *p >= 0xe0 ? 2 : 1;
	}
	return n;
}

static void
cell(const char *s, int width)
{
	fputs(s, stdout);
	for (int i = cols(s); i < width; i++)
		putchar(' ');
}

static void
print_table(const json_t *r)
{
	const json_t *v;
	size_t i;

	printf("verdict:   %s\ntemplate:  %s (%s)\nfile:      %s\nmime:      %s\n",
	    json_string_value(json_object_get(r, "verdict")),
	    json_string_value(json_object_get(r, "template")),
	    json_string_value(json_object_get(r, "document_type")),
	    json_string_value(json_object_get(r, "file")),
	    json_string_value(json_object_get(r, "mime")) ?
	    json_string_value(json_object_get(r, "mime")) : "?");
	json_array_foreach(json_object_get(r, "pages"), i, v) {
		const char *k;
		json_t *c;

		printf("page %lld: %lldx%lld", (long long)json_integer_value(
		    json_object_get(v, "page")), (long long)json_integer_value(
		    json_object_get(v, "width")), (long long)json_integer_value(
		    json_object_get(v, "height")));
		json_object_foreach(json_object_get(v, "checks"), k, c) {
			json_t *val = json_object_get(c, "value");

			printf("  %s=%.4g%s", k, json_number_value(val),
			    json_is_true(json_object_get(c, "ok")) ? "" : "(!)");
		}
		putchar('\n');
	}
	if (json_array_size(json_object_get(r, "fields")) > 0) {
		printf("\n");
		cell("FIELD", 16);
		cell("VALUE", 28);
		cell("CONF", 6);
		cell("STATUS", 16);
		printf("MESSAGE\n");
	}
	json_array_foreach(json_object_get(r, "fields"), i, v) {
		char conf[16] = "-";
		json_t *c = json_object_get(v, "confidence");

		if (json_is_number(c))
			snprintf(conf, sizeof(conf), "%.0f", json_number_value(c));
		cell(json_string_value(json_object_get(v, "name")), 16);
		cell(json_string_value(json_object_get(v, "value")), 28);
		cell(conf, 6);
		cell(json_string_value(json_object_get(v, "status")), 16);
		printf("%s\n", json_string_value(json_object_get(v, "message")));
	}
	if (json_array_size(json_object_get(r, "reasons")) > 0)
		printf("\nreasons:\n");
	json_array_foreach(json_object_get(r, "reasons"), i, v)
		printf("  %-8s %-24s %s\n", json_string_value(json_object_get(v,
		    "severity")), json_string_value(json_object_get(v, "code")),
		    json_string_value(json_object_get(v, "message")));
}

int
ctl_ocr_check(const char *file, const char *tmpl, const char *tdir,
    const char *payload, bool json)
{
	struct ocr_template *t;
	struct ocr_check_opts o;
	json_t *pl = NULL, *r;
	const char *verdict;
	json_error_t je;
	struct err e;
	int rc;

	if (tmpl == NULL) {
		fprintf(stderr, "clerkctl: ocr check needs --template NAME|FILE\n");
		return 2;
	}
	if (payload != NULL) {
		pl = payload[0] == '@' ? json_load_file(payload + 1, 0, &je) :
		    json_loads(payload, 0, &je);
		if (!json_is_object(pl)) {
			fprintf(stderr, "clerkctl: --payload: %s:%d: %s\n",
			    payload[0] == '@' ? payload + 1 : "argument", je.line,
			    pl ? "not a JSON object" : je.text);
			json_decref(pl);
			return 2;
		}
	}
	err_clear(&e);
	if ((t = ocr_template_find(tmpl, tdir, &e)) == NULL) {
		fprintf(stderr, "clerkctl: %s\n", e.msg);
		json_decref(pl);
		return 1;
	}
	memset(&o, 0, sizeof(o));
	o.payload = pl;
	r = ocr_check_file(file, t, &o, &e);
	ocr_engine_thread_done();
	ocr_template_free(t);
	json_decref(pl);
	if (r == NULL) {
		fprintf(stderr, "clerkctl: %s\n", e.msg);
		return 1;
	}
	json_object_set_new(r, "timing", json_pack("{s:f,s:f}",
	    "recognise_ms", o.recognise_ms, "total_ms", o.total_ms));
	if (json)
		json_dumpf(r, stdout, JSON_INDENT(2));
	else
		print_table(r);
	if (json)
		putchar('\n');
	verdict = json_string_value(json_object_get(r, "verdict"));
	rc = strcmp(verdict, "accept") == 0 ? 0 : strcmp(verdict, "reject") ==
	    0 ? 4 : 5;
	json_decref(r);
	return rc;
}
