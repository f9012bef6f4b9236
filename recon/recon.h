/*
 * recon.h - fund reconciliation (社保基金财务对账): bank statements against
 * the finance ledger of the same account.
 *
 * Parsers (CSV with a column mapping and encoding, ISO 20022 CAMT.053,
 * SWIFT MT940) fill a struct recon_side; the matcher pairs bank lines with
 * ledger lines in passes, most precise first, never guessing between equal
 * candidates; the proof checks balances and the 余额调节表; the writers
 * produce JSON, CSV and a printable HTML report.
 *
 * Amounts are integer minor units (fen), never floating point. Every
 * amount is signed from the account's point of view on both sides:
 * positive = money into the account, negative = money out of it.
 */
#ifndef CLERK_RECON_H
#define CLERK_RECON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libconfig.h>

#include "util.h"

/* Days since 1970-01-01 (a calendar date, no time zone). */
typedef int32_t recon_day;

/*
 * Strings of a side live in its arena: one allocation per many lines,
 * because a province's statement has millions of them.
 */
struct recon_arena {
	struct recon_chunk *head;
};

char *recon_arena_strdup(struct recon_arena *a, const char *s, size_t len);
void recon_arena_free(struct recon_arena *a);

struct recon_line {
	int64_t amount;          /* minor units, + in, - out */
	recon_day date;          /* booking date */
	recon_day value_date;    /* 0 if none */
	const char *ref;         /* reference as written (arena), "" if none */
	const char *ref_norm;    /* normalised: upper case, half width, no separators */
	const char *counterparty;
	const char *text;        /* remittance information / 摘要 */
	const char *batch;       /* batch id (CAMT Btch / ledger batch no.), "" if none */
	int batch_count;         /* parts the batch declares, 0 if unknown */
	bool reversal;           /* RvslInd / RC / RD / 冲正 */
	uint32_t src_line;       /* line (CSV, MT940) or element line (CAMT) */
	uint16_t src_file;       /* index into recon_side.files */
};

struct recon_side {
	char *account;           /* account number as in the file(s) */
	char currency[4];        /* "CNY" */
	bool has_opening, has_closing;
	int64_t opening, closing;
	recon_day period_from, period_to;   /* 0 if the file does not say */
	char **files;            /* source paths, for messages */
	size_t nfiles;
	struct recon_line *lines;
	size_t n, cap;
	struct recon_arena arena;
};

void recon_side_free(struct recon_side *s);
/* Appends a line (copied); strings must already be in s->arena. */
struct recon_line *recon_side_add(struct recon_side *s);

/* How a CSV export maps to lines (from the rules). */
enum recon_sign { SIGN_AMOUNT, SIGN_DEBIT_CREDIT, SIGN_FLAG };

struct recon_csv_spec {
	char encoding[16];       /* "UTF-8" (default), "GBK", "GB18030" */
	char delimiter;          /* default ',' */
	int header_rows;         /* rows before the data; the last one names columns */
	char *skip_pattern;      /* PCRE2-free: a row whose first cell starts with this is skipped (e.g. "合计") */
	char *date_format;       /* strptime format, default "%Y-%m-%d" */
	/* Column names (matched against the header row) or 1-based numbers as text. */
	char *col_date, *col_value_date, *col_amount, *col_debit, *col_credit,
	    *col_flag, *col_ref, *col_counterparty, *col_text, *col_batch,
	    *col_account, *col_balance;
	enum recon_sign sign;
	char *flag_in;           /* SIGN_FLAG: the flag value meaning money in, e.g. "贷" */
	bool negate;             /* the export's sign is the other way round */
	/* Borrowed from recon_rules.expect_account by recon_rules_load, so
	 * recon_parse_file refuses a file for another account; NULL = any. */
	const char *expect_account;
};

struct recon_rules {
	struct recon_csv_spec bank_csv, ledger_csv;
	int window_before, window_after;  /* days: ledger date - bank date in [-before, +after] */
	int subset_max_parts;             /* parts in one batch match, default 8 */
	int subset_max_candidates;        /* candidates considered per batch, default 30 */
	int64_t fee_tolerance;            /* minor units, 0 = no tolerance pass */
	bool reversals;                   /* default true */
	bool duplicates;                  /* default true */
	char *expect_account;             /* refuse files for another account, NULL = any */
};

