/*
 * fuzz_ocr_template.c - the OCR template loader (ocr_template_load in
 * ocr/ocr.h) on any libconfig text. A refusal has a "file:line:" message;
 * a template that loads has a document type, languages, at least one
 * field, page limits in order, and every field a way to be found.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "ocr.h"

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
	struct ocr_template *t;
	struct err e = { 0 };

	if (fuzz_has_include(data, size))
		return -1;   /* keep it out of the corpus */
	t = ocr_template_load(fuzz_input_path(data, size), &e);
	if (t == NULL) {
		if (strchr(e.msg, ':') == NULL)
			abort();
		return 0;
	}
	if (t->document_type == NULL || t->languages == NULL ||
	    t->nfields == 0 || t->min_pages > t->max_pages ||
	    t->limits.max_pages < t->max_pages)
		abort();
	for (size_t i = 0; i < t->nfields; i++) {
		const struct ocr_tfield *f = &t->fields[i];

		if (f->spec.name == NULL ||
		    (f->locate == OCR_LOC_LABEL && f->spec.label == NULL) ||
		    (f->locate == OCR_LOC_PATTERN && f->pattern_re == NULL))
			abort();
	}
	ocr_template_free(t);
	return 0;
}
