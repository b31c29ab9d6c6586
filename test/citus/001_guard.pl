# pg_privacy on Citus (make test-citus): a coordinator and two workers, the
# telephony data set with its call detail records distributed by A-number
# and its customers as a reference table.  Where pg_privacy's guarantees do
# not hold on tables Citus manages yet (issue: scale-out on Citus), what is
# checked here is that nothing degrades silently:
#   * the protect and consent triggers Citus copies onto the shards refuse
#     rows instead of storing raw values or rows without consent, before
#     and after a shard move;
#   * require_consent, restriction (and an erasure that would restrict
#     the rows it keeps) and masking refuse (0A000) on Citus tables and say
#     why, and so do protect and an anonymizing retention policy where they
#     cannot hold (the distribution column); 002_protect.pl has protect on
#     Citus tables, 003_purge.pl the purge, 004_subject.pl export and
#     erasure;
#   * an audited function pushed down to a worker refuses (0A000), so no
#     audit entry lands in a worker's own chain;
#   * what does work there (k-anonymity, safe aggregates) still does.
# What the shards hold is read on the shards themselves
# (run_command_on_shards).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use CitusCluster;

my ($coord, $w1, $w2) = CitusCluster::start(scale => 1);
my @nodes = ($coord, $w1, $w2);
is($w1->safe_psql('postgres', q{SELECT extversion IS NOT NULL FROM pg_extension WHERE extname = 'pg_privacy'}),
	't', 'CREATE EXTENSION pg_privacy reaches the workers');

sub refuses { return CitusCluster::refuses(@_); }

# --- the protect trigger on the shards ---------------------------------------

# Citus refuses a table with triggers unless told the triggers are safe.
my $err = refuses($coord, q{SELECT create_distributed_table('telco.cdr', 'a_number')}, 'XX000',
	'Citus refuses to distribute the protected CDR table while its triggers are not declared safe');
like($err, qr/trigger/i, '... because of its trigger');

$coord->safe_psql('postgres', q{ALTER SYSTEM SET citus.enable_unsafe_triggers = on});
$_->reload for @nodes;
# Declared safe, the protected CDR table with its rows is still refused: the
# triggers Citus copies onto its shards carry no signed rule (protect()
# signs one only on a table Citus already manages), and refuse the rows
# Citus copies into them (reported through Citus's COPY as XX000).
$err = refuses($coord, q{SET citus.enable_unsafe_triggers = on; SELECT create_distributed_table('telco.cdr', 'a_number')},
	'XX000', 'distributing the protected, partitioned CDR table with its rows is refused');
like($err, qr/has pg_privacy's protect trigger but no protected column in the catalog/, '... by the trigger on its shards');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'telco.cdr'::regclass}),
	'0', 'the CDR table stays a local table');

# A protected table without partitions, distributed with its trigger: the
# trigger Citus copies onto each shard finds no declaration for the shard.
$coord->safe_psql('postgres', q{
CREATE TABLE telco.calls (id bigserial, a_number text NOT NULL, b_number text, at timestamptz NOT NULL DEFAULT now());
SELECT privacy.register_table('telco.calls', 'traffic');
SELECT privacy.register_column('telco.calls', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('telco.calls', 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.calls');
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('telco.calls', 'a_number');
SELECT create_reference_table('telco.customer');
});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_dist_partition WHERE logicalrelid IN ('telco.calls'::regclass, 'telco.customer'::regclass)}),
	'2', 'with unsafe triggers allowed: a protected table distributed, customers a reference table');

my $raw = '+4520123456';
$err = refuses($coord, qq{INSERT INTO telco.calls (a_number, b_number) VALUES ('$raw', '+4530123456')}, '55000',
	'a row written to a distributed protected table is refused by the trigger on its shard');
like($err, qr/no protected column in the catalog/, '... which finds no declaration for the shard');
is($coord->safe_psql('postgres', qq{SELECT count(*) FROM run_command_on_shards('telco.calls',
  \$\$SELECT count(*) FROM %s\$\$) WHERE result <> '0'}),
	'0', 'no shard holds a row');

# After a shard move the copy of the trigger on the new placement refuses too.
my ($shard, $from, $to) = split /\|/, $coord->safe_psql('postgres', sprintf(q{
SELECT s.shardid, n.nodeport, CASE WHEN n.nodeport = %d THEN %d ELSE %d END
  FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
 WHERE s.logicalrelid = 'telco.calls'::regclass ORDER BY s.shardid LIMIT 1}, $w1->port, $w2->port, $w1->port));
$coord->safe_psql('postgres', qq{SELECT citus_move_shard_placement($shard, '127.0.0.1', $from, '127.0.0.1', $to, 'block_writes')});
is($coord->safe_psql('postgres', qq{SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = $shard}),
	$to, "shard $shard moved to the other worker");