void recon_rules_default(struct recon_rules *r);
/* Reads a rules group (in a playbook step or a rules file); file:line errors. */
int recon_rules_load(const config_setting_t *g, struct recon_rules *r,
    struct err *e);
int recon_rules_load_file(const char *path, struct recon_rules *r,
    struct err *e);
void recon_rules_clear(struct recon_rules *r);

/*
 * Reads one statement or ledger file into side (appending, so several
 * files make one side). The format is told by content: XML with a
 * camt.053 namespace, MT940 tags (":20:", ":25:"), otherwise CSV with
 * spec. Errors name the file, the line or element, and what is wrong.
 */
int recon_parse_file(const char *path, const struct recon_csv_spec *spec,
    struct recon_side *side, struct err *e);

/*
 * A reference for comparison: upper case, full-width ASCII made half
 * width, spaces and '-', '/', '_', '.' dropped; in a's memory. The matcher
 * normalises the same way.
 */
const char *recon_ref_normalise(struct recon_arena *a, const char *ref,
    size_t len);

/*
 * Shared with records/ (record matching reads the same exports):
 * the whole file made UTF-8 (checked when encoding is "" or "UTF-8",
 * converted with iconv otherwise), NUL-terminated and writable; free()
 * it. Errors name the file and the line of a bad byte.
 */
char *recon_read_text(const char *path, const char *encoding, size_t *len,
    struct err *e);

/* An RFC 4180 reader over such a buffer: cells are unquoted in place. */
#define RECON_CSV_MAX_CELLS 256

struct recon_cell {
	char *s;
	size_t len;
};

struct recon_csv {
	const char *path;
	char *p, *end;
	char delim;
	unsigned line;           /* line of p */
	struct recon_cell cells[RECON_CSV_MAX_CELLS];
	int n;
	struct err *e;
};

/* Skips a UTF-8 BOM; delim 0 means ','. */
void recon_csv_init(struct recon_csv *x, const char *path, char *buf,
    size_t len, char delim, struct err *e);
/* Reads one record into x->cells (trimmed), its first line in *line;
 * 0 at the end, 1 with a record, -1 on a broken one (x->e says where). */
int recon_csv_next(struct recon_csv *x, unsigned *line);

/* Internal to recon_parse_file and its per-format parsers (parse*.c). */

/* What one file says about its statement; merged into the side. */
struct recon_stmt {
	char *account;           /* malloc'd, NULL if the file does not say */
	char currency[4];
	bool has_opening, has_closing;
	int64_t opening, closing;
	recon_day period_from, period_to;
};

