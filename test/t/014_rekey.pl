# Key rotation of phone-number pseudonyms: after accept_key_change the
# CDRs' A- and B-numbers (msisdn_fpe) are under the replaced key until
# CALL privacy.rekey() converts them, in batches per partition.
# Meanwhile each partition is under one key (rows written there use its
# key), the lookups that would meet old pseudonyms refuse (55000) instead
# of missing them or matching another number, a row cannot move between
# partitions under different keys, and a conversion killed with kill -9
# goes on where it stopped.  Afterwards every number reads back under the
# new key as it was, export and erasure find the subject, and the replaced
# key is needed no more.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgpKeys;

my $src = $ENV{PGP_SRC} // '.';
my $dir = PostgreSQL::Test::Utils::tempdir();

my $key_a = key_file($dir, 'a');
my $key_b = key_file($dir, 'b');

my $node = PostgreSQL::Test::Cluster->new('rekey');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$key_a'
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_privacy');
for my $f ("$src/test/data/telephony.sql", "$src/test/data/register.sql", "$src/test/data/register_subject.sql")
{
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $f ],
		"load $f");
}
$node->safe_psql('postgres', 'SELECT telco.generate(42, 1)');
my $fp_a = $node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()');

# The numbers behind every CDR, read back under key A.
$node->safe_psql('postgres', q{
CREATE TABLE public.truth AS
SELECT cdr_id, privacy_internal._msisdn_decrypt(a_number, 'default') AS a,
       privacy_internal._msisdn_decrypt(b_number, 'default') AS b
  FROM telco.cdr});
my $ncdr = $node->safe_psql('postgres', 'SELECT count(*) FROM public.truth');
cmp_ok($ncdr, '>', 100, "the data set has CDRs ($ncdr)");
my $nparts = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_partition_tree('telco.cdr') p JOIN pg_class c ON c.oid = p.relid WHERE c.relkind = 'r'});
my ($parts_with_rows) = $node->safe_psql('postgres',
	q{SELECT count(DISTINCT tableoid) FROM telco.cdr});
cmp_ok($parts_with_rows, '>', 2, "the CDRs lie in several partitions ($parts_with_rows of $nparts)");

# A subscriber with calls, and a number she called.
my ($subj, $called) = split /\|/, $node->safe_psql('postgres', q{
SELECT t.a, min(t.b) FROM public.truth t WHERE t.b IS NOT NULL
 GROUP BY t.a ORDER BY count(*) DESC, t.a LIMIT 1});
my $subj_calls = $node->safe_psql('postgres', qq{SELECT count(*) FROM public.truth WHERE a = '$subj'});
my $export_before = $node->safe_psql('postgres',
	qq{SELECT jsonb_array_length(t->'rows') FROM jsonb_array_elements(privacy.export_subject('msisdn', '$subj')->'tables') t WHERE t->>'table' = 'telco.cdr'});
cmp_ok($export_before, '>=', $subj_calls, "the export finds the subscriber's calls under key A ($export_before)");
my $erase_sql = qq{BEGIN;
SELECT sum(rows) FROM privacy.erase_subject('msisdn', '$subj') WHERE table_name = 'telco.cdr'::regclass AND action = 'delete';
SELECT count(*) FROM telco.cdr c JOIN public.truth t USING (cdr_id) WHERE t.a = '$subj';
ROLLBACK;};
my ($erase_before) = split /\n/, $node->safe_psql('postgres', $erase_sql);
cmp_ok($erase_before, '>=', $subj_calls, "her erasure would delete her calls and her other numbers' ($erase_before, rolled back)");

# Consent for a purpose required on the A-number: the subscriber and the
# other callers consented, one caller did not.
my $other = $node->safe_psql('postgres', qq{SELECT min(a) FROM public.truth WHERE a <> '$subj'});
my $third = $node->safe_psql('postgres', qq{SELECT max(a) FROM public.truth WHERE a NOT IN ('$subj', '$other')});
$node->safe_psql('postgres', qq{
SELECT privacy.define_purpose('call_analytics', 'consent', requires_consent => true);
SELECT privacy.grant_consent('msisdn', t.a, 'call_analytics')
  FROM (SELECT DISTINCT a FROM public.truth WHERE a <> '$other') t;
SELECT privacy.require_consent('telco.cdr', 'a_number', 'call_analytics');});

# The rotation: B first, A kept after it; the database accepts B.
set_keys($node, "$key_b,$key_a");
my ($ret, $out, $err) = $node->psql('postgres', qq{SELECT privacy.accept_key_change('$fp_a')});
is($ret, 0, 'accept_key_change declares key B');
like($err, qr/NOTICE:\s+$nparts relation\(s\) hold phone-number pseudonyms under the replaced key/,
	'and says how many relations hold pseudonyms under the replaced key');
