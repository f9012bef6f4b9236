/*
 * report.c - what a match writes: pairs.csv (every pair at or above the
 * review threshold, with its components), issues.csv (rows with an
 * invalid ID or birth date, still matched) and result.json (the summary).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "records.h"

void
rec_csv_cell(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\n\r") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

FILE *
rec_out_open(const char *dir, const char *name, char **tmp, struct err *e)
{
	FILE *f;

	*tmp = xasprintf("%s/.%s.tmp", dir, name);
	if ((f = fopen(*tmp, "w")) == NULL) {
		err_setc(e, ERR_FAIL, "%s: %s", *tmp, strerror(errno));
		free(*tmp);
		*tmp = NULL;
	}
	return f;
}

/* Closes f and renames tmp to dir/name: a reader never sees half a file. */
int
rec_out_close(FILE *f, const char *dir, const char *name, char *tmp,
    struct err *e)
{
	char *path = xasprintf("%s/%s", dir, name);
	int rc = 0;

	if (ferror(f) | (fclose(f) != 0) || rename(tmp, path) < 0) {
		err_setc(e, ERR_FAIL, "%s: %s", path, strerror(errno));
		unlink(tmp);
		rc = -1;
	}
	free(path);
	free(tmp);
	return rc;
}

static void
write_record_cells(FILE *f, const struct rec_set *s, const struct rec_record *x)
{
	char id[19];

	memcpy(id, x->id, 18);
	id[18] = '\0';
	fprintf(f, ",%u,%s,", x->line, id);
	rec_csv_cell(f, rec_name(s, x));
}

static json_t *
set_json(const struct rec_set *s)
{
	return json_pack("{s:s,s:I,s:I}", "file", s->path, "records",
	    (json_int_t)s->n, "issues", (json_int_t)s->nissues);
}

int
rec_write_outputs(const char *dir, const struct rec_set *L,
    const struct rec_set *R, const struct rec_result *res, json_t **summary,
    struct err *e)
{
	const struct rec_set *RR = R ? R : L;
	char *tmp;
	FILE *f;
	json_t *j, *issues;
	char *text;
	int rc;

	*summary = NULL;
	if (util_mkdir_p(dir, 0755, e) < 0)
		return -1;
	if ((f = rec_out_open(dir, "pairs.csv", &tmp, e)) == NULL)
		return -1;
	fputs("decision,score,id,id_points,name,name_points,birth,"
	    "birth_points,sex,sex_points,region,region_points,left_line,"
	    "left_id,left_name,right_line,right_id,right_name\n", f);
	for (size_t i = 0; i < res->n; i++) {
		const struct rec_pair *p = &res->pairs[i];

		fprintf(f, "%s,%d,%s,%d,%s,%d,%s,%d,%s,%d,%s,%d",
		    rec_decision_name((enum rec_decision)p->decision), p->score,
		    rec_idcmp_name((enum rec_idcmp)p->idc), p->pts[0],
		    rec_namecmp_name((enum rec_namecmp)p->namec), p->pts[1],
		    rec_cmp3_name((enum rec_cmp3)p->birthc), p->pts[2],
		    rec_cmp3_name((enum rec_cmp3)p->sexc), p->pts[3],
		    rec_cmp3_name((enum rec_cmp3)p->regionc), p->pts[4]);
		write_record_cells(f, L, &L->r[p->l]);
		write_record_cells(f, RR, &RR->r[p->r]);
		fputc('\n', f);
	}
	if (rec_out_close(f, dir, "pairs.csv", tmp, e) < 0)
		return -1;

	if ((f = rec_out_open(dir, "issues.csv", &tmp, e)) == NULL)
		return -1;
	fputs("file,line,issue\n", f);
	for (int side = 0; side < (R ? 2 : 1); side++) {
		const struct rec_set *s = side ? R : L;

		for (size_t i = 0; i < s->nissues; i++) {
			rec_csv_cell(f, s->path);
			fprintf(f, ",%u,", s->issues[i].line);
			rec_csv_cell(f, s->issues[i].what);
			fputc('\n', f);
		}
	}
	if (rec_out_close(f, dir, "issues.csv", tmp, e) < 0)
		return -1;

	/* The first issues as evidence; all of them are in issues.csv. */
	issues = json_array();
	for (int side = 0; side < (R ? 2 : 1); side++) {
		const struct rec_set *s = side ? R : L;

		for (size_t i = 0; i < s->nissues && json_array_size(issues) <
		    100; i++)
			json_array_append_new(issues, json_pack("{s:s,s:I,s:s}",
			    "file", s->path, "line", (json_int_t)s->issues[i].line,
			    "issue", s->issues[i].what));
	}
	j = json_pack("{s:o,s:I,s:I,s:I,s:I,s:I,s:o,s:s}",
	    "left", set_json(L),
	    "candidates", (json_int_t)res->candidates,
	    "auto", (json_int_t)res->nauto,
	    "review", (json_int_t)res->nreview,
	    "oversized_blocks_skipped", (json_int_t)res->oversized,
	    "issues_total", (json_int_t)(L->nissues + (R ? R->nissues : 0)),
	    "issues", issues,
	    "out", dir);
	if (R != NULL)
		json_object_set_new(j, "right", set_json(R));
	else
		json_object_set_new(j, "self", json_true());
	text = json_dumps(j, JSON_INDENT(1));
	{
		char *path = xasprintf("%s/result.json", dir);

		rc = util_write_file_atomic(path, text, strlen(text), 0644, e);
		free(path);
	}
	free(text);
	if (rc < 0) {
		json_decref(j);
		return -1;
	}
	*summary = j;
	return 0;
}

int
rec_append_issues(const char *dir, const struct rec_set *s, struct err *e)
{
	char *path = xasprintf("%s/issues.csv", dir);
	FILE *f = fopen(path, "a");
	int rc = 0;

	if (f == NULL) {
		err_setc(e, ERR_FAIL, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	for (size_t i = 0; i < s->nissues; i++) {
		rec_csv_cell(f, s->path);
		fprintf(f, ",%u,", s->issues[i].line);
		rec_csv_cell(f, s->issues[i].what);
		fputc('\n', f);
	}
	if (ferror(f) | (fclose(f) != 0)) {
		err_setc(e, ERR_FAIL, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	free(path);
	return rc;
}
