/*
 * test_records.c - record matching (records/records.h): normalisation,
 * blocking and scoring, the merge plan and the cross-check's amounts.
 *
 * The IDs are built with the GB 11643 check character from ocr/ids, so
 * each test says which ones are valid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "records.h"

static char tmpdir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/clerk-test-records-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

/* An 18-digit ID with its right check character. */
static void
make_id(const char *first17, char out[19])
{
	memcpy(out, first17, 17);
	out[17] = ids_cnid_check_char(first17);
	out[18] = '\0';
}

static char *
write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_id_normalise(void **state)
{
	char out[19], id[19];
	bool was15;

	(void)state;
	/* 15 digits: "19" inserted, check character computed. */
	assert_int_equal(rec_id_normalise("110105491231002", 15, 20261123, out,
	    &was15), CNID_OK);
	assert_true(was15);
	make_id("11010519491231002", id);
	assert_string_equal(out, id);
	/* Full width, a lower-case x, spaces. */
	assert_int_equal(rec_id_normalise("１１０１０５ 19491231002x",
	    strlen("１１０１０５ 19491231002x"), 20261123, out, &was15),
	    CNID_OK);
	assert_string_equal(out, "11010519491231002X");
	assert_false(was15);
	/* A bad check character is kept, and said. */
	assert_int_equal(rec_id_normalise("110105194912310021", 18, 20261123,
	    out, &was15), CNID_CHECK);
	assert_string_equal(out, "110105194912310021");
	/* An impossible date. */
	assert_int_equal(rec_id_normalise("110105194902300021", 18, 20261123,
	    out, &was15), CNID_BIRTH);
	assert_int_equal(rec_id_normalise("12345", 5, 20261123, out, &was15),
	    CNID_LENGTH);
}

static void
test_name_normalise(void **state)
{
	char out[64];
	char *vpath, *vpath2;
	struct rec_variants *v;
	struct err e;

	(void)state;
	assert_int_equal(rec_name_normalise(" 张 三 ", strlen(" 张 三 "), NULL,
	    out, sizeof(out)), strlen("张三"));
	assert_string_equal(out, "张三");
	rec_name_normalise("买买提·艾力", strlen("买买提·艾力"), NULL, out,
	    sizeof(out));
	assert_string_equal(out, "买买提艾力");
	rec_name_normalise("ｊｏｈｎ smith", strlen("ｊｏｈｎ smith"), NULL,
	    out, sizeof(out));
	assert_string_equal(out, "JOHNSMITH");
	vpath = write_file("t2s.txt", "# traditional -> simplified\n"
	    "張 张\n華华\n");
	v = rec_variants_load(vpath, &e);
	assert_non_null(v);
	rec_name_normalise("張國華", strlen("張國華"), v, out, sizeof(out));
	assert_string_equal(out, "张国华");   /* 國 from ICU */
	rec_variants_free(v);
	/* The table overrides ICU: a site's own mapping wins. */
	vpath2 = write_file("t2s-own.txt", "陳 陣\n");
	v = rec_variants_load(vpath2, &e);
	assert_non_null(v);
	rec_name_normalise("陳偉", strlen("陳偉"), v, out, sizeof(out));
	assert_string_equal(out, "陣伟");
	rec_variants_free(v);
	free(vpath2);
	free(vpath);
	vpath = write_file("bad.txt", "張 张\nabc\n");
	assert_null(rec_variants_load(vpath, &e));
	assert_non_null(strstr(e.msg, "bad.txt:2:"));
	free(vpath);
}

static void
test_pinyin_initials(void **state)
{
	char out[16];
	bool complete;
	uint64_t a, b;

	(void)state;
	assert_int_equal(rec_pinyin_initial(0x5F20), 'Z');   /* 张 */
	assert_int_equal(rec_pinyin_initial(0x738B), 'W');   /* 王 */
	assert_int_equal(rec_pinyin_initial(0x554A), 'A');   /* 啊, the first */
	assert_int_equal(rec_pinyin_initial(0x5EA7), 'Z');   /* 座, the last */
	rec_name_initials("张三丰", strlen("张三丰"), out, sizeof(out));
	assert_string_equal(out, "ZSF");
	a = rec_name_key("张三", strlen("张三"), &complete);
	assert_true(complete);
	b = rec_name_key("赵四", strlen("赵四"), &complete);
	assert_true(a == b);   /* ZS and ZS */
	/* Outside the CJK blocks (Extension B): no initial. */
	b = rec_name_key("张\xf0\xa0\x80\x80", strlen("张\xf0\xa0\x80\x80"),
	    &complete);
	assert_false(complete);
	assert_true(a != b);
}

