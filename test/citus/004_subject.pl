# Data subjects on tables Citus manages (make test-citus): export_subject,
# export_subject_chunks and erase_subject over a reference table of
# customers, a distributed table of subscriptions that references it (a
# number reassigned from one customer to another), a distributed,
# partitioned table of calls distributed by A-number with its B-numbers
# protected, and a distributed table of notes whose rows of one subject lie
# on every shard.  Checked on a coordinator and two workers, the tables
# owned by a role without special rights (the statements run as the
# owner), what the shards hold read on the shards themselves
# (run_command_on_shards), before and after a shard move:
#   * the export holds every row of the subject once, also where the
#     shards of two nodes share an OID (a row is its shard and ctid), and
#     nobody else's rows (the reassigned number's later calls);
#   * the dry run reports what the erasure then does, and changes nothing;
#   * the erasure deletes the subject's rows on every shard, scrubs its
#     mentions in others' rows, leaves everyone else's rows, locks the
#     tables on every node, and writes its audit entry to the coordinator;
#   * where the guarantee cannot hold it refuses (0A000) and changes
#     nothing: an erasure that would keep rows (their restriction cannot be
#     checked on Citus tables), restrict_subject, a mention in a
#     distribution column, a table that keeps its former rows on the
#     coordinator, an owner that cannot log in, and both functions on a
#     worker;
#   * the shards of a protected table owned by an ordinary role do not
#     move (Citus builds the new placement as the owner), and the owner on
#     a worker cannot attach raw rows to her shard nor disable its trigger;
#   * the owner's own trigger on her shards runs with her rights only.
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

# rows of the subject on the shards themselves: the sum of count(*) over
# every shard of tbl WHERE cond
sub on_shards
{
	my ($tbl, $cond) = @_;
	$cond =~ s/'/''/g;
	return q1(qq{SELECT sum(result::bigint) FROM run_command_on_shards('$tbl', 'SELECT count(*) FROM %s WHERE $cond')});
}

# rows per table of an export, "table:rows/mentions" sorted
sub exported
{
	my ($kind, $value) = @_;
	return q1(qq{SELECT string_agg(t->>'table' || ':' || jsonb_array_length(t->'rows') || '/' || jsonb_array_length(t->'mentions'), ' '
	                               ORDER BY t->>'table')
	               FROM jsonb_array_elements(privacy.export_subject('$kind', '$value')->'tables') t
	              WHERE t->>'table' LIKE 'telco.d%'});
}

# --- the tables, owned by crm -----------------------------------------------