# (many rows go through Citus's COPY, which reports the shard's error as XX000)
my ($mret, $mout, $merr) = $coord->psql('postgres', q{INSERT INTO telco.calls (a_number)
SELECT '+45' || (20000000 + g)::text FROM generate_series(1, 400) g});
like($merr, qr/no protected column in the catalog/, 'after the move, rows are still refused on every placement');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM run_command_on_shards('telco.calls',
  $$SELECT count(*) FROM %s$$) WHERE result <> '0'}),
	'0', 'no raw number on any shard after the move');

# --- the consent trigger on the shards ----------------------------------------

$coord->safe_psql('postgres', q{
CREATE TABLE telco.sms_out (id bigserial, msisdn text NOT NULL, body text);
SELECT privacy.register_table('telco.sms_out', 'newsletter');
SELECT privacy.register_column('telco.sms_out', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.define_purpose('sms_marketing', 'consent');
SELECT privacy.require_consent('telco.sms_out', 'msisdn', 'sms_marketing');
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('telco.sms_out', 'msisdn');
});
refuses($coord, q{INSERT INTO telco.sms_out (msisdn, body) VALUES ('+4520999999', 'offer')}, '55000',
	'a row of a subject without consent is refused on the shard of a distributed table');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM telco.sms_out}), '0', 'nothing was accepted');

# has_consent pushed down into the workers, or called on a worker, would
# read that node's own, empty register: refused there (0A000), never a
# wrong answer.  On the coordinator it reads the register.
$coord->safe_psql('postgres', q{
CREATE TABLE telco.contacts (msisdn text NOT NULL);
SELECT create_distributed_table('telco.contacts', 'msisdn');
INSERT INTO telco.contacts VALUES ('+4520999999'), ('+4520888888');
SELECT privacy.grant_consent('msisdn', '+4520999999', 'sms_marketing', 'web', 'n-1');
});
is($coord->safe_psql('postgres', q{SELECT privacy.has_consent('msisdn', '+4520999999', 'sms_marketing')}), 't',
	'has_consent on the coordinator reads its register');
$err = refuses($coord, q{SELECT count(*) FROM telco.contacts WHERE privacy.has_consent('msisdn', msisdn, 'sms_marketing')},
	'0A000', 'has_consent pushed down into the workers refuses');
like($err, qr/has_consent cannot run on a Citus worker/, '... saying why');
refuses($w1, q{SELECT privacy.has_consent('msisdn', '+4520999999', 'sms_marketing')}, '0A000',
	'has_consent called on a worker refuses');