/* GB2312 level 2 (ordered by radical, not pinyin) and Extension A had
 * no initials before ICU: 亓 Qi, 仉 Zhang, 佘 She, 冼 Xian, 亍 Chu. */
static void
test_pinyin_initials_all_hanzi(void **state)
{
	static const struct { uint32_t cp; char letter; } level2[] = {
		{ 0x4E93, 'Q' },   /* 亓 */
		{ 0x4EC9, 'Z' },   /* 仉 */
		{ 0x4F58, 'S' },   /* 佘 */
		{ 0x51BC, 'X' },   /* 冼 */
		{ 0x4E8D, 'C' },   /* 亍 */
		{ 0x3400, 'Q' },   /* 㐀, Extension A */
	};
	bool complete;

	(void)state;
	print_message("# hanzi tables built in %.1f ms\n",
	    rec_hanzi_tables_ms());
	for (size_t i = 0; i < sizeof(level2) / sizeof(level2[0]); i++)
		assert_int_equal(rec_pinyin_initial(level2[i].cp),
		    level2[i].letter);
	/* 冼星海 and 徐兴海 are XXH both: they meet in the name blocks. */
	assert_true(rec_name_key("冼星海", strlen("冼星海"), &complete) ==
	    rec_name_key("徐兴海", strlen("徐兴海"), &complete));
	assert_true(complete);
}

/* 单 is dān, but as a surname Shàn; likewise 曾 Zēng, 解 Xiè, 仇 Qiú,
 * 区 Ōu, 查 Zhā - only as the first character of a name. */