my $fp_b = $node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()');
isnt($fp_b, $fp_a, 'key B is loaded');
is($node->safe_psql('postgres', qq{SELECT rekey_relations || ' ' || needed FROM privacy.key_versions WHERE fingerprint = '$fp_a'}),
	"$nparts true", 'key_versions: every CDR partition still needs key A');
is($node->safe_psql('postgres', q{SELECT relations_done || ' ' || relations_left FROM privacy.rekey_progress WHERE tbl = 'telco.cdr'}),
	"0 $nparts", 'rekey_progress: nothing converted yet');
like($node->safe_psql('postgres', q{SELECT status || ': ' || detail FROM privacy.health() WHERE area = 'key rotation'}),
	qr/^warning: $nparts relation\(s\) of telco\.cdr hold phone-number pseudonyms under the replaced key/,
	'health() warns about the relations left to convert');

# Until the conversion, the lookups read each stored number under the key
# of its row (every CDR partition is under A): export and erasure find
# the subject as before the key change.
my $rows_of = q{SELECT count(*) || ' ' || count(*) FILTER (WHERE r->>'a_number' = 'SUBJ')
  FROM jsonb_array_elements(privacy.export_subject('msisdn', 'SUBJ')->'tables') t, jsonb_array_elements(t->'rows') r
 WHERE t->>'table' = 'telco.cdr'} =~ s/SUBJ/$subj/gr;
is($node->safe_psql('postgres', $rows_of), "$export_before $subj_calls",
	"export finds the subscriber's calls under key A, her number read back in each");
is($node->safe_psql('postgres', $erase_sql), "$erase_before\n0", 'erasure deletes the same calls under key A (rolled back)');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM telco.cdr c JOIN public.truth t USING (cdr_id) WHERE t.a = '$subj'}),
	$subj_calls, '(her calls are back)');
# A subject of another kind: customers are found through the subscriptions,
# and her numbers lead to the CDRs under A.
my $cust = $node->safe_psql('postgres', q{SELECT s.customer_id FROM telco.subscription s
  WHERE EXISTS (SELECT FROM public.truth t WHERE t.a = s.msisdn) ORDER BY 1 LIMIT 1});
cmp_ok($node->safe_psql('postgres', qq{SELECT count(*) FROM jsonb_array_elements(privacy.export_subject('customer', '$cust')->'tables') t,
  jsonb_array_elements(t->'rows') r WHERE t->>'table' = 'telco.cdr'}), '>', 0,
	'an export of a customer reaches her calls under key A through her numbers');

# The consent check reads a stored number back under the key its
# partition is under: an update of the subscriber's calls passes, one of
# the caller without consent is refused.
is($node->safe_psql('postgres', qq{WITH u AS (UPDATE telco.cdr c SET duration_s = duration_s + 1 FROM public.truth t
                                     WHERE t.cdr_id = c.cdr_id AND t.a = '$subj' RETURNING 1) SELECT count(*) FROM u}),
	$subj_calls, 'an update of her calls passes the consent check while they are under A');
my ($st, $e) = fails($node, qq{UPDATE telco.cdr c SET duration_s = duration_s + 1 FROM public.truth t
                     WHERE t.cdr_id = c.cdr_id AND t.a = '$other'});
like($e, qr/no consent for purpose "call_analytics"/, 'an update of a call of the caller without consent is refused');

# A row written now into a partition still under A is pseudonymized under A.
my $first_part = $node->safe_psql('postgres',
	q{SELECT tableoid::regclass FROM telco.cdr ORDER BY started_at LIMIT 1});
$node->safe_psql('postgres', qq{
INSERT INTO telco.cdr (a_number, b_number, started_at, duration_s, price, country, call_type)
SELECT '$third', '+4520990002', min(started_at), 1, 0, 'DK', 'voice' FROM $first_part;
INSERT INTO public.truth SELECT max(cdr_id), '$third', '+4520990002' FROM telco.cdr});
is($node->safe_psql('postgres', qq{SELECT privacy_internal._msisdn_decrypt(a_number, 'default') <> '$third'
                                     FROM telco.cdr WHERE cdr_id = (SELECT max(cdr_id) FROM public.truth)}),
	't', 'a row written into a partition under A is not under B');

# Convert the first partition alone: a row cannot move from a partition
# under one key into a partition under the other.
is($node->safe_psql('postgres', qq{SELECT rows > 0 AND finished FROM privacy_internal._rekey_rel('$first_part', 1000)}), 't',
	'one partition converted');