# A withdrawal whose cascade would delete the subject's rows from a table
# Citus manages refuses (0A000) and records nothing: the consent stands.
$coord->safe_psql('postgres', q{
CREATE TABLE telco.sms_queue (msisdn text NOT NULL, body text);
SELECT privacy.register_table('telco.sms_queue', 'newsletter');
SELECT privacy.register_column('telco.sms_queue', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.require_consent('telco.sms_queue', 'msisdn', 'sms_marketing', on_withdraw => 'delete');
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('telco.sms_queue', 'msisdn');
});
$err = refuses($coord, q{SELECT privacy.withdraw_consent('msisdn', '+4520999999', 'sms_marketing', 'stop')}, '0A000',
	'a withdrawal that would cascade into a distributed table refuses');
like($err, qr/withdraw_consent\(on_withdraw => 'delete'\) is not supported on table sms_queue, which Citus manages/,
	'... naming the table');
is($coord->safe_psql('postgres', q{SELECT privacy.has_consent('msisdn', '+4520999999', 'sms_marketing')}), 't',
	'... and records nothing');

# --- the functions refuse on Citus tables -------------------------------------

$coord->safe_psql('postgres', q{CREATE TABLE telco.cdr_plain (LIKE telco.cdr INCLUDING ALL)});
$coord->safe_psql('postgres', q{SELECT create_distributed_table('telco.cdr_plain', 'a_number')});
$coord->safe_psql('postgres', q{
SELECT privacy.register_table('telco.cdr_plain', 'traffic');
SELECT privacy.register_column('telco.cdr_plain', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
});
$err = refuses($coord, q{SELECT privacy.protect('telco.cdr_plain')}, '0A000',
	'protect refuses a distributed table whose distribution column it would transform');
like($err, qr/it is the distribution column/, '... and says why');
refuses($coord, q{SELECT privacy.require_consent('telco.cdr_plain', 'a_number', 'sms_marketing')}, '0A000',
	'require_consent refuses a distributed table');
refuses($coord, q{SELECT privacy.set_retention('telco.cdr_plain', 'started_at', '6 months', action => 'anonymize')}, '0A000',
	'set_retention refuses to anonymize a table distributed by a column it would empty (003_purge.pl has the purge)');

my $customer = $coord->safe_psql('postgres', q{SELECT min(customer_id) FROM telco.customer});
# (004_subject.pl has export and erasure on Citus tables.)  Making
# telco.customer a reference table made Citus convert the tables that
# reference it (subscriptions, invoices, tickets) into Citus local tables:
# it renamed each into its shard and made a new table of the old name, and
# pg_privacy's declarations stayed with the shards.
like($coord->safe_psql('postgres', q{SELECT string_agg(problem, ';' ORDER BY table_name::text) FROM privacy.catalog_problems
                                      WHERE problem LIKE 'Citus made this table a shard%'}),
	qr/^Citus made this table a shard of table telco\.invoice: declare that table instead;.*telco\.subscription.*telco\.support_ticket/,
	'catalog_problems names the declared tables Citus made shards of others');
$err = refuses($coord, qq{SELECT privacy.export_subject('customer', '$customer')}, '0A000',
	'export_subject refuses while a declared table is such a shard');
like($err, qr/is a shard Citus made of table telco\.(invoice|subscription|support_ticket)/, '... and says why');
refuses($coord, qq{SELECT * FROM privacy.export_subject_chunks('customer', '$customer', 100)}, '0A000',
	'... so does export_subject_chunks');
refuses($coord, qq{SELECT * FROM privacy.erase_subject('customer', '$customer')}, '0A000',
	'... and erase_subject');
# (restrict_subject meets telco.cdr_plain first: declared protected, but
# protect() refused it, so its numbers are raw: 55000)
$err = refuses($coord, qq{SELECT privacy.restrict_subject('customer', '$customer', 'test')}, '55000',
	'restrict_subject refuses');
like($err, qr/protection of table telco\.cdr_plain is not in force/, '... and says why');
is($coord->safe_psql('postgres', qq{SELECT count(*) FROM telco.customer WHERE customer_id = $customer}),
	'1', 'the subject was left as it was');

# masking: a masked role reading a distributed table is refused
$coord->safe_psql('postgres', q{
CREATE ROLE support LOGIN;
GRANT USAGE ON SCHEMA telco TO support;
GRANT SELECT ON telco.cdr_plain TO support;
GRANT SELECT ON telco.customer TO support;
GRANT SELECT ON telco.subscription TO support;
SELECT privacy.mask_role('support');
});
refuses($coord, q{SET ROLE support; SELECT a_number FROM telco.cdr_plain LIMIT 1}, '0A000',
	'a masked role reading a distributed table is refused, not served raw values');
refuses($coord, q{SET ROLE support; SELECT email FROM telco.customer LIMIT 1}, '0A000',
	'... and a reference table');
like($coord->safe_psql('postgres', q{SET ROLE support; SELECT msisdn FROM telco.subscription LIMIT 1}),
	qr/X{4}/, 'a table Citus does not manage is read masked as before');

# --- audited functions stay on the coordinator ----------------------------------

my $audit_before = $coord->safe_psql('postgres', 'SELECT count(*) FROM privacy.audit_log');
$coord->safe_psql('postgres', q{INSERT INTO telco.cdr_plain (a_number, started_at, duration_s, price, country, call_type)
  VALUES ('+4520000001', now(), 1, 0, 'DK', 'sms')});
refuses($coord, q{SELECT privacy.reidentify_msisdn(a_number) FROM telco.cdr_plain}, '0A000',
	'reidentify_msisdn pushed down to the workers refuses there');
is($w1->safe_psql('postgres', 'SELECT count(*) FROM privacy.audit_log') . '/' .
   $w2->safe_psql('postgres', 'SELECT count(*) FROM privacy.audit_log'), '0/0', 'no audit entry in a worker\'s chain');
is($coord->safe_psql('postgres', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'the coordinator\'s chain verifies');
is($coord->safe_psql('postgres', q{SELECT privacy.reidentify_msisdn(privacy.pseudonymize_msisdn('+4520000001'))}),
	'+4520000001', 'on the coordinator it works and is audited');
cmp_ok($coord->safe_psql('postgres', 'SELECT count(*) FROM privacy.audit_log'), '>', $audit_before,
	'... in the coordinator\'s chain');

# --- what works there still does -------------------------------------------------

like($coord->safe_psql('postgres', q{SELECT privacy.k_anonymity('telco.cdr_plain', ARRAY['country'])}),
	qr/^\(\d+,/, 'k_anonymity of a distributed table');

$_->stop for @nodes;
done_testing();
