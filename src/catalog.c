/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The personal-data catalog's view of DDL: which column a command renamed.
 *
 * Several catalog tables name a column of a user's table by its name:
 * registered_column.col, retention_policy.time_column,
 * consent_requirement.col and the period and link columns of
 * subject_table.  Names are what survive pg_dump and pg_restore, so they
 * are the right key; but ALTER TABLE ... RENAME COLUMN must carry every one
 * of them along, or a declaration silently stops describing the table.
 *
 * One event trigger (privacy_internal._on_ddl_end, src/sql/20_catalog.sql) follows
 * renames for all of them.  It asks privacy_internal._renamed_column() for each
 * collected command: the command's own parse tree says which relation,
 * which old name and which new name, so nothing is guessed from attribute
 * numbers and no catalog table needs a copy of them for this.  The SQL
 * side (privacy_internal._follow_column_rename) updates every catalog table that
 * names columns, in one place, and audits what it changed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pgp_renamed_column);

/*
 * _renamed_column(pg_ddl_command) -> (relid regclass, old_name name,
 * new_name name), or no row when the command is not ALTER TABLE ... RENAME
 * COLUMN (or ALTER FOREIGN TABLE ..., ALTER VIEW ..., whose columns the
 * catalog may also name).  The argument is what
 * pg_event_trigger_ddl_commands() returns, valid only inside the
 * ddl_command_end event trigger that called it.
 */
Datum
pgp_renamed_column(PG_FUNCTION_ARGS)
{
	CollectedCommand *cmd = (CollectedCommand *) PG_GETARG_POINTER(0);
	RenameStmt *stmt;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	NameData	oldname;
	NameData	newname;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (cmd == NULL || cmd->type != SCT_Simple || cmd->parsetree == NULL ||
		!IsA(cmd->parsetree, RenameStmt))
		PG_RETURN_NULL();
	stmt = (RenameStmt *) cmd->parsetree;
	if (stmt->renameType != OBJECT_COLUMN ||
		cmd->d.simple.address.classId != RelationRelationId ||
		!OidIsValid(cmd->d.simple.address.objectId) ||
		stmt->subname == NULL || stmt->newname == NULL)
		PG_RETURN_NULL();

	namestrcpy(&oldname, stmt->subname);
	namestrcpy(&newname, stmt->newname);
	values[0] = ObjectIdGetDatum(cmd->d.simple.address.objectId);
	values[1] = NameGetDatum(&oldname);
	values[2] = NameGetDatum(&newname);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