my $other_part = $node->safe_psql('postgres',
	qq{SELECT c.tableoid::regclass FROM telco.cdr c JOIN public.truth t USING (cdr_id)
	    WHERE c.tableoid <> '$first_part'::regclass AND t.a = '$third' ORDER BY c.started_at DESC LIMIT 1});
# (without the consent requirement, whose check on the destination would
# refuse the row first: it reads a moved row's number as written)
$node->safe_psql('postgres', q{SELECT privacy.unrequire_consent('telco.cdr', 'a_number', 'call_analytics')});
($st, $e) = fails($node, qq{UPDATE telco.cdr SET started_at = (SELECT min(started_at) FROM $first_part)
                     WHERE cdr_id = (SELECT min(c.cdr_id) FROM $other_part c JOIN public.truth t USING (cdr_id) WHERE t.a = '$third')});
is($st, '55000', 'a row does not move between partitions under different keys');
like($e, qr/before privacy\.rekey\(\) has converted both partitions/, '(saying why)');
$node->safe_psql('postgres', q{SELECT privacy.require_consent('telco.cdr', 'a_number', 'call_analytics')});

# Without key A listed, nothing can be written under it or converted from it.
set_keys($node, $key_b);
($st, $e) = fails($node, qq{INSERT INTO telco.cdr (a_number, b_number, started_at, duration_s, price, country, call_type)
                     SELECT '$third', NULL, min(started_at), 1, 0, 'DK', 'voice' FROM $other_part});
is($st, '55000', 'without key A, a write into a partition under A refuses');
like($e, qr/no key of fingerprint \Q$fp_a\E is loaded/, '(naming the key)');
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey()');
like($node->safe_psql('postgres', q{SELECT status FROM privacy.health() WHERE area = 'key rotation'}), qr/^error$/,
	'without key A, health() reports an error');
like($err, qr/rekey failed for \d+ relation/, 'without key A, rekey fails for the partitions under it');
like($err, qr/no key of fingerprint \Q$fp_a\E is loaded/, '(naming the key)');
is($node->safe_psql('postgres', q{SELECT relations_done FROM privacy.rekey_progress WHERE tbl = 'telco.cdr'}),
	'1', 'and converted nothing more');
set_keys($node, "$key_b,$key_a");

# A conversion killed with kill -9 halfway: a session holds one partition,
# so rekey waits there after converting the ones before it.
my $todo = $node->safe_psql('postgres', 'SELECT privacy_internal._rekey_todo()');
my @todo = ($todo =~ /([a-z_.0-9]+)/g);
my $held = $todo[ int(@todo / 2) ];
my $app = $node->background_psql('postgres');
$app->query_safe('BEGIN');
$app->query_safe("INSERT INTO $held (a_number, b_number, started_at, duration_s, price, country, call_type)
                  SELECT '$third', '+4520990005', min(started_at), 1, 0, 'DK', 'voice' FROM $held");
my $rekeyer = $node->background_psql('postgres', on_error_stop => 0);
$rekeyer->query_until(qr/rekeying/, "\\echo rekeying\nCALL privacy.rekey(lock_timeout_ms => 600000);\n");
# (its first pass waits there 100 ms at most, and goes on: a wait of a
# second is its batch's, once the partitions before it are converted)
$node->poll_query_until('postgres', qq{SELECT count(*) > 0 FROM pg_locks l WHERE l.relation = '$held'::regclass AND NOT l.granted
  AND l.waitstart < clock_timestamp() - interval '1 second'})
  or die 'rekey did not reach the held partition';
my $done_before = $node->safe_psql('postgres', q{SELECT relations_done FROM privacy.rekey_progress WHERE tbl = 'telco.cdr'});
cmp_ok($done_before, '>', 1, "rekey converted partitions before the held one ($done_before), visible from another session");
# Meanwhile writes to the other partitions, converted or not, go on.
my $later_part = $node->safe_psql('postgres', qq{SELECT min(c.tableoid::regclass::text) FROM telco.cdr c
  JOIN privacy.rekey_pending p ON p.rel = c.tableoid::regclass WHERE c.tableoid <> '$held'::regclass});
($ret, $out, $err) = $node->psql('postgres', qq{SET lock_timeout = '2s';
WITH i AS (INSERT INTO $later_part (a_number, b_number, started_at, duration_s, price, country, call_type)
           SELECT '$third', '+4520990011', min(started_at), 1, 0, 'DK', 'voice' FROM $later_part RETURNING cdr_id)
INSERT INTO public.truth SELECT cdr_id, '$third', '+4520990011' FROM i;
WITH i AS (INSERT INTO telco.cdr (a_number, b_number, started_at, duration_s, price, country, call_type)
           SELECT '$third', '+4520990012', min(started_at), 1, 0, 'DK', 'voice' FROM $first_part RETURNING cdr_id)
INSERT INTO public.truth SELECT cdr_id, '$third', '+4520990012' FROM i;});
is($ret, 0, 'while rekey waits for one partition, rows are written into a pending one and a converted one');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM pg_locks l WHERE l.relation = '$held'::regclass AND NOT l.granted}),
	'1', 'rekey is still waiting for the held partition');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL privacy.rekey%' AND state = 'active'});