/* Sets e to "PATH:LINE: message" (ERR_INVALID) and returns -1. */
int recon_errf(struct err *e, const char *path, unsigned line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* "1,234.56", "-12.3", "(5.00)", "1234" or, with decimal ',', "1234,56"
 * -> minor units (2 decimals, never rounded); -1 if not an amount. */
int recon_amount_parse(const char *s, size_t len, char decimal, int64_t *out);
/* A valid calendar date -> days; -1 if not one. */
recon_day recon_day_ymd(int y, int m, int d);
/* Sets l->ref (copied) and l->ref_norm, sharing the copy when equal. */
void recon_line_set_ref(struct recon_arena *a, struct recon_line *l,
    const char *ref, size_t len);
/* buf is the whole file, NUL-terminated and writable (CSV unquotes in
 * place); lines are appended to side, which has the file registered. */
int recon_parse_csv(const char *path, char *buf, size_t len,
    const struct recon_csv_spec *spec, struct recon_side *side,
    struct recon_stmt *st, struct err *e);
int recon_parse_camt(const char *path, const char *buf, size_t len,
    struct recon_side *side, struct recon_stmt *st, struct err *e);
int recon_parse_mt940(const char *path, char *buf, size_t len,
    struct recon_side *side, struct recon_stmt *st, struct err *e);

/*
 * Reads the statement files into bank and the ledger export into ledger,
 * the two sides at once on two threads, then checks they belong together
 * (recon_check_sides).
 */
int recon_parse_pair(const char *const *banks, int nbank, const char *ledger,
    const struct recon_rules *r, struct recon_side *bank,
    struct recon_side *ledger_side, struct err *e);

/*
 * Refuses a statement and a ledger that do not share a single day (with
 * the date window's slack): files of different periods.
 */
int recon_check_sides(const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_rules *r,
    struct err *e);

enum recon_match_kind {
	MATCH_REFERENCE,         /* pass 1 */
	MATCH_AMOUNT_DATE,       /* pass 2 */
	MATCH_BATCH,             /* pass 3: one bank line = several ledger lines, or the reverse */
	MATCH_REVERSAL,          /* pass 4: a line and its reversal on the same side cancel */
	MATCH_TOLERANCE,         /* pass 5: amounts differ within fee_tolerance */
	MATCH_MANUAL,            /* remembered from a reviewer */
};

enum recon_diff_kind {
	DIFF_BANK_IN_NOT_BOOKED,     /* bank received, not in the ledger */
	DIFF_BANK_OUT_NOT_BOOKED,    /* bank paid, not in the ledger */
	DIFF_BOOKED_IN_NOT_BANK,     /* booked receipt, not on the statement */
	DIFF_BOOKED_OUT_NOT_BANK,    /* booked payment, not on the statement */
	DIFF_AMBIGUOUS,              /* two or more equally good candidates */
	DIFF_DUPLICATE,              /* the same bank line twice (overlapping files) */
	DIFF_FEE,                    /* matched within tolerance; the difference */
	DIFF_BALANCE,                /* opening + movements != closing on a side */
};

struct recon_match {
	enum recon_match_kind kind;
	uint32_t *bank, *ledger;     /* indices into the sides' lines */
	uint32_t nbank, nledger;
	int64_t difference;          /* bank total - ledger total (tolerance) */
};

struct recon_diff {
	enum recon_diff_kind kind;
	uint32_t line;               /* index on its side (bank for DIFF_BANK_*,
	                                DIFF_AMBIGUOUS and DIFF_DUPLICATE; ledger
	                                for DIFF_BOOKED_*) */
	bool on_bank;
	int64_t amount;
	uint32_t *candidates;        /* other side's indices, for DIFF_AMBIGUOUS */
	uint32_t ncandidates;
	char message[256];
};

struct recon_result {
	struct recon_match *matches;
	size_t nmatches;
	struct recon_diff *diffs;
	size_t ndiffs;
	/* 余额调节表 */
	int64_t book_balance, bank_balance;
	int64_t bank_in_not_booked, bank_out_not_booked;
	int64_t booked_in_not_bank, booked_out_not_bank;
	int64_t adjusted_book, adjusted_bank;
	bool ties;                   /* adjusted_book == adjusted_bank */
	bool bank_proves, ledger_proves;   /* opening + movements == closing */
};

/* A reviewer's match, remembered for the next run (by references and amounts). */
struct recon_manual {
	const char *bank_ref;
	int64_t bank_amount;
	recon_day bank_date;
	const char *ledger_ref;
	int64_t ledger_amount;
	recon_day ledger_date;
};

struct recon_result *recon_match(const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_rules *r,
    const struct recon_manual *manual, size_t nmanual);
void recon_result_free(struct recon_result *res);

const char *recon_diff_kind_name(enum recon_diff_kind k);
const char *recon_match_kind_name(enum recon_match_kind k);

/* result.json, differences.csv and report.html in dir (created). */
int recon_write_outputs(const char *dir, const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_result *res,
    struct err *e);
/* The summary and every difference as JSON (for step outputs, escalations). */
json_t *recon_result_json(const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_result *res);

/* Minor units as yuan: "-1234.56", or "-1,234.56" with groups. */
void recon_amount_format(int64_t v, bool groups, char *buf, size_t len);

/* "2026-11-23" -> days; -1 if not a date. */
recon_day recon_day_parse(const char *s);
void recon_day_format(recon_day d, char out[11]);

#endif