static void
test_polyphonic_surnames(void **state)
{
	static const char *const cases[][2] = {
		{ "单伟", "SW" }, { "简单", "JD" }, { "曾志伟", "ZZW" },
		{ "解放", "XF" }, { "仇英", "QY" }, { "区明", "OM" },
		{ "查良镛", "ZLY" },
	};
	char out[16];

	(void)state;
	assert_int_equal(rec_pinyin_initial(0x5355), 'D');   /* 单, dān */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rec_name_initials(cases[i][0], strlen(cases[i][0]), out,
		    sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
}


static void
test_dates(void **state)
{
	rec_day d = rec_date_parse("2026-11-23", 10);
	char out[11];

	(void)state;
	assert_int_not_equal(d, REC_NODAY);
	assert_int_equal(rec_date_parse("2026/11/23", 10), d);
	assert_int_equal(rec_date_parse("2026.11.23", 10), d);
	assert_int_equal(rec_date_parse("20261123", 8), d);
	assert_int_equal(rec_date_parse("2026年11月23日", strlen(
	    "2026年11月23日")), d);
	assert_int_equal(rec_date_parse("2026-11-23 10:00:00", 19), d);
	assert_int_equal(rec_date_parse("2026-2-30", 9), REC_NODAY);
	assert_int_equal(rec_date_parse("2026-11-23x", 11), REC_NODAY);
	assert_int_equal(rec_date_parse("", 0), REC_NODAY);
	rec_day_format(d, out);
	assert_string_equal(out, "2026-11-23");
}

static struct rec_rules rules;

static void
load(const char *name, const char *csv, struct rec_set *s)
{
	char *path = write_file(name, csv);
	struct err e;
	static const struct rec_spec spec = { .encoding = "UTF-8",
	    .delimiter = ',' };

	rec_rules_default(&rules);
	rules.today = 20261123;
	if (rec_set_load(path, &spec, &rules, s, &e) < 0)
		fail_msg("%s", e.msg);
	free(path);
}

static const struct rec_pair *
find_pair(const struct rec_result *res, uint32_t l, uint32_t r)
{
	for (size_t i = 0; i < res->n; i++)
		if (res->pairs[i].l == l && res->pairs[i].r == r)
			return &res->pairs[i];
	return NULL;
}

static void
test_scoring_components(void **state)
{
	char a[19], b[19], c[19], d[19], csv[2048];
	struct rec_set L, R;
	struct rec_pair p;

	(void)state;
	make_id("11010519800101123", a);
	make_id("11010519800101321", b);   /* different person */
	snprintf(c, sizeof(c), "%s", a);
	c[14] = '2';
	c[15] = '1';                       /* ...123 -> ...213: transposed */
	snprintf(d, sizeof(d), "%s", a);
	d[15] = '9';                       /* one digit off */
	snprintf(csv, sizeof(csv), "id,name,birth\n%s,张三,1980-01-01\n", a);
	load("l.csv", csv, &L);
	snprintf(csv, sizeof(csv), "id,name,birth\n"
	    "%s,张三,1980-01-01\n"        /* 0 exact */
	    "%s,张山,1980-01-01\n"        /* 1 name edit 1 */
	    "%s,张三,1980-01-01\n"        /* 2 transposed */
	    "%s,张三,1980-01-01\n"        /* 3 one digit off */
	    "%s,赵思,1980-01-01\n"        /* 4 different, same initials */
	    "%.17s0,张三,1980-01-01\n"    /* 5 wrong check character */
	    ",张三,1980-01-01\n",         /* 6 no ID */
	    a, a, c, d, b, a);
	load("r.csv", csv, &R);
	assert_int_equal(R.n, 7);
	assert_true(R.nissues >= 3);   /* c, d, the check, the missing ID */

	rec_score(&L, &L.r[0], &R, &R.r[0], &p);
	assert_int_equal(p.idc, IDC_EXACT);
	assert_int_equal(p.namec, NC_EXACT);
	assert_int_equal(p.birthc, C3_SAME);
	assert_int_equal(p.score, 100);
	assert_int_equal(rec_decide(&rules, p.score), REC_AUTO);

	rec_score(&L, &L.r[0], &R, &R.r[1], &p);
	assert_int_equal(p.namec, NC_EDIT1);
	assert_int_equal(p.score, 90);

	rec_score(&L, &L.r[0], &R, &R.r[2], &p);
	assert_int_equal(p.idc, IDC_TRANSPOSED);
	assert_int_equal(rec_decide(&rules, p.score), REC_REVIEW);

	rec_score(&L, &L.r[0], &R, &R.r[3], &p);
	assert_int_equal(p.idc, IDC_ONE_OFF);
	assert_int_equal(rec_decide(&rules, p.score), REC_REVIEW);

	rec_score(&L, &L.r[0], &R, &R.r[4], &p);
	assert_int_equal(p.idc, IDC_DIFFERENT);
	assert_int_equal(p.namec, NC_INITIALS);
	assert_int_equal(rec_decide(&rules, p.score), REC_NOMATCH);

	rec_score(&L, &L.r[0], &R, &R.r[5], &p);
	assert_int_equal(p.idc, IDC_CHECK);
	assert_int_equal(rec_decide(&rules, p.score), REC_REVIEW);

	rec_score(&L, &L.r[0], &R, &R.r[6], &p);
	assert_int_equal(p.idc, IDC_MISSING);
	assert_int_equal(p.pts[0], 0);
	rec_set_free(&L);
	rec_set_free(&R);
}

/* A name written in traditional characters is the same name. */
static void
test_traditional_name_matches(void **state)
{
	char a[19], csv[512];
	struct rec_set L, R;
	struct rec_pair p;

	(void)state;
	make_id("11010519800101123", a);
	snprintf(csv, sizeof(csv), "id,name,birth\n%s,陈伟,1980-01-01\n"
	    ",陈伟,1980-01-01\n", a);
	load("simp.csv", csv, &L);
	snprintf(csv, sizeof(csv), "id,name,birth\n%s,陳偉,1980-01-01\n", a);
	load("trad.csv", csv, &R);
	rec_score(&L, &L.r[0], &R, &R.r[0], &p);
	assert_int_equal(p.namec, NC_EXACT);
	assert_int_equal(p.score, 100);
	rec_score(&L, &L.r[1], &R, &R.r[0], &p);   /* by name and birth */
	assert_int_equal(p.namec, NC_EXACT);
	assert_true(L.r[1].nkey == R.r[0].nkey);
	rec_set_free(&L);
	rec_set_free(&R);
}

static void
test_sex_from_the_id(void **state)
{
	char a[19], b[19], csv[512];
	struct rec_set L;
	struct rec_pair p;

	(void)state;
	make_id("11010519800101123", a);   /* 17th digit 3: male */
	make_id("11010519800101124", b);   /* 4: female */
	snprintf(csv, sizeof(csv), "id,name,birth,sex\n%s,张三,,女\n"
	    "%s,张三,,\n", a, b);
	load("sex.csv", csv, &L);
	assert_int_equal(L.r[0].sex, 1);   /* the valid ID wins */
	assert_int_equal(L.r[1].sex, 2);
	rec_score(&L, &L.r[0], &L, &L.r[1], &p);
	assert_int_equal(p.sexc, C3_DIFFERENT);
	assert_true(p.pts[3] < 0);
	rec_set_free(&L);
}

static void
test_blocking(void **state)
{
	char a[19], b[19], c[19], csv[2048];
	struct rec_set L, R;
	struct rec_result *res;
	const struct rec_pair *p;

	(void)state;
	make_id("11010519800101123", a);
	make_id("31010419700505222", b);
	make_id("44010619900909333", c);
	snprintf(csv, sizeof(csv), "id,name,birth\n"
	    "%s,张三,1980-01-01\n"
	    "%.16s9%c,张三,1980-01-01\n"  /* ID typo: found by birth + name */
	    "%s,王五,1990-09-09\n", a, a, a[17], c);
	load("bl.csv", csv, &L);
	snprintf(csv, sizeof(csv), "id,name,birth\n"
	    "%s,李四,1970-05-05\n"         /* shares no key with the left */
	    "%s,张三,1980-01-01\n", b, a);
	load("br.csv", csv, &R);

	res = rec_match(&L, &R, &rules);
	/* Left 0 and 1 each meet right 1; nothing meets right 0. */
	assert_int_equal(res->candidates, 2);
	p = find_pair(res, 0, 1);
	assert_non_null(p);
	assert_int_equal(p->blocks, REC_BLOCK_ID | REC_BLOCK_BIRTH_NAME);
	p = find_pair(res, 1, 1);
	assert_non_null(p);
	assert_int_equal(p->blocks, REC_BLOCK_BIRTH_NAME);
	assert_int_equal(p->idc, IDC_ONE_OFF);
	rec_result_free(res);

	/* Only the ID block: the typo is not found. */
	rules.blocking = REC_BLOCK_ID;
	res = rec_match(&L, &R, &rules);
	assert_int_equal(res->candidates, 1);
	assert_null(find_pair(res, 1, 1));
	rec_result_free(res);

	/* Against itself: each pair once, l < r. */
	rules.blocking = REC_BLOCK_ID | REC_BLOCK_BIRTH_NAME;
	res = rec_match(&L, NULL, &rules);
	assert_int_equal(res->n, 1);
	assert_int_equal(res->pairs[0].l, 0);
	assert_int_equal(res->pairs[0].r, 1);
	rec_result_free(res);

	/* A block bigger than max_block is skipped and counted. */
	rules.max_block = 2;
	rec_set_free(&R);
	snprintf(csv, sizeof(csv), "id,name,birth\n"
	    ",张三,1980-01-01\n,张三,1980-01-01\n,张三,1980-01-01\n");
	load("big.csv", csv, &R);
	rules.max_block = 2;
	res = rec_match(&L, &R, &rules);
	assert_int_equal(res->oversized, 2);   /* left 0 and 1 */
	rec_result_free(res);
	rec_set_free(&L);
	rec_set_free(&R);
}

static void
test_threads_same_result(void **state)
{
	struct rec_set L;
	struct rec_result *one, *two;
	char *csv = xmalloc(1 << 20), id[19], first[18];
	size_t o = 0;

	(void)state;
	o += (size_t)sprintf(csv, "id,name,birth\n");
	for (int i = 0; i < 10000; i++) {
		snprintf(first, sizeof(first), "1101051980%02d%02d%03d",
		    i % 12 + 1, i % 28 + 1, i % 997);
		make_id(first, id);
		o += (size_t)sprintf(csv + o, "%s,张%s,1980-%02d-%02d\n", id,
		    i % 3 ? "三" : "山", i % 12 + 1, i % 28 + 1);
	}
	load("many.csv", csv, &L);
	free(csv);
	rules.threads = 1;
	one = rec_match(&L, NULL, &rules);
	rules.threads = 2;
	two = rec_match(&L, NULL, &rules);
	assert_true(one->n > 0);
	assert_int_equal(one->n, two->n);
	assert_memory_equal(one->pairs, two->pairs, one->n *
	    sizeof(*one->pairs));
	rec_result_free(one);
	rec_result_free(two);
	rec_set_free(&L);
}

static void
test_merge_plan(void **state)
{
	char a[19], b[19], csv[1024];
	struct rec_set S;
	struct rec_result *res;
	struct rec_merge *m;

	(void)state;
	make_id("11010519800101123", a);
	make_id("31010419700505222", b);
	snprintf(csv, sizeof(csv), "id,name,birth,from,to\n"
	    "%.6s%.9s,张三,1980-01-01,2001-01-01,2005-12-31\n"  /* 15 digits */
	    "%s,张三,1980-01-01,2006-01-01,2010-12-31\n"
	    "%s,李四,1970-05-05,2001-01-01,2009-12-31\n"
	    "%s,李四,1970-05-05,2008-01-01,\n", a, a + 8, a, b, b);
	load("merge.csv", csv, &S);
	res = rec_match(&S, NULL, &rules);
	m = rec_merge_plan(&S, res);
	assert_int_equal(m->n, 2);
	assert_int_equal(m->nauto, 1);
	assert_int_equal(m->ndouble, 1);
	assert_int_equal(m->c[0].kind, MERGE_AUTO);
	/* The 18-digit record survives. */
	assert_int_equal(m->c[0].members[0], 1);
	assert_int_equal(m->c[1].kind, MERGE_DOUBLE_ENROLMENT);
	rec_merge_free(m);
	rec_result_free(res);
	rec_set_free(&S);
}

static void
test_crosscheck_amounts(void **state)
{
	char a[19], b[19], csv[1024];
	struct rec_set R, D, P;
	struct rec_result *res;
	struct rec_crosscheck cc = { 0 };

	(void)state;
	make_id("11010519500101123", a);
	make_id("31010419450505222", b);
	snprintf(csv, sizeof(csv), "id,name,birth,amount,from,to,benefit\n"
	    "%s,张三,1950-01-01,3000.00,2026-01-15,2026-10-15,养老\n"
	    "%s,李四,1945-05-05,2000.00,2026-01-15,2026-10-15,养老\n", a, b);
	load("rcp.csv", csv, &R);
	snprintf(csv, sizeof(csv), "id,name,birth,from\n"
	    "%s,张三,1950-01-01,2026-06-20\n", a);
	load("death.csv", csv, &D);
	snprintf(csv, sizeof(csv), "id,name,birth,from,to\n"
	    "%s,张三,1950-01-01,2026-08-01,2030-01-01\n"
	    "%s,李四,1945-05-05,2000-01-01,2003-01-01\n", a, b);
	load("prison.csv", csv, &P);
	res = rec_match(&R, &D, &rules);
	rec_crosscheck_add(&cc, &R, &D, REG_DEATH, res);
	rec_result_free(res);
	res = rec_match(&R, &P, &rules);
	rec_crosscheck_add(&cc, &R, &P, REG_PRISON, res);
	rec_result_free(res);
	rec_crosscheck_finish(&cc, &R);
	/* 张三 once, with both reasons; 李四's sentence ended long before. */
	assert_int_equal(cc.n, 1);
	assert_int_equal(cc.c[0].rec, 0);
	assert_int_equal(cc.c[0].nhits, 2);
	assert_true(cc.c[0].exact);
	/* Paid 07-15 .. 10-15 after the death: four payments, once each
	 * though the sentence covers two of them too. */
	assert_int_equal(cc.c[0].payments_at_risk, 4);
	assert_int_equal(cc.c[0].amount_at_risk, 4 * 300000);
	assert_int_equal(cc.total_at_risk, 4 * 300000);
	assert_int_equal(cc.c[0].next_payment, rec_date_parse("2026-11-15",
	    10));
	rec_crosscheck_clear(&cc);
	rec_set_free(&R);
	rec_set_free(&D);
	rec_set_free(&P);
}

static void
test_malformed_file(void **state)
{
	struct rec_set S;
	struct err e;
	char *path;
	static const struct rec_spec spec = { .encoding = "UTF-8",
	    .delimiter = ',' };

	(void)state;
	path = write_file("bad.csv", "id,name\n110105194912310021,张三\n"
	    "1,2,3\n");
	assert_int_equal(rec_set_load(path, &spec, &rules, &S, &e), -1);
	assert_non_null(strstr(e.msg, "bad.csv:3:"));
	rec_set_free(&S);
	free(path);
	path = write_file("nocol.csv", "身份证,name\n1,2\n");
	assert_int_equal(rec_set_load(path, &spec, &rules, &S, &e), -1);
	assert_non_null(strstr(e.msg, "nocol.csv:1:"));
	rec_set_free(&S);
	free(path);
}

/* A file over 8 MB without quotes is read in two halves on two threads:
 * the result must be the one-thread result, record for record. */
static void
test_split_read_same_result(void **state)
{
	static const struct rec_spec spec = { .encoding = "UTF-8",
	    .delimiter = ',', .col = { [RC_BENEFIT] = NULL } };
	struct rec_set one, two;
	struct err e;
	char *path = xasprintf("%s/big.csv", tmpdir), id[19], first[18];
	FILE *f = fopen(path, "w");

	(void)state;
	assert_non_null(f);
	fprintf(f, "id,name,birth,benefit,amount,from,to\n");
	for (int i = 0; i < 120000; i++) {
		snprintf(first, sizeof(first), "3101041970%02d%02d%03d",
		    i % 12 + 1, i % 28 + 1, i % 1000);
		make_id(first, id);
		if (i % 97 == 0)
			id[17] = id[17] == '0' ? '1' : '0';   /* an issue */
		fprintf(f, "%s,%s%s,1970-%02d-%02d,%s,%d.00,2020-01-15,"
		    "2026-10-15\n", id, i % 2 ? "王" : "李", i % 3 ? "芳" :
		    "建国", i % 12 + 1, i % 28 + 1, i % 5 == 0 ? "失业保险金" :
		    "基本养老金", 1000 + i % 500);
	}
	assert_true(ftell(f) > 8 << 20);   /* big enough to be split */
	fclose(f);
	rec_rules_default(&rules);
	rules.today = 20261123;
	rules.threads = 1;
	assert_int_equal(rec_set_load(path, &spec, &rules, &one, &e), 0);
	rules.threads = 2;
	assert_int_equal(rec_set_load(path, &spec, &rules, &two, &e), 0);
	assert_int_equal(one.n, 120000);
	assert_int_equal(two.n, one.n);
	assert_int_equal(two.names_len, one.names_len);
	assert_memory_equal(two.names, one.names, one.names_len);
	for (size_t i = 0; i < one.n; i++) {
		assert_memory_equal(&two.r[i], &one.r[i], offsetof(struct
		    rec_record, benefit));
		assert_string_equal(two.benefits[two.r[i].benefit],
		    one.benefits[one.r[i].benefit]);
		assert_int_equal(two.r[i].amount, one.r[i].amount);
	}
	assert_int_equal(two.nissues, one.nissues);
	assert_true(one.nissues > 1000);
	for (size_t i = 0; i < one.nissues; i++) {
		assert_int_equal(two.issues[i].rec, one.issues[i].rec);
		assert_int_equal(two.issues[i].line, one.issues[i].line);
	}
	/* A malformed row in the second half names its own line. */
	rec_set_free(&two);
	f = fopen(path, "a");
	fprintf(f, "1,2\n");
	fclose(f);
	assert_int_equal(rec_set_load(path, &spec, &rules, &two, &e), -1);
	assert_non_null(strstr(e.msg, "big.csv:120002:"));
	rec_set_free(&one);
	rec_set_free(&two);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_normalise),
		cmocka_unit_test(test_name_normalise),
		cmocka_unit_test(test_pinyin_initials),
		cmocka_unit_test(test_pinyin_initials_all_hanzi),
		cmocka_unit_test(test_polyphonic_surnames),
		cmocka_unit_test(test_traditional_name_matches),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_scoring_components),
		cmocka_unit_test(test_sex_from_the_id),
		cmocka_unit_test(test_blocking),
		cmocka_unit_test(test_threads_same_result),
		cmocka_unit_test(test_merge_plan),
		cmocka_unit_test(test_crosscheck_amounts),
		cmocka_unit_test(test_malformed_file),
		cmocka_unit_test(test_split_read_same_result),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