kill 'KILL', $pid;
eval { $app->quit; };
eval { $rekeyer->quit; };
$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
is($node->safe_psql('postgres', q{SELECT relations_done FROM privacy.rekey_progress WHERE tbl = 'telco.cdr'}),
	$done_before, 'after kill -9 the converted partitions stay converted');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM privacy.rekey_pending WHERE rel = '$held'::regclass}),
	'1', 'the held partition is still pending');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM $held h WHERE NOT EXISTS (SELECT FROM public.truth t WHERE t.cdr_id = h.cdr_id)}),
	'0', '(the insert of the killed session is gone, as its transaction)');
# Every row of a converted partition reads back under B, and of a pending one only under A.
is($node->safe_psql('postgres', q{
SELECT count(*) FROM telco.cdr c JOIN public.truth t USING (cdr_id)
 WHERE NOT EXISTS (SELECT FROM privacy.rekey_pending p WHERE p.rel = c.tableoid::regclass)
   AND (privacy_internal._msisdn_decrypt(c.a_number, 'default') IS DISTINCT FROM t.a
        OR privacy_internal._msisdn_decrypt(c.b_number, 'default') IS DISTINCT FROM t.b)}),
	'0', 'every number of a converted partition reads back under B as it was');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM telco.cdr c JOIN public.truth t USING (cdr_id)
 WHERE EXISTS (SELECT FROM privacy.rekey_pending p WHERE p.rel = c.tableoid::regclass)
   AND privacy_internal._msisdn_decrypt(c.a_number, 'default') = t.a}),
	'0', 'no number of a pending partition reads back under B (they are under A)');

# Between conversions the purge runs (the expired rows: the first ten days
# of the oldest partition), with a legal hold on the number of an expired
# call: its calls are kept, the held number looked up under either key.
$node->safe_psql('postgres', q{SELECT privacy.set_retention('telco.cdr', 'started_at',
  date_trunc('day', now() - (SELECT min(started_at) + interval '10 days' FROM telco.cdr)))});
my $held_no = $node->safe_psql('postgres', q{SELECT t.a FROM public.truth t JOIN telco.cdr c USING (cdr_id)
  WHERE c.started_at < (SELECT min(started_at) + interval '9 days' FROM telco.cdr) ORDER BY t.cdr_id LIMIT 1});
my $held_calls = q{SELECT count(*) FROM telco.cdr c JOIN public.truth t USING (cdr_id) WHERE t.a = 'HELD'} =~ s/HELD/$held_no/r;
my $held_before = $node->safe_psql('postgres', $held_calls);
my $hold = $node->safe_psql('postgres', qq{SELECT privacy.hold('msisdn', '$held_no', 'litigation')});
my $before_purge = $node->safe_psql('postgres', 'SELECT count(*) FROM telco.cdr');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM privacy.purge(false, 'telco.cdr', 2000, 0)});
is($ret, 0, 'with a legal hold on a number, the purge runs while partitions are pending') or diag($err);
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM telco.cdr'), '<', $before_purge, '(and purges)');
is($node->safe_psql('postgres', $held_calls), $held_before, "the held number's calls are kept ($held_before)");
$node->safe_psql('postgres', qq{SELECT privacy.release_hold($hold)});
$node->safe_psql('postgres', q{DELETE FROM public.truth t WHERE NOT EXISTS (SELECT FROM telco.cdr c WHERE c.cdr_id = t.cdr_id)});
# Resumed: the next CALL converts the rest.
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey()');
is($ret, 0, 'CALL privacy.rekey() again finishes');
like($err, qr/NOTICE:\s+rekeyed \d+ relation\(s\), \d+ row\(s\)/, '(and reports what it did)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.rekey_pending'), '0', 'nothing is pending');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM telco.cdr c JOIN public.truth t USING (cdr_id)
 WHERE privacy_internal._msisdn_decrypt(c.a_number, 'default') IS DISTINCT FROM t.a
    OR privacy_internal._msisdn_decrypt(c.b_number, 'default') IS DISTINCT FROM t.b}),
	'0', 'every number of every CDR reads back under B as it was: none transformed twice, none missed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM telco.cdr'),
	$node->safe_psql('postgres', 'SELECT count(*) FROM public.truth'), 'no row lost or added');
