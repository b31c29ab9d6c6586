# The retention purge on tables Citus manages (make test-citus): expired
# partitions of a distributed, partitioned CDR table dropped through the
# coordinator, expired rows of a distributed table and of a reference table
# deleted in batches, legal holds respected, the dry run's counts those of
# the purge, every receipt in the coordinator's audit chain.  Checked on a
# coordinator and two workers, the tables owned by a role without special
# rights (the purge runs its statements as the owner), what the shards hold
# read on the shards themselves (run_command_on_shards), before and after a
# shard move; an owner's own trigger on her shards runs with her rights.  An
# anonymizing purge generalizes and empties rows on the shards, and is
# refused (0A000) where it would change the distribution column or would
# have to leave a restricted subject's rows out.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use CitusCluster;

my ($coord, $w1, $w2) = CitusCluster::start();
sub refuses { return CitusCluster::refuses(@_); }
sub q1 { return $coord->safe_psql('postgres', $_[0]); }

my $held = '+4520000007';

# --- the tables, owned by billing --------------------------------------------

q1(q{
CREATE ROLE billing LOGIN;
GRANT USAGE, CREATE ON SCHEMA telco TO billing;
SET ROLE billing;
-- 24 monthly partitions, the oldest 23 months back; the CDRs distributed by
-- A-number, the B-number protected
CREATE TABLE telco.dcdr (cdr_id bigint NOT NULL, a_number text NOT NULL, b_number text,
                         started_at timestamptz NOT NULL, duration_s integer,
                         PRIMARY KEY (a_number, cdr_id, started_at)) PARTITION BY RANGE (started_at);
DO $$
DECLARE m timestamptz;
BEGIN
  FOR i IN 0..23 LOOP
    m := date_trunc('month', now()) - make_interval(months => 23 - i);
    EXECUTE format('CREATE TABLE telco.dcdr_%s PARTITION OF telco.dcdr FOR VALUES FROM (%L) TO (%L)',
                   i, m, m + interval '1 month');
  END LOOP;
END $$;
SELECT create_distributed_table('telco.dcdr', 'a_number');
CREATE TABLE telco.usage (id bigint PRIMARY KEY, msisdn text NOT NULL, at timestamptz NOT NULL, bytes bigint);
SELECT create_distributed_table('telco.usage', 'id');
CREATE TABLE telco.topup (id bigint PRIMARY KEY, msisdn text NOT NULL, at date NOT NULL, amount numeric);
SELECT create_reference_table('telco.topup');
RESET ROLE;
-- billing writes and reads the protected B-numbers: the domain is granted
SELECT privacy.grant_domain('default', 'billing');
SELECT privacy.register_table('telco.dcdr', 'traffic');
SELECT privacy.register_column('telco.dcdr', 'a_number', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('telco.dcdr', 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.dcdr');
SELECT privacy.register_table('telco.usage', 'traffic');
SELECT privacy.register_column('telco.usage', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.register_table('telco.topup', 'billing');
SELECT privacy.register_column('telco.topup', 'msisdn', 'phone', identifies => 'msisdn');
SET ROLE billing;
-- a row a day over the 24 months for 400 numbers; the held number calls in
-- some months only
INSERT INTO telco.dcdr (cdr_id, a_number, b_number, started_at, duration_s)
SELECT g, '+4520' || lpad((g % 400)::text, 6, '0'), '+4530' || lpad((g % 777)::text, 6, '0'),
       date_trunc('month', now()) - interval '23 months' + (g % 720) * interval '1 day' + interval '1 hour', g % 600
  FROM generate_series(1, 20000) g
 WHERE g % 400 <> 7 OR (g % 720) BETWEEN 60 AND 150;
INSERT INTO telco.usage SELECT g, '+4520' || lpad((g % 400)::text, 6, '0'), now() - (g % 500) * interval '1 day', g
  FROM generate_series(1, 6000) g;
INSERT INTO telco.topup SELECT g, '+4520' || lpad((g % 400)::text, 6, '0'), current_date - (g % 900), g % 50
  FROM generate_series(1, 3000) g;
});
is(q1(q{SELECT string_agg(logicalrelid::text || ':' || partmethod::text, ',' ORDER BY logicalrelid::text) FROM pg_dist_partition
         WHERE logicalrelid::text IN ('telco.dcdr', 'telco.usage', 'telco.topup')}),
	'telco.dcdr:h,telco.topup:n,telco.usage:h', 'a distributed partitioned table, a distributed table, a reference table');

# --- policies ------------------------------------------------------------------

my $err = refuses($coord, q{SELECT privacy.set_retention('telco.dcdr', 'started_at', '12 months', action => 'anonymize')},
	'0A000', 'an anonymizing policy is refused on a table whose distribution column it would change (the A-number)');
like($err, qr/would change column "a_number" of telco.dcdr, its distribution column/, '... and says why');
q1(q{SELECT privacy.set_retention('telco.topup', 'at', '2 years', action => 'anonymize')});
is(q1(q{SELECT action FROM privacy.retention_policy WHERE tbl = 'telco.topup'::regclass}), 'anonymize',
	'an anonymizing policy is accepted on a reference table (no distribution column)');
q1(q{
SELECT privacy.set_retention('telco.dcdr', 'started_at', '12 months', align => 'month');
SELECT privacy.set_retention('telco.usage', 'at', '6 months');
SELECT privacy.set_retention('telco.topup', 'at', '2 years');
});
is(q1(q{SELECT count(*) FROM privacy.retention_policy}), '3', 'deleting policies on all three');

q1(qq{SELECT privacy.hold('msisdn', '$held', 'dispute 2291')});

# What the purge must do, computed here: the expired partitions without a
# held row, and the expired rows outside them that are not held.
my $cut = q1(q{SELECT date_trunc('month', now() - interval '12 months')});
my $expired_parts = q1(qq{
SELECT count(*) FROM generate_series(0, 23) i
 WHERE date_trunc('month', now()) - make_interval(months => 22 - i) <= '$cut'});
my $held_parts = q1(qq{
SELECT count(DISTINCT date_trunc('month', started_at)) FROM telco.dcdr
 WHERE a_number = '$held' AND started_at < '$cut'});
my $dropped_rows = q1(qq{
SELECT count(*) FROM telco.dcdr WHERE started_at < '$cut'
   AND date_trunc('month', started_at) NOT IN (SELECT DISTINCT date_trunc('month', started_at) FROM telco.dcdr
                                                WHERE a_number = '$held' AND started_at < '$cut')});
my $batch_rows = q1(qq{
SELECT count(*) FROM telco.dcdr WHERE started_at < '$cut' AND a_number <> '$held'
   AND date_trunc('month', started_at) IN (SELECT DISTINCT date_trunc('month', started_at) FROM telco.dcdr
                                            WHERE a_number = '$held' AND started_at < '$cut')});
my $held_rows = q1(qq{SELECT count(*) FROM telco.dcdr WHERE started_at < '$cut' AND a_number = '$held'});
cmp_ok($held_parts, '>', 0, 'the held number has rows in some expired partitions');
cmp_ok($held_parts, '<', $expired_parts, '... not in all of them');

# --- the dry run ----------------------------------------------------------------

is(q1(q{SELECT rows || '/' || partitions FROM privacy.purge(dry_run => true, tbl => 'telco.dcdr')}),
	"$batch_rows/" . ($expired_parts - $held_parts),
	'dry run: the expired partitions without a held row, and the other expired rows that are not held');
my $usage_rows = q1(qq{SELECT count(*) FROM telco.usage WHERE at < now() - interval '6 months' AND msisdn <> '$held'});
is(q1(q{SELECT rows FROM privacy.purge(dry_run => true, tbl => 'telco.usage')}), $usage_rows,
	'dry run of the distributed table');
my $topup_rows = q1(qq{SELECT count(*) FROM telco.topup WHERE at < (now() - interval '2 years')::date AND msisdn <> '$held'});
is(q1(q{SELECT rows FROM privacy.purge(dry_run => true, tbl => 'telco.topup')}), $topup_rows,
	'dry run of the reference table');
is(q1(q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'telco.dcdr'::regclass}), '24', 'the dry run dropped nothing');

# --- the purge ------------------------------------------------------------------

my $audit_before = q1(q{SELECT max(id) FROM privacy.audit_log});
q1(q{CALL privacy.run_purge(batch_size => 500)});
is(q1(q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'telco.dcdr'::regclass}),
	24 - ($expired_parts - $held_parts), 'the expired partitions without a held row are dropped');
is(q1(q{SELECT sum(result::int) = (SELECT count(*) FROM pg_inherits WHERE inhparent = 'telco.dcdr'::regclass)
                                  * (SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'telco.dcdr'::regclass)
          FROM run_command_on_workers($$SELECT count(*) FROM pg_class WHERE relname ~ '^dcdr_[0-9]+_[0-9]+$' AND relkind = 'r'$$)}), 't',
	'... with their shards on the workers');
is(q1(qq{SELECT count(*) FROM telco.dcdr WHERE started_at < '$cut'}), $held_rows,
	'of the expired CDRs only the held number\'s remain');
is(q1(qq{SELECT sum(result::int) FROM run_command_on_shards('telco.dcdr',
          \$\$SELECT count(*) FROM %s WHERE started_at < '$cut' AND a_number <> '$held'\$\$)}), '0',
	'... as the shards themselves hold');
is(q1(qq{SELECT count(*) FROM telco.usage WHERE at < now() - interval '6 months'}),
	q1(qq{SELECT count(*) FROM telco.usage WHERE at < now() - interval '6 months' AND msisdn = '$held'}),
	'the distributed table: only the held rows remain expired');
is(q1(qq{SELECT sum(result::int) FROM run_command_on_shards('telco.usage',
          \$\$SELECT count(*) FROM %s WHERE at < now() - interval '6 months' AND msisdn <> '$held'\$\$)}), '0',
	'... on its shards');
is(q1(qq{SELECT string_agg(result, ',') FROM run_command_on_placements('telco.topup',
          \$\$SELECT count(*) FROM %s WHERE at < (now() - interval '2 years')::date AND msisdn <> '$held'\$\$)}), '0,0,0',
	'the reference table: on every placement, the coordinator\'s included');
cmp_ok(q1(qq{SELECT count(*) FROM telco.topup WHERE msisdn = '$held' AND at < (now() - interval '2 years')::date}), '>', 0,
	'... the held rows kept');

is(q1(qq{SELECT string_agg(object || ':' || (detail->>'rows') || ':' || (detail->>'partitions'), ',' ORDER BY object)
           FROM privacy.audit_log WHERE id > $audit_before AND event = 'retention.purge'}),
	"telco.dcdr:$batch_rows:" . ($expired_parts - $held_parts) . ",telco.topup:$topup_rows:0,telco.usage:$usage_rows:0",
	'a receipt per table in the coordinator\'s chain, with what the dry run said');
is($w1->safe_psql('postgres', 'SELECT count(*) FROM privacy.audit_log') . '/' .
   $w2->safe_psql('postgres', 'SELECT count(*) FROM privacy.audit_log'), '0/0', 'none in a worker\'s');
is(q1(q{SELECT privacy.verify_audit_log() IS NULL}), 't', 'the chain verifies');
is(q1(q{SELECT count(*) FROM privacy.retention_progress}), '0', 'no purge left half done');

# the protection of the partitioned table is intact after its partitions went
q1(q{SET ROLE billing; INSERT INTO telco.dcdr VALUES (999999, '+4520999999', '+4531000001', now(), 1)});
is(q1(q{SELECT b_number = privacy.pseudonymize_msisdn('+4531000001') FROM telco.dcdr WHERE cdr_id = 999999}), 't',
	'a new row is still protected on its shard');

# --- a second run, after a shard move ------------------------------------------

# The shard of the distributed table that holds id 1 moves to the other
# worker; the expired rows written there after the move are purged too.
my ($shard, $from, $to) = split /\|/, q1(sprintf(q{
SELECT s.shardid, n.nodeport, CASE WHEN n.nodeport = %d THEN %d ELSE %d END
  FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
 WHERE s.logicalrelid = 'telco.usage'::regclass AND s.shardid = get_shard_id_for_distribution_column('telco.usage', 1)},
	$w1->port, $w2->port, $w1->port));
q1(qq{SELECT citus_move_shard_placement($shard, '127.0.0.1', $from, '127.0.0.1', $to, shard_transfer_mode => 'block_writes')});
is(q1(qq{SELECT n.nodeport FROM pg_dist_placement pl JOIN pg_dist_node n ON n.groupid = pl.groupid WHERE pl.shardid = $shard}),
	$to, 'a shard of the distributed table moved to the other worker');
q1(q{SET ROLE billing; INSERT INTO telco.usage SELECT 100000 + g, '+4520000123', now() - interval '1 year', g FROM generate_series(1, 300) g});
my $moved = q1(qq{SELECT count(*) FROM telco.usage WHERE id > 100000 AND get_shard_id_for_distribution_column('telco.usage', id) = $shard});
cmp_ok($moved, '>', 0, 'expired rows written to the moved shard');
q1(q{CALL privacy.run_purge(batch_size => 100)});
is(q1(q{SELECT count(*) FROM telco.usage WHERE id > 100000}), '0', 'the second run purges them, the moved shard\'s too');
is(q1(qq{SELECT sum(result::int) FROM run_command_on_shards('telco.usage',
          \$\$SELECT count(*) FROM %s WHERE at < now() - interval '6 months' AND msisdn <> '$held'\$\$)}), '0',
	'... as the shards hold');

# --- a hostile owner's trigger on the shards -----------------------------------

# The purge deletes as the table's owner, on the workers too: a trigger she
# puts on her shards runs with her rights, never with those of the
# superuser who runs the purge.
q1(q{ALTER SYSTEM SET citus.enable_unsafe_triggers = on; SELECT pg_reload_conf()});
q1(q{
SET ROLE billing;
CREATE TABLE telco.usage2 (id bigint PRIMARY KEY, msisdn text NOT NULL, at timestamptz NOT NULL);
SELECT create_distributed_table('telco.usage2', 'id');
INSERT INTO telco.usage2 SELECT g, '+4520000001', now() - interval '1 year' FROM generate_series(1, 10) g;
CREATE FUNCTION telco.grab() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'ALTER ROLE billing SUPERUSER';
  RETURN OLD;
END $$;
CREATE TRIGGER grab BEFORE DELETE ON telco.usage2 FOR EACH ROW EXECUTE FUNCTION telco.grab();
RESET ROLE;
SELECT privacy.register_table('telco.usage2', 'traffic');
SELECT privacy.register_column('telco.usage2', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.set_retention('telco.usage2', 'at', '6 months');
});
q1(q{ALTER SYSTEM RESET citus.enable_unsafe_triggers; SELECT pg_reload_conf()});
my ($hret, $hout, $herr) = $coord->psql('postgres', 'CALL privacy.run_purge()');
ok($hret != 0 && $herr =~ /must be superuser to alter superuser roles/,
	'an owner\'s trigger on her shards runs with her rights: the purge of her table fails') or diag($herr);
is(q1(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'billing'}) . '/' .
   q1(q{SELECT string_agg(result, ',') FROM run_command_on_workers($$SELECT rolsuper FROM pg_roles WHERE rolname = 'billing'$$)}),
	'f/f,f', '... and she is superuser on no node');
is(q1(q{SELECT count(*) FROM telco.usage2}), '10', '... her rows stay, for the next run');
is(q1(q{SELECT event FROM privacy.audit_log WHERE event LIKE 'retention.purge%' AND object = 'telco.usage2' ORDER BY id DESC LIMIT 1}),
	'retention.purge_failed', '... and the failure is audited');
q1(q{SET ROLE billing; DROP TABLE telco.usage2; DROP FUNCTION telco.grab()});

# --- an anonymizing purge ---------------------------------------------------------

# A distributed table whose distribution column holds no personal data (the
# cell) and a reference table: expired rows anonymized on the shards and on
# every placement, their times generalized in the policy's time zone with
# IMMUTABLE functions (as date_trunc with a time zone does on one server),
# the held number's rows left as they are.
q1(q{
SET ROLE billing;
CREATE TABLE telco.cell_event (id bigint, cell_id int NOT NULL, msisdn text, at timestamptz NOT NULL);
SELECT create_distributed_table('telco.cell_event', 'cell_id');
CREATE TABLE telco.contact (id bigint PRIMARY KEY, msisdn text, at timestamptz NOT NULL);
SELECT create_reference_table('telco.contact');
INSERT INTO telco.cell_event
SELECT g, g % 50, '+4520' || lpad((g % 397)::text, 6, '0'), now() - (g % 400) * interval '1 day' - interval '7 hours 13 minutes'
  FROM generate_series(1, 4000) g;
INSERT INTO telco.contact
SELECT g, '+4520' || lpad((g % 397)::text, 6, '0'), now() - (g % 400) * interval '1 day' - interval '5 hours'
  FROM generate_series(1, 800) g;
RESET ROLE;
SELECT privacy.register_table('telco.cell_event', 'traffic');
SELECT privacy.register_column('telco.cell_event', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.register_table('telco.contact', 'billing');
SELECT privacy.register_column('telco.contact', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.set_retention('telco.cell_event', 'at', '6 months', action => 'anonymize',
                             time_zone => 'Europe/Copenhagen', generalize => 'day');
SELECT privacy.set_retention('telco.contact', 'at', '6 months', action => 'anonymize',
                             time_zone => 'America/New_York', generalize => 'month');
});
my $ce_rows = q1(qq{SELECT count(*) FROM telco.cell_event WHERE at < now() - interval '6 months' AND msisdn <> '$held'});
my $ce_held = q1(qq{SELECT count(*) FROM telco.cell_event WHERE at < now() - interval '6 months' AND msisdn = '$held'});
my $ce_new = q1(q{SELECT count(*) FROM telco.cell_event WHERE at >= now() - interval '6 months'});
my $ct_rows = q1(qq{SELECT count(*) FROM telco.contact WHERE at < now() - interval '6 months' AND msisdn <> '$held'});
cmp_ok($ce_held, '>', 0, 'the held number has expired rows in the distributed table');
is(q1(q{SELECT string_agg(action || ':' || rows, ',' ORDER BY table_name::text) FROM privacy.purge(dry_run => true)
         WHERE table_name::text IN ('telco.cell_event', 'telco.contact')}),
	"anonymize:$ce_rows,anonymize:$ct_rows", 'dry run: the expired rows that are not held, to anonymize');
q1(q{CALL privacy.run_purge()});
is(q1(q{SELECT count(*) FROM telco.cell_event WHERE msisdn IS NULL}), $ce_rows,
	'the purge anonymized the expired rows of the distributed table');
is(q1(q{SELECT count(*) FROM telco.cell_event WHERE msisdn IS NULL AND at = date_trunc('day', at, 'Europe/Copenhagen')}),
	$ce_rows, '... their times generalized to the day in Copenhagen, as date_trunc with the time zone gives');
is(q1(q{SELECT sum(result::int) FROM run_command_on_shards('telco.cell_event',
         $$SELECT count(*) FROM %s WHERE msisdn IS NULL AND at = date_trunc('day', at, 'Europe/Copenhagen')$$)}),
	$ce_rows, '... on the shards themselves');
is(q1(qq{SELECT count(*) FROM telco.cell_event WHERE msisdn = '$held' AND at < now() - interval '6 months'}), $ce_held,
	'the held number\'s expired rows are left as they are');
is(q1(q{SELECT count(*) FROM telco.cell_event WHERE at >= now() - interval '6 months' AND msisdn IS NOT NULL}), $ce_new,
	'rows not expired are left as they are');
is(q1(q{SELECT string_agg(result, ',') FROM run_command_on_placements('telco.contact',
         $$SELECT count(*) FROM %s WHERE msisdn IS NULL AND at = date_trunc('month', at, 'America/New_York')$$)}),
	join(',', ($ct_rows) x 3), 'the reference table: every placement anonymized, months in New York');
is(q1(q{SELECT string_agg(object || ':' || (detail->>'action') || ':' || (detail->>'rows'), ',' ORDER BY object)
         FROM privacy.audit_log WHERE event = 'retention.purge' AND object IN ('telco.cell_event', 'telco.contact')}),
	"telco.cell_event:anonymize:$ce_rows,telco.contact:anonymize:$ct_rows", 'receipts in the coordinator\'s chain');
is(q1(q{SELECT string_agg(action || ':' || rows, ',' ORDER BY table_name::text) FROM privacy.purge(dry_run => true)
         WHERE table_name::text IN ('telco.cell_event', 'telco.contact')}),
	'anonymize:0,anonymize:0', 'a second dry run finds nothing left to anonymize');

# A subject restricted (GDPR Art. 18) before the tables were distributed:
# the anonymizing UPDATE could not leave her rows out on the shards, so the
# table's purge fails (0A000, audited) and changes nothing.
# (written by hand: restrict_subject refuses while Citus manages a
# registered table)
q1(q{
SET session_replication_role = replica;
INSERT INTO privacy.restriction (kind, subject_ref, reason, origin, restricted_by)
VALUES ('msisdn', privacy_internal._audit_ref('msisdn', '+4520000011'), 'contested accuracy', 'request', 'postgres');
RESET session_replication_role;
SET ROLE billing;
INSERT INTO telco.cell_event VALUES (90001, 3, '+4520000011', now() - interval '1 year'),
                                    (90002, 4, '+4520000012', now() - interval '1 year');
});
# While it exists, DDL still runs: the restriction check is not put on
# tables Citus manages (it cannot be), and catalog_problems says so.
q1(q{CREATE TABLE public.ddl_while_restricted (id int); DROP TABLE public.ddl_while_restricted;});
is(q1(q{SELECT count(*) FROM pg_trigger WHERE tgname = 'zx_pg_privacy_restrict'
         AND tgrelid IN ('telco.cell_event'::regclass, 'telco.contact'::regclass)}), '0',
	'a DDL while a subject is restricted runs, and puts no restriction check on the Citus tables');
like(q1(q{SELECT string_agg(table_name::text || ': ' || problem, '; ' ORDER BY table_name::text)
           FROM privacy.catalog_problems WHERE problem LIKE 'restriction check %'
            AND table_name IN ('telco.cell_event'::regclass, 'telco.contact'::regclass)}),
	qr/^telco\.cell_event: restriction check is not in force: trigger zx_pg_privacy_restrict is missing .*; telco\.contact: restriction check is not in force: trigger zx_pg_privacy_restrict is missing/,
	'catalog_problems names the restriction check missing on each Citus table');
is(q1(q{SELECT action FROM privacy.purge(dry_run => true, tbl => 'telco.cell_event')}), 'failed',
	'with a restricted subject among its expired rows, the dry run reports the table failed, as the purge will');
my ($rret, $rout, $rerr) = $coord->psql('postgres', 'CALL privacy.run_purge()');
ok($rret != 0 && $rerr =~ /purge failed for 1 of/, 'run_purge reports the failed table');
is(q1(q{SELECT event FROM privacy.audit_log WHERE event LIKE 'retention.purge%' AND object = 'telco.cell_event' ORDER BY id DESC LIMIT 1}),
	'retention.purge_failed', 'with a restricted subject among its rows, the table\'s purge fails, audited');
like(q1(q{SELECT detail::text FROM privacy.audit_log WHERE event = 'retention.purge_failed' AND object = 'telco.cell_event' ORDER BY id DESC LIMIT 1}),
	qr/0A000/, '... with 0A000');
is(q1(q{SELECT count(*) FROM telco.cell_event WHERE id IN (90001, 90002) AND msisdn IS NOT NULL}), '2',
	'... and changes nothing');
q1(q{
SET session_replication_role = replica;
DELETE FROM privacy.restriction WHERE subject_ref = privacy_internal._audit_ref('msisdn', '+4520000011');
RESET session_replication_role;
CALL privacy.run_purge();
});
is(q1(q{SELECT count(*) FROM telco.cell_event WHERE id IN (90001, 90002) AND msisdn IS NULL}), '2',
	'the restriction lifted, the next run anonymizes them');

# --- a policy set before Citus took the table over ------------------------------

q1(q{
CREATE TABLE telco.usage_log (id bigserial, msisdn text, at timestamptz NOT NULL);
SELECT privacy.register_table('telco.usage_log', 'traffic');
SELECT privacy.register_column('telco.usage_log', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.set_retention('telco.usage_log', 'at', '1 month', action => 'anonymize');
INSERT INTO telco.usage_log (msisdn, at) VALUES ('+4520111111', now() - interval '1 year');
SELECT create_distributed_table('telco.usage_log', 'msisdn');
});
is(q1(q{SELECT action FROM privacy.purge(dry_run => true, tbl => 'telco.usage_log')}), 'failed',
	'an anonymizing policy set before the table was distributed by its personal column: the purge reports the table failed');
refuses($coord, q{SELECT * FROM privacy_internal._purge_preview('telco.usage_log')}, '0A000', '... with 0A000');
is(q1(q{SELECT count(*) FROM telco.usage_log WHERE msisdn IS NOT NULL}), '1', '... and changed nothing');
q1(q{SELECT privacy.set_retention('telco.usage_log', 'at', '1 month')});
q1(q{CALL privacy.run_purge()});
is(q1(q{SELECT count(*) FROM telco.usage_log}), '0', 'set to delete, the purge deletes its expired row');

$_->stop for ($coord, $w1, $w2);
done_testing();
