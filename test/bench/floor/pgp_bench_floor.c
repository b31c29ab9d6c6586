/*-------------------------------------------------------------------------
 *
 * pgp_bench_floor.c
 *	  The executor's floor for `make bench`: a C function with the
 *	  signature of privacy.pseudonymize(text, text) that does nothing but
 *	  return its first argument.  Pseudonymization is measured against it
 *	  to show what the cryptography itself costs per row.  Built and
 *	  installed by the bench door only; not part of the extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(pgp_bench_noop);

/* noop(value text, domain text): returns value untouched. */
Datum
pgp_bench_noop(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}