is($node->safe_psql('postgres', q{SELECT relations_left || ' ' || rows_left || ' ' || (estimated_end IS NOT NULL) FROM privacy.rekey_progress WHERE tbl = 'telco.cdr'}),
	'0 0 true', 'rekey_progress: nothing left, with the time it finished');
is($node->safe_psql('postgres', qq{SELECT rekey_relations || ' ' || audit_entries FROM privacy.key_versions WHERE fingerprint = '$fp_a'}) =~ /^0 /
	? 'ok' : 'no', 'ok', 'key_versions: no relation needs key A any more');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.audit_log WHERE event = 'key.rekey'}),
	$node->safe_psql('postgres', 'SELECT count(*) FROM privacy.rekey_log'), 'each conversion is audited');
is($node->safe_psql('postgres', q{SELECT status FROM privacy.health() WHERE area = 'key rotation'}), 'ok',
	'health(): key rotation ok');
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey()');
like($err, qr/nothing to rekey/, 'a further CALL has nothing to do');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM telco.cdr c JOIN public.truth t USING (cdr_id)
 WHERE privacy_internal._msisdn_decrypt(c.a_number, 'default') IS DISTINCT FROM t.a}),
	'0', '(and changes nothing)');

# New rows are under B; the subject is found and erased.
$node->safe_psql('postgres', qq{
INSERT INTO telco.cdr (a_number, b_number, started_at, duration_s, price, country, call_type)
SELECT '$third', '+4520990006', min(started_at), 1, 0, 'DK', 'voice' FROM $held});
is($node->safe_psql('postgres', q{SELECT count(*) FROM telco.cdr
                                   WHERE privacy_internal._msisdn_decrypt(b_number, 'default') = '+4520990006'}),
	'1', 'a new row is under B');
is($node->safe_psql('postgres', qq{SELECT jsonb_array_length(t->'rows') >= $subj_calls FROM jsonb_array_elements(privacy.export_subject('msisdn', '$subj')->'tables') t WHERE t->>'table' = 'telco.cdr'}),
	't', 'the export finds the subscriber\'s calls under B');
$node->safe_psql('postgres', qq{SELECT * FROM privacy.erase_subject('msisdn', '$subj')});
is($node->safe_psql('postgres', qq{SELECT count(*) FROM telco.cdr c JOIN public.truth t USING (cdr_id) WHERE t.a = '$subj'}),
	'0', 'the erasure removes her calls');

# With the rotation done, key A can go.
set_keys($node, $key_b);
is($node->safe_psql('postgres', qq{SELECT privacy.export_subject('msisdn', '$called') ? 'tables'}),
	't', 'without key A, exports run');
$node->safe_psql('postgres', qq{INSERT INTO telco.cdr (a_number, b_number, started_at, duration_s, price, country, call_type)
                               SELECT '$third', NULL, now(), 1, 0, 'DK', 'voice'});
pass('without key A, writes run');

