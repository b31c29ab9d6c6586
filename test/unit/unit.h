/*-------------------------------------------------------------------------
 *
 * unit.h
 *	  Minimal check harness shared by the C unit tests of pg_privacy.
 *
 * Checks are counted per group; each group prints one line and main()
 * prints the closing "unit: N passed, M failed" line.  A failing check
 * prints where it is and what it checked, never key material.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_UNIT_H
#define PGP_UNIT_H

#include <stdio.h>

extern int	unit_passed;
extern int	unit_failed;
extern int	group_passed;
extern int	group_failed;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
		{ \
			unit_passed++; \
			group_passed++; \
		} \
		else \
		{ \
			unit_failed++; \
			group_failed++; \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

/* Start a group of checks. */
extern void group_begin(const char *name);

/* Print the group's line ("ok" or "FAIL" with counts). */
extern void group_end(void);

/* Parse a hex string into buf (at most cap bytes); returns its length. */
extern size_t hex_to_bytes(const char *hex, unsigned char *buf, size_t cap);

/* Test groups, one file each. */
extern void test_crypto(void);
extern void test_ff1(void);
extern void test_e164(void);

#endif							/* PGP_UNIT_H */
