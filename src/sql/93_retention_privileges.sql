-- Privileges of retention.  90_privileges.sql revoked every function,
-- table and sequence of the schema from PUBLIC; procedures are not
-- functions there, so run_purge is revoked here.  Nothing of retention is
-- granted to PUBLIC: a DBA grants (README, "Security model"):
--   policies and holds:  set_retention, drop_retention, hold, release_hold
--   purging:             purge, and for run_purge also its steps
--                        _purge_begin, _purge_batch, _purge_end
--   scheduling:          schedule_purge, unschedule_purge

REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;
