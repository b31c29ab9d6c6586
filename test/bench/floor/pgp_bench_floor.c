/*-------------------------------------------------------------------------
 *
 * pgp_bench_floor.c
 *	  The executor's floor for `make bench`: a C function with the
 *	  signature of privacy.pseudonymize(text, text) that does nothing but
 *	  return its first argument.  Pseudonymization is measured against it
 *	  to show what the cryptography itself costs per row.  And a BEFORE
 *	  ROW trigger function that returns the row untouched: the floor of
 *	  any row trigger (COPY inserts row by row under one).  Built and
 *	  installed by the bench door only; not part of the extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(pgp_bench_noop);

/* noop(value text, domain text): returns value untouched. */
Datum
pgp_bench_noop(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

PG_FUNCTION_INFO_V1(pgp_bench_noop_trigger);

/* A BEFORE ROW trigger that returns the row it was given. */
Datum
pgp_bench_noop_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "pgp_bench_noop_trigger: not called as a trigger");
	PG_RETURN_POINTER(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
}