q1(q{
CREATE ROLE crm LOGIN;
GRANT USAGE, CREATE ON SCHEMA telco TO crm;
SET ROLE crm;
CREATE TABLE telco.dcust (customer_no text PRIMARY KEY, email text, name text);
SELECT create_reference_table('telco.dcust');
CREATE TABLE telco.dsub (id bigint NOT NULL, customer_no text NOT NULL REFERENCES telco.dcust, msisdn text NOT NULL,
                         valid_from timestamptz NOT NULL, valid_to timestamptz, PRIMARY KEY (customer_no, id));
SELECT create_distributed_table('telco.dsub', 'customer_no');
CREATE TABLE telco.dcalls (id bigint NOT NULL, a_number text NOT NULL, b_number text, started_at timestamptz NOT NULL)
  PARTITION BY RANGE (started_at);
CREATE TABLE telco.dcalls_old PARTITION OF telco.dcalls FOR VALUES FROM (MINVALUE) TO (date_trunc('month', now()) - interval '1 month');
CREATE TABLE telco.dcalls_last PARTITION OF telco.dcalls FOR VALUES FROM (date_trunc('month', now()) - interval '1 month') TO (date_trunc('month', now()));
CREATE TABLE telco.dcalls_now PARTITION OF telco.dcalls FOR VALUES FROM (date_trunc('month', now())) TO (date_trunc('month', now()) + interval '1 month');
SELECT create_distributed_table('telco.dcalls', 'a_number');
CREATE TABLE telco.dnotes (id bigint PRIMARY KEY, customer_no text, email text, body text);
SELECT create_distributed_table('telco.dnotes', 'id');
-- a table of hers that Citus does not manage: read in statements apart
-- from her Citus tables' (a statement Citus plans cannot be kept)
CREATE TABLE telco.dlocal (customer_no text, email text, note text);
RESET ROLE;
SELECT privacy.grant_domain('default', 'crm');
SELECT privacy.register_table('telco.dcust', 'customer_relationship');
SELECT privacy.register_column('telco.dcust', 'customer_no', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('telco.dcust', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('telco.dcust', 'name', 'name');
SELECT privacy.register_table('telco.dsub', 'customer_relationship');
SELECT privacy.register_column('telco.dsub', 'customer_no', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('telco.dsub', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.set_subject_table('telco.dsub', validity_column => 'msisdn', valid_from => 'valid_from', valid_to => 'valid_to');
SELECT privacy.register_table('telco.dcalls', 'traffic');
SELECT privacy.register_column('telco.dcalls', 'a_number', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('telco.dcalls', 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.set_subject_table('telco.dcalls', event_time => 'started_at');
SELECT privacy.protect('telco.dcalls');
SELECT privacy.register_table('telco.dnotes', 'customer_relationship');
SELECT privacy.register_column('telco.dnotes', 'customer_no', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('telco.dnotes', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('telco.dnotes', 'body', 'free_text');
SELECT privacy.register_table('telco.dlocal', 'customer_relationship');
SELECT privacy.register_column('telco.dlocal', 'customer_no', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('telco.dlocal', 'email', 'email', identifies => 'email');
SET ROLE crm;
-- 200 customers, each with a number of its own for two years; the number
-- +4540900000 was D0001's until a year ago, D0002's since
INSERT INTO telco.dcust SELECT 'D' || lpad(g::text, 4, '0'), 'd' || g || '@example.dk', 'Name ' || g FROM generate_series(1, 200) g;
INSERT INTO telco.dsub SELECT g, 'D' || lpad(g::text, 4, '0'), '+4540' || lpad(g::text, 6, '0'), now() - interval '2 years', NULL
  FROM generate_series(1, 200) g;
INSERT INTO telco.dsub VALUES (1001, 'D0001', '+4540900000', now() - interval '2 years', now() - interval '1 year'),
                              (1002, 'D0002', '+4540900000', now() - interval '1 year', NULL);
-- a call a day for 90 days from each number, to the next customer's number
INSERT INTO telco.dcalls
SELECT g * 1000 + d, '+4540' || lpad(g::text, 6, '0'), '+4540' || lpad((g % 200 + 1)::text, 6, '0'),
       now() - d * interval '1 day'
  FROM generate_series(1, 200) g, generate_series(0, 89) d;
INSERT INTO telco.dcalls SELECT 900000 + d, '+4540900000', '+4540000050', now() - d * interval '1 day' FROM generate_series(0, 29) d;
-- 64 notes of D0001 spread over every shard, a few of others
INSERT INTO telco.dnotes SELECT g, 'D0001', NULL, 'note ' || g FROM generate_series(1, 64) g;
INSERT INTO telco.dnotes SELECT 100 + g, 'D' || lpad(g::text, 4, '0'), 'd' || g || '@example.dk', 'other' FROM generate_series(2, 40) g;
INSERT INTO telco.dlocal VALUES ('D0001', 'd1@example.dk', 'local'), ('D0002', NULL, 'local');
});
is(q1(q{SELECT string_agg(logicalrelid::text || ':' || partmethod::text, ',' ORDER BY logicalrelid::text) FROM pg_dist_partition
         WHERE logicalrelid::text LIKE 'telco.d%' AND logicalrelid::text NOT LIKE 'telco.dcalls\_%'}),
	'telco.dcalls:h,telco.dcust:n,telco.dnotes:h,telco.dsub:h', 'a reference table, distributed tables, a distributed partitioned table');
is(q1(q{SELECT count(*) FROM (SELECT result FROM run_command_on_shards('telco.dnotes', $$SELECT '%s'::regclass::oid$$)
                               GROUP BY result HAVING count(*) > 1) x}) > 0 ? 'shared' : 'distinct',
	'shared', 'shards on the two workers share OIDs (so a row is not its table OID and ctid there)');

my $b1 = q1(q{SELECT privacy.pseudonymize_msisdn('+4540000001')});
my $b_reassigned = q1(q{SELECT privacy.pseudonymize_msisdn('+4540900000')});

# --- export --------------------------------------------------------------------

# D0001: its customer row, its two subscriptions, the calls from its own
# number (none from the reassigned number: those are D0002's), the calls
# that mention its number, its 64 notes
is(exported('customer', 'D0001'), 'telco.dcalls:90/90 telco.dcust:1/0 telco.dlocal:1/0 telco.dnotes:64/0 telco.dsub:2/0',
	'export: every row of the subject once, on every shard; the reassigned number\'s later calls are not its');
like(q1(q{SELECT privacy.export_subject('customer', 'D0001')::text}), qr/\+4540000001/, '... the mentions read back as numbers');
is(exported('customer', 'D0002'), 'telco.dcalls:120/90 telco.dcust:1/0 telco.dlocal:1/0 telco.dnotes:1/0 telco.dsub:2/0',
	'... the number\'s next holder has its calls');
is(exported('email', 'd1@example.dk'), exported('customer', 'D0001'), '... found from its e-mail address too');
is(q1(q{SELECT string_agg(table_name::text || ':' || n, ' ' ORDER BY table_name::text)
          FROM (SELECT table_name, sum(jsonb_array_length(data)) AS n
                  FROM privacy.export_subject_chunks('customer', 'D0001', 7)
                 WHERE section = 'rows' AND table_name::text LIKE 'telco.d%' GROUP BY table_name) x}),
	'telco.dcalls:90 telco.dcust:1 telco.dlocal:1 telco.dnotes:64 telco.dsub:2', 'export_subject_chunks: the same rows, in chunks');

# --- erasure ----------------------------------------------------------------------

my %before = (
	dcalls => q1('SELECT count(*) FROM telco.dcalls'), dsub => q1('SELECT count(*) FROM telco.dsub'),
	dcust => q1('SELECT count(*) FROM telco.dcust'), dnotes => q1('SELECT count(*) FROM telco.dnotes'));
my $mentions_before = q1(qq{SELECT count(*) FROM telco.dcalls WHERE b_number = '$b1'});
is($mentions_before, '90', 'the calls that mention D0001\'s number');
my $report = 'telco.dcalls:delete:90 telco.dcalls:scrub:90 telco.dcust:delete:1 telco.dlocal:delete:1 telco.dnotes:delete:64 telco.dsub:delete:2';
my $report_sql = q{SELECT string_agg(table_name::text || ':' || action || ':' || rows, ' ' ORDER BY table_name::text, action)
                     FROM privacy.erase_subject('customer', 'D0001'%s) WHERE table_name::text LIKE 'telco.d%%'};
is(q1(sprintf($report_sql, ', dry_run => true')), $report, 'dry run: what the erasure will do');
is(on_shards('telco.dnotes', q{customer_no = 'D0001'}), '64', '... and nothing changed on the shards');

my $audit_before = q1(q{SELECT count(*) FROM privacy.audit_log WHERE event = 'subject.erase'});
is(q1(sprintf($report_sql, '')), $report, 'erase_subject: the subject\'s rows deleted, its mentions scrubbed');
is(on_shards('telco.dcalls', q{a_number = '+4540000001'}) . '/' . on_shards('telco.dcalls', qq{b_number = '$b1'}) . '/' .
   on_shards('telco.dsub', q{customer_no = 'D0001'}) . '/' . on_shards('telco.dcust', q{customer_no = 'D0001'}) . '/' .
   on_shards('telco.dnotes', q{customer_no = 'D0001'}),
	'0/0/0/0/0', '... on every shard and every placement');
is(q1('SELECT count(*) FROM telco.dcalls') . '/' . q1('SELECT count(*) FROM telco.dsub') . '/' .
   q1('SELECT count(*) FROM telco.dcust') . '/' . q1('SELECT count(*) FROM telco.dnotes'),
	($before{dcalls} - 90) . '/' . ($before{dsub} - 2) . '/' . ($before{dcust} - 1) . '/' . ($before{dnotes} - 64),
	'... and nobody else\'s');
is(on_shards('telco.dcalls', q{a_number = '+4540900000'}), '30', '... the reassigned number\'s next holder keeps its calls');
is(q1(q{SELECT count(*) FROM telco.dcalls WHERE b_number IS NULL}), '90', '... the mentions are NULL now');
is(q1(q{SELECT count(*) FROM privacy.audit_log WHERE event = 'subject.erase'}), $audit_before + 1,
	'one audit entry, on the coordinator');
is($w1->safe_psql('postgres', 'SELECT count(*) FROM privacy.audit_log') . '/' .
   $w2->safe_psql('postgres', 'SELECT count(*) FROM privacy.audit_log'), '0/0', '... none on the workers');
is(q1('SELECT privacy.verify_audit_log() IS NULL'), 't', '... the chain verifies');
is(exported('customer', 'D0001'), '', 'the export finds nothing of D0001 any more');

# the erasure locks the tables on every node, so writes through a worker wait too
my $locks = q1(q{
BEGIN;
SELECT count(*) FROM privacy.erase_subject('customer', 'D0010');
SELECT string_agg(result, ',' ORDER BY nodeport) FROM run_command_on_workers(
  $$SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
     WHERE c.relname IN ('dcalls', 'dsub', 'dcust', 'dnotes') AND l.mode = 'ShareRowExclusiveLock' AND l.granted$$);
COMMIT});
is((split /\n/, $locks)[-1], '4,4', 'the erasure holds its lock on each table on every worker until it commits');

# --- after a shard move --------------------------------------------------------

# The shard of D0005's notes moves to the other worker.
my ($shard, $from, $to) = split /\|/, q1(sprintf(q{
SELECT s.shardid, n.nodeport, CASE WHEN n.nodeport = %d THEN %d ELSE %d END
  FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
 WHERE s.shardid = get_shard_id_for_distribution_column('telco.dnotes', 105)}, $w1->port, $w2->port, $w1->port));
q1(qq{SELECT citus_move_shard_placement($shard, '127.0.0.1', $from, '127.0.0.1', $to, 'block_writes')});
is(q1(qq{SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = $shard}), $to, "the shard of D0005's notes moved");
is(exported('customer', 'D0005'), 'telco.dcalls:90/90 telco.dcust:1/0 telco.dnotes:1/0 telco.dsub:1/0',
	'... the export finds its note on the new placement');
q1(q{SELECT * FROM privacy.erase_subject('customer', 'D0005')});
is(on_shards('telco.dnotes', q{customer_no = 'D0005'}) . '/' . on_shards('telco.dcalls', q{a_number = '+4540000005'}), '0/0',
	'... and the erasure deletes it there');

# The shards of a protected table owned by a role without superuser do not
# move: Citus builds the new placement as the table's owner, and on the
# worker pg_privacy cannot tell its copy (its trigger, its partitions with
# their rows) from what the owner herself would put there.
my ($cshard, $cfrom, $cto) = split /\|/, q1(sprintf(q{
SELECT s.shardid, n.nodeport, CASE WHEN n.nodeport = %d THEN %d ELSE %d END
  FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
 WHERE s.shardid = get_shard_id_for_distribution_column('telco.dcalls', '+4540000007')}, $w1->port, $w2->port, $w1->port));
my $calls_before = q1(q{SELECT md5(string_agg(id || a_number || coalesce(b_number, ''), ',' ORDER BY id)) FROM telco.dcalls});
my $err = refuses($coord, qq{SELECT citus_move_shard_placement($cshard, '127.0.0.1', $cfrom, '127.0.0.1', $cto, 'block_writes')}, '55000',
	'a shard of a protected table owned by an ordinary role does not move');
like($err, qr/cannot move or split the shards of protected table telco\.dcalls, owned by crm/, '... and says why');
is(q1(qq{SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = $cshard}) . ' ' .
   q1(q{SELECT md5(string_agg(id || a_number || coalesce(b_number, ''), ',' ORDER BY id)) FROM telco.dcalls}),
	"$cfrom $calls_before", '... it stays where it was, with its rows as they were');

# The owner herself, connected to a worker, cannot attach raw rows to a
# placed shard, not even from a table named like a shard of a partition
# placed on the other worker.
my $wk = $cfrom == $w1->port ? $w1 : $w2;
my $other_old = q1(qq{SELECT s.shardid FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
                       WHERE s.logicalrelid = 'telco.dcalls_old'::regclass AND n.nodeport <> $cfrom LIMIT 1});
my ($ret, $out, $attach_err) = $wk->psql('postgres', qq{
\\set VERBOSITY verbose
CREATE TABLE telco.dcalls_old_$other_old (id bigint NOT NULL, a_number text NOT NULL, b_number text, started_at timestamptz NOT NULL);
INSERT INTO telco.dcalls_old_$other_old VALUES (1, '+4540000007', '+4540000006', now() + interval '2 months');
ALTER TABLE telco.dcalls_$cshard ATTACH PARTITION telco.dcalls_old_$other_old
  FOR VALUES FROM (now() + interval '1 month') TO (now() + interval '3 months');}, extra_params => [ '-U', 'crm' ]);
like($attach_err, qr/ERROR:\s+55000: cannot attach partition/, 'the owner attaching raw rows to a placed shard on a worker is refused');
is($wk->safe_psql('postgres', qq{SELECT count(*) FROM pg_inherits WHERE inhparent = 'telco.dcalls_$cshard'::regclass}), '3',
	'... the shard keeps its three partitions');
# nor switch off the protect trigger of a table named like a shard, placed
# here or not yet (a new placement is served once the move records it)
($ret, $out, $attach_err) = $wk->psql('postgres', qq{
\\set VERBOSITY verbose
ALTER TABLE telco.dcalls_$cshard DISABLE TRIGGER zz_pg_privacy_protect_$cshard;}, extra_params => [ '-U', 'crm' ]);
like($attach_err, qr/ERROR:\s+55000: cannot change the protect trigger/, '... nor disable the protect trigger of her shard');
# ... nor that of a table named like a shard this worker does not hold (yet):
# the tables of a new placement a move builds, served once it is recorded
my $other_calls = q1(qq{SELECT s.shardid FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
                         WHERE s.logicalrelid = 'telco.dcalls'::regclass AND n.nodeport <> $cfrom LIMIT 1});
$wk->safe_psql('postgres', qq{
SET citus.enable_manual_changes_to_shards = on;
SET client_min_messages = error;
CREATE TABLE telco.dcalls_$other_calls (id bigint NOT NULL, a_number text NOT NULL, b_number text, started_at timestamptz NOT NULL);
CREATE TRIGGER zz_pg_privacy_protect_$other_calls BEFORE INSERT OR UPDATE ON telco.dcalls_$other_calls
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger('{}', 'x');
ALTER TABLE telco.dcalls_$other_calls OWNER TO crm;});
for my $ddl ("ALTER TABLE telco.dcalls_$other_calls DISABLE TRIGGER zz_pg_privacy_protect_$other_calls",
             "DROP TRIGGER zz_pg_privacy_protect_$other_calls ON telco.dcalls_$other_calls")
{
	($ret, $out, $attach_err) = $wk->psql('postgres', "\\set VERBOSITY verbose\nSET citus.enable_manual_changes_to_shards = on;\n$ddl;",
		extra_params => [ '-U', 'crm' ]);
	like($attach_err, qr/ERROR:\s+55000: cannot (change|drop) the protect trigger/,
		"... nor, on a table named like a shard not placed on her worker: $ddl");
}
$wk->safe_psql('postgres', qq{SET citus.enable_manual_changes_to_shards = on; DROP TABLE telco.dcalls_$other_calls});

# --- where it refuses -----------------------------------------------------------

# a legal minimum on a Citus table: the kept rows would be restricted, and
# the restriction cannot be checked on the shards
q1(q{GRANT EXECUTE ON FUNCTION privacy.set_retention, privacy.drop_retention TO crm;
     SET ROLE crm;
     SELECT privacy.set_retention('telco.dcalls', 'started_at', '2 years', keep_at_least => '6 months')});
$err = refuses($coord, q{SELECT * FROM privacy.erase_subject('customer', 'D0003')}, '0A000',
	'an erasure that would keep rows under a legal minimum refuses');
like($err, qr/cannot restrict a data subject while Citus manages subject table/, '... and says why');
refuses($coord, q{SELECT * FROM privacy.erase_subject('customer', 'D0003', dry_run => true)}, '0A000', '... so does its dry run');
is(on_shards('telco.dcalls', q{a_number = '+4540000003'}) . '/' . on_shards('telco.dcust', q{customer_no = 'D0003'}),
	'90/1', '... and nothing was deleted');
is(q1('SELECT count(*) FROM privacy.restriction'), '0', '... nor restricted');
refuses($coord, q{SELECT privacy.restrict_subject('customer', 'D0003', 'accuracy contested')}, '0A000',
	'restrict_subject refuses');
is(q1('SELECT count(*) FROM privacy.restriction') . '/' .
   q1(q{SELECT count(*) FROM privacy.catalog_problems WHERE problem LIKE 'restriction check%'}), '0/0',
	'... and nothing is left half-done');
is(exported('customer', 'D0003'), 'telco.dcalls:90/90 telco.dcust:1/0 telco.dnotes:1/0 telco.dsub:1/0',
	'the export works meanwhile');
q1(q{SET ROLE crm; SELECT privacy.drop_retention('telco.dcalls')});

# a mention in a distribution column cannot be scrubbed
q1(q{SET ROLE crm;
     CREATE TABLE telco.dforward (id bigint, target text);
     SELECT create_distributed_table('telco.dforward', 'target');
     INSERT INTO telco.dforward VALUES (1, '+4540000004'), (2, '+4540000099');
     RESET ROLE;
     SELECT privacy.register_table('telco.dforward', 'traffic');
     SELECT privacy.register_column('telco.dforward', 'target', 'phone', identifies => 'msisdn', link => 'mention')});
$err = refuses($coord, q{SELECT * FROM privacy.erase_subject('customer', 'D0004')}, '0A000',
	'an erasure that would scrub a mention in a distribution column refuses');
like($err, qr/distribution column/, '... and says why');
is(on_shards('telco.dcalls', q{a_number = '+4540000004'}) . '/' . on_shards('telco.dforward', q{target = '+4540000004'}),
	'90/1', '... and nothing changed');
q1(q{SELECT privacy.unregister_table('telco.dforward')});

# on a worker
for my $w ($w1, $w2)
{
	refuses($w, q{SELECT privacy.export_subject('customer', 'D0004')}, '0A000', 'export_subject refuses on a worker');
	refuses($w, q{SELECT * FROM privacy.erase_subject('customer', 'D0004')}, '0A000', 'erase_subject refuses on a worker');
}
is(on_shards('telco.dcust', q{customer_no = 'D0004'}), '1', '... and nothing changed');

# a table distributed with its rows keeps them on the coordinator until
# they are truncated there: no query reads them, no erasure would reach them
q1(q{SET ROLE crm;
     CREATE TABLE telco.dlate (id bigint PRIMARY KEY, customer_no text);
     INSERT INTO telco.dlate SELECT g, 'D0004' FROM generate_series(1, 10) g;
     SELECT create_distributed_table('telco.dlate', 'id');
     RESET ROLE;
     SELECT privacy.register_table('telco.dlate', 'customer_relationship');
     SELECT privacy.register_column('telco.dlate', 'customer_no', 'customer_number', identifies => 'customer')});
$err = refuses($coord, q{SELECT * FROM privacy.erase_subject('customer', 'D0004')}, '0A000',
	'an erasure refuses while a distributed table keeps its former rows on the coordinator');
like($err, qr/keeps on the coordinator the rows it held before Citus distributed it.*truncate_local_data_after_distributing_table/s,
	'... and says how to remove them');
refuses($coord, q{SELECT privacy.export_subject('customer', 'D0004')}, '0A000', '... so does the export');
q1(q{SELECT truncate_local_data_after_distributing_table('telco.dlate')});
is(exported('customer', 'D0004'), 'telco.dcalls:90/90 telco.dcust:1/0 telco.dlate:10/0 telco.dnotes:1/0 telco.dsub:1/0',
	'once truncated there, the export reads the shards');

# an owner that cannot log in: Citus connects to the workers as the owner
q1(q{CREATE ROLE nl NOLOGIN;
     CREATE TABLE telco.dnl (id bigint PRIMARY KEY, customer_no text);
     SELECT create_distributed_table('telco.dnl', 'id');
     ALTER TABLE telco.dnl OWNER TO nl;
     SELECT privacy.register_table('telco.dnl', 'customer_relationship');
     SELECT privacy.register_column('telco.dnl', 'customer_no', 'customer_number', identifies => 'customer')});
$err = refuses($coord, q{SELECT * FROM privacy.erase_subject('customer', 'D0004')}, '55000',
	'an erasure refuses while the owner of a Citus table cannot log in');
like($err, qr/owner of table telco\.dnl, which Citus manages, cannot log in/, '... naming the table');
q1(q{SELECT privacy.unregister_table('telco.dnl'); SELECT privacy.unregister_table('telco.dlate')});

# --- a hostile owner -----------------------------------------------------------

# crm's own trigger on her shards runs with her rights: it cannot make her
# superuser, and the erasure fails whole
q1(q{SET citus.enable_unsafe_triggers = on;
     SET ROLE crm;
     CREATE FUNCTION telco.dnotes_grab() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN EXECUTE 'ALTER ROLE crm SUPERUSER'; RETURN OLD; END $$;
     CREATE TRIGGER grab BEFORE DELETE ON telco.dnotes FOR EACH ROW EXECUTE FUNCTION telco.dnotes_grab()});
refuses($coord, q{SELECT * FROM privacy.erase_subject('customer', 'D0004')}, '42501',
	'the owner\'s trigger on her shards runs as her, not as the caller or the extension');
is(q1(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'crm'}) . '/' . $w1->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'crm'}),
	'f/f', '... she is no superuser on any node');
is(on_shards('telco.dcalls', q{a_number = '+4540000004'}) . '/' . on_shards('telco.dnotes', q{customer_no = 'D0004'}),
	'90/1', '... and the erasure changed nothing');

done_testing();