# --- a second rotation, over a hostile table owner's tables ---------------
# mallory owns a table that is not partitioned and a partitioned one; her
# triggers and rules try to make rekey skip rows, keep old pseudonyms, or
# carry her own changes past the consent and restriction checks.
my $key_c = key_file($dir, 'c');
$node->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN;
CREATE SCHEMA mal AUTHORIZATION mallory;
SELECT privacy.grant_domain('default', 'mallory');
CREATE TABLE mal.plain (id int PRIMARY KEY, msisdn text, note text);
CREATE TABLE mal.part (id int, msisdn text, note text) PARTITION BY RANGE (id);
CREATE TABLE mal.part_p1 PARTITION OF mal.part FOR VALUES FROM (0) TO (10);
CREATE TABLE mal.part_p2 PARTITION OF mal.part FOR VALUES FROM (10) TO (20);
CREATE TABLE mal.part_p3 PARTITION OF mal.part FOR VALUES FROM (20) TO (30);
CREATE TABLE mal.part_p4 PARTITION OF mal.part FOR VALUES FROM (30) TO (40);
ALTER TABLE mal.plain OWNER TO mallory;
ALTER TABLE mal.part OWNER TO mallory;
ALTER TABLE mal.part_p1 OWNER TO mallory;
ALTER TABLE mal.part_p2 OWNER TO mallory;
ALTER TABLE mal.part_p3 OWNER TO mallory;
ALTER TABLE mal.part_p4 OWNER TO mallory;
CREATE TABLE mal.rls (id int PRIMARY KEY, msisdn text, note text);
CREATE TABLE mal.gen (id int PRIMARY KEY, msisdn text, note text);
CREATE TABLE mal.par (id int PRIMARY KEY, msisdn text UNIQUE, note text);
CREATE TABLE mal.chi (id int PRIMARY KEY, msisdn text REFERENCES mal.par (msisdn) ON UPDATE CASCADE, note text);
ALTER TABLE mal.rls OWNER TO mallory;
ALTER TABLE mal.gen OWNER TO mallory;
ALTER TABLE mal.par OWNER TO mallory;
ALTER TABLE mal.chi OWNER TO mallory;
SELECT privacy.register_table(t, 'traffic') FROM unnest('{mal.plain,mal.part,mal.rls,mal.gen,mal.par,mal.chi}'::regclass[]) t;
SELECT privacy.register_column(t, 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe')
  FROM unnest('{mal.plain,mal.part,mal.rls,mal.gen,mal.par,mal.chi}'::regclass[]) t;
SELECT privacy.protect(t) FROM unnest('{mal.plain,mal.part,mal.rls,mal.gen,mal.par,mal.chi}'::regclass[]) t;
CREATE TABLE public.mal_truth (tbl text, id int, msisdn text);
INSERT INTO public.mal_truth SELECT 'mal.plain', i, '+45209900' || lpad(i::text, 2, '0') FROM generate_series(1, 5) i;
INSERT INTO public.mal_truth SELECT 'mal.part', i, '+45209901' || lpad(i::text, 2, '0') FROM generate_series(1, 39) i;
INSERT INTO public.mal_truth SELECT t, i, '+4520990' || n || lpad(i::text, 2, '0')
  FROM (VALUES ('mal.rls', 2), ('mal.gen', 3), ('mal.par', 4), ('mal.chi', 4)) v(t, n), generate_series(1, 5) i;
GRANT SELECT ON public.mal_truth TO mallory;});
$node->safe_psql('postgres', q{SET ROLE mallory;
INSERT INTO mal.plain SELECT id, msisdn, 'n' FROM public.mal_truth WHERE tbl = 'mal.plain';
INSERT INTO mal.part SELECT id, msisdn, 'n' FROM public.mal_truth WHERE tbl = 'mal.part';
INSERT INTO mal.rls SELECT id, msisdn, 'n' FROM public.mal_truth WHERE tbl = 'mal.rls';
INSERT INTO mal.gen SELECT id, msisdn, 'n' FROM public.mal_truth WHERE tbl = 'mal.gen';
INSERT INTO mal.par SELECT id, msisdn, 'n' FROM public.mal_truth WHERE tbl = 'mal.par';
INSERT INTO mal.chi SELECT id, msisdn, 'n' FROM public.mal_truth WHERE tbl = 'mal.chi';});
my $mal_ok = q{SELECT count(*) FROM (SELECT 'mal.plain' AS tbl, id, msisdn FROM mal.plain UNION ALL SELECT 'mal.part', id, msisdn FROM mal.part
  UNION ALL SELECT 'mal.rls', id, msisdn FROM mal.rls UNION ALL SELECT 'mal.gen', id, msisdn FROM mal.gen
  UNION ALL SELECT 'mal.par', id, msisdn FROM mal.par UNION ALL SELECT 'mal.chi', id, msisdn FROM mal.chi) x
  JOIN public.mal_truth t USING (tbl, id) WHERE privacy_internal._msisdn_decrypt(x.msisdn, 'default') = t.msisdn};
is($node->safe_psql('postgres', $mal_ok), '64', 'mallory\'s 64 numbers read back under B');

set_keys($node, "$key_c, $key_b");
$node->safe_psql('postgres', qq{SELECT privacy.accept_key_change('$fp_b')});
is($node->safe_psql('postgres', q{SELECT string_agg(rel::text, ',' ORDER BY rel::text) FROM privacy.rekey_pending WHERE rel::text LIKE 'mal.%'}),
	'mal.chi,mal.gen,mal.par,mal.part_p1,mal.part_p2,mal.part_p3,mal.part_p4,mal.plain,mal.rls', 'a table that is not partitioned is pending too, and each partition');
($st, $e) = fails($node, q{SELECT privacy.reidentify_msisdn(msisdn) FROM mal.plain WHERE id = 1});
is($st, '55000', 'reidentify_msisdn refuses while phone-number pseudonyms are pending (it cannot tell their key)');

# An upsert into a pending relation stores the new number once, under its key.
$node->safe_psql('postgres', q{SET ROLE mallory;
INSERT INTO mal.plain VALUES (5, '+4520990055', 'n') ON CONFLICT (id) DO UPDATE SET msisdn = EXCLUDED.msisdn;
RESET ROLE;
UPDATE public.mal_truth SET msisdn = '+4520990055' WHERE tbl = 'mal.plain' AND id = 5;});

