/*
 * fuzz_records.c - rec_set_load on the record exports (CSV, UTF-8) that
 * record matching reads from other systems, then matching what loaded
 * against itself.
 *
 * The input is the file, read with every column mapped by its default
 * name (id, name, birth, sex, region, from, to, amount, benefit). A file
 * that does not load must say why; one that loads must give records whose
 * names lie inside the name arena, issues that point at records, and a
 * self-match whose pairs are l < r with scores the components add up to.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "records.h"

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
	static const struct rec_spec spec = { .encoding = "UTF-8",
	    .delimiter = ',' };
	struct rec_rules r;
	struct rec_set s;
	struct rec_result *res;
	struct err e = { 0 };

	rec_rules_default(&r);
	r.today = 20261123;
	r.threads = 1;
	if (rec_set_load(fuzz_input_path(data, size), &spec, &r, &s, &e) < 0) {
		if (e.msg[0] == '\0')
			abort();
		rec_set_free(&s);
		return 0;
	}
	for (size_t i = 0; i < s.n; i++)
		if ((size_t)s.r[i].name + s.r[i].name_len >= s.names_len ||
		    s.names[s.r[i].name + s.r[i].name_len] != '\0' ||
		    s.r[i].benefit >= s.nbenefits)
			abort();
	for (size_t i = 0; i < s.nissues; i++)
		if (s.issues[i].rec >= s.n)
			abort();
	res = rec_match(&s, NULL, &r);
	for (size_t i = 0; i < res->n; i++) {
		const struct rec_pair *p = &res->pairs[i];

		if (p->l >= p->r || p->r >= s.n || p->score != p->pts[0] +
		    p->pts[1] + p->pts[2] + p->pts[3] + p->pts[4])
			abort();
	}
	rec_result_free(res);
	rec_set_free(&s);
	return 0;
}
