/*-------------------------------------------------------------------------
 *
 * test_main.c
 *	  Entry point of the pg_privacy C unit tests (test/unit): runs the
 *	  crypto, FF1 and E.164 groups and prints the closing count line.
 *
 * These tests need only libcrypto: the primitives under test have no
 * PostgreSQL dependency.  Exit status is non-zero if any check failed.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "unit.h"

int			unit_passed = 0;
int			unit_failed = 0;
int			group_passed = 0;
int			group_failed = 0;
static const char *group_name = NULL;

/*
 * group_begin
 *		Reset the per-group counters and remember the group's name.
 */
void
group_begin(const char *name)
{
	group_name = name;
	group_passed = 0;
	group_failed = 0;
}

/*
 * group_end
 *		Print one line for the group, so a reader sees which area broke.
 */
void
group_end(void)
{
	if (group_failed == 0)
		printf("ok    %s (%d checks)\n", group_name, group_passed);
	else
		printf("FAIL  %s (%d of %d checks failed)\n", group_name,
			   group_failed, group_passed + group_failed);
	fflush(stdout);
}

/*
 * hex_to_bytes
 *		Decode a hex string for test vectors; stops at cap bytes.
 */
size_t
hex_to_bytes(const char *hex, unsigned char *buf, size_t cap)
{
	size_t		n = 0;

	while (hex[0] != '\0' && hex[1] != '\0' && n < cap)
	{
		unsigned int v;

		if (sscanf(hex, "%2x", &v) != 1)
			break;
		buf[n++] = (unsigned char) v;
		hex += 2;
	}
	return n;
}

/*
 * main
 *		Run every group; exit 1 if anything failed.
 */
int
main(void)
{
	test_crypto();
	test_ff1();
	test_e164();
	printf("unit: %d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed == 0 ? 0 : 1;
}