# A dump taken while relations are pending, restored into another
# database: they are pending there too, and rekey converts them there.
my $dump = "$dir/pending.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump while relations are pending');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore into another database');
is($node->safe_psql('restored', q{SELECT count(*) FROM privacy.rekey_pending}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM privacy.rekey_pending}), 'the restored database has the same relations pending');
$node->safe_psql('restored', 'ALTER TABLE mal.chi DROP CONSTRAINT chi_msisdn_fkey');   # (as rekey would ask)
($ret, $out, $err) = $node->psql('restored', 'CALL privacy.rekey()');
is($ret, 0, 'rekey converts them there') or diag($err);
is($node->safe_psql('restored', $mal_ok), '64', 'and mallory\'s 64 numbers read back under C there, the upserted one too');
$node->safe_psql('postgres', 'DROP DATABASE restored');

# A writer at REPEATABLE READ whose snapshot predates the conversion of a
# partition would write there by the partition's latest state (the new
# key) and read the row back in its snapshot by the old one: it fails to
# serialize (40001), and its retry writes under the new key.
my $rr = $node->background_psql('postgres', on_error_stop => 0);
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$rr->query_safe('SELECT count(*) FROM privacy.rekey_pending');
is($node->safe_psql('postgres', qq{SELECT rows IS NOT NULL AND finished FROM privacy_internal._rekey_rel('$first_part', 1000)}), 't',
	'a partition converted meanwhile');
my $rr_insert = qq{INSERT INTO telco.cdr (a_number, b_number, started_at, duration_s, price, country, call_type)
  SELECT '$third', '+4520990021', min(started_at), 1, 0, 'DK', 'voice' FROM $first_part};
$rr->query($rr_insert);
like($rr->{stderr}, qr/could not serialize access due to a concurrent key rotation/,
	'a REPEATABLE READ writer whose snapshot predates the conversion fails to serialize');
$rr->{stderr} = '';
$rr->query_safe('ROLLBACK');
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$rr->query_safe($rr_insert);
$rr->query_safe('COMMIT');
$rr->quit;
is($node->safe_psql('postgres', q{SELECT count(*) FROM telco.cdr WHERE b_number IS NOT NULL
                                   AND privacy_internal._msisdn_decrypt(b_number, 'default') = '+4520990021'}),
	'1', 'the row that writer wrote there is under the new key');

# her triggers and rule, and a detached partition
$node->safe_psql('postgres', q{SET ROLE mallory;
CREATE FUNCTION mal.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.note := 'changed during rekey'; RETURN NEW; END $$;
CREATE TRIGGER a_touch BEFORE UPDATE ON mal.part_p1 FOR EACH ROW EXECUTE FUNCTION mal.touch();
CREATE FUNCTION mal.skip() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.id = 12 THEN RETURN NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER a_skip BEFORE UPDATE ON mal.part_p2 FOR EACH ROW EXECUTE FUNCTION mal.skip();
CREATE RULE nothing AS ON UPDATE TO mal.part_p3 DO INSTEAD NOTHING;
CREATE FUNCTION mal.more() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO mal.plain VALUES (99, '+4520990199', 'nested'); RETURN NULL; END $$;
CREATE TRIGGER a_more AFTER UPDATE ON mal.plain FOR EACH STATEMENT EXECUTE FUNCTION mal.more();
ALTER TABLE mal.rls ENABLE ROW LEVEL SECURITY;
ALTER TABLE mal.rls FORCE ROW LEVEL SECURITY;
CREATE POLICY sel ON mal.rls FOR SELECT USING (true);
CREATE POLICY upd ON mal.rls FOR UPDATE USING (id <> 1);
CREATE TABLE mal.side (id int, v text);
INSERT INTO mal.side VALUES (1, 'orig');
CREATE FUNCTION mal.lie(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT v FROM mal.side WHERE id = i $$;
ALTER TABLE mal.gen ADD COLUMN g text GENERATED ALWAYS AS (mal.lie(id)) STORED;});
# (a careless DBA: rekey's UPDATE under session_replication_role = replica,
# where the protect trigger does not fire)
($st, $e) = fails($node, q{SET session_replication_role = replica; SELECT privacy_internal._rekey_rel('mal.rls', 1000)});
like($e, qr/cannot rekey with session_replication_role = replica/, 'rekey refuses under session_replication_role = replica');
$node->safe_psql('postgres', q{ALTER TABLE mal.part DETACH PARTITION mal.part_p4});
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey()');
like($err, qr/rekey failed for 8 relation\(s\)/, 'rekey refuses the eight relations of mallory it cannot convert as they are');
like($err, qr/mal\.part_p1: a trigger of relation "part_p1" changed column "note" of a row privacy\.rekey\(\) converts/,
	'a trigger that changes the row: refused');
like($err, qr/mal\.part_p2: privacy\.rekey\(\) converted 9 of the 10 rows of relation mal\.part_p2/,
	'a trigger that skips a row: refused');
like($err, qr/mal\.part_p3: cannot rekey relation mal\.part_p3, which has rules/, 'a rule: refused');
like($err, qr/mal\.plain: cannot write relation "plain" while privacy\.rekey\(\) converts it/,
	'a trigger that writes the relation during its conversion: refused');
like($err, qr/mal\.part_p4: relation mal\.part_p4 is no longer a protected part of table mal\.part/,
	'a detached partition stays pending');
like($err, qr/mal\.gen: cannot rekey relation mal\.gen, which has a generated column computed by a function that is not built in/,
	'a generated column computed by her function: refused');
like($err, qr/mal\.par: cannot rekey relation mal\.par, whose phone-number column takes part in a foreign key/,
	'a foreign key between phone-number columns: refused, on the referenced side');
like($err, qr/mal\.chi: cannot rekey relation mal\.chi, whose phone-number column takes part in a foreign key/,
	'... and on the referencing side');
unlike($err, qr/mal\.rls:/, 'her row security does not keep rekey from a row (it converts the whole table)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.rekey_pending}), '8', 'those eight are left, the CDRs converted');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mal.rls x JOIN public.mal_truth t ON t.tbl = 'mal.rls' AND t.id = x.id
                                   WHERE privacy_internal._msisdn_decrypt(x.msisdn, 'default') = t.msisdn}),
	'5', 'all five numbers of her table with row security read back under C, the one her policy hides from updates too');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mal.plain WHERE id = 99}) . ' '
	. $node->safe_psql('postgres', q{SELECT count(*) FROM mal.part WHERE note <> 'n'}), '0 0', 'none of her changes was kept');
is($node->safe_psql('postgres', q{SELECT relations_left FROM privacy.rekey_progress WHERE tbl = 'telco.cdr'}), '0',
	'(the CDRs are done)');

# The detached partition attached (by a superuser, warned) to another
# protected table: that table's checks count it (the refusal of a
# database at 0.16.0; the row keys of the lookups are read by relation),
# and the purge's holds look its numbers up under its key too.
$node->safe_psql('postgres', q{
CREATE TABLE mal.other (id int, msisdn text, note text) PARTITION BY RANGE (id);
SELECT privacy.register_table('mal.other', 'call_analytics');
SELECT privacy.register_column('mal.other', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('mal.other');});
($ret, $out, $err) = $node->psql('postgres', q{ALTER TABLE mal.other ATTACH PARTITION mal.part_p4 FOR VALUES FROM (30) TO (40)});
($st, $e) = fails($node, q{SELECT privacy_internal._check_rekeyed('mal.other')});
is($st, '55000', 'a pending partition attached to another table: the check of that table counts it');
like($e, qr/the phone-number pseudonyms of table mal\.other are not yet under the current key/, '(naming it)');
is($node->safe_psql('postgres', q{SELECT cardinality(privacy_internal._rekey_keys('mal.other'))}), '1',
	'(and its key is looked up with that table\'s holds)');
$node->safe_psql('postgres', q{ALTER TABLE mal.other DETACH PARTITION mal.part_p4;
SELECT privacy.unprotect('mal.other'); SELECT privacy.unregister_table('mal.other'); DROP TABLE mal.other;});

# she gives up: the relations convert, attached again the partition too
$node->safe_psql('postgres', q{SET ROLE mallory;
DROP TRIGGER a_touch ON mal.part_p1; DROP TRIGGER a_skip ON mal.part_p2;
DROP RULE nothing ON mal.part_p3; DROP TRIGGER a_more ON mal.plain;
ALTER TABLE mal.gen DROP COLUMN g; ALTER TABLE mal.chi DROP CONSTRAINT chi_msisdn_fkey;});
$node->safe_psql('postgres', q{ALTER TABLE mal.part ATTACH PARTITION mal.part_p4 FOR VALUES FROM (30) TO (40)});
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey()');
is($ret, 0, 'then rekey converts them') or diag($err);
is($node->safe_psql('postgres', $mal_ok), '64', 'and her 64 numbers read back under C: none converted twice, none left');
is($node->safe_psql('postgres', q{SELECT privacy.reidentify_msisdn(msisdn) FROM mal.plain WHERE id = 1}), '+4520990001',
	'reidentify_msisdn reads them back again');

done_testing();
