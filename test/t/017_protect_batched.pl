# The rows a table held before it was protected, converted in batches:
# privacy.protect_in_batches(tbl) installs the
# protect trigger and leaves each relation (the table, or each partition)
# pending from "raw", begun under the trigger's lock (its high mark
# recorded); CALL privacy.rekey() converts them batch_size rows per
# transaction, resumable.  Meanwhile new rows are protected as usual, a
# row not yet converted cannot be given a new protected value, the search
# for a data subject (export, erasure, restriction, the consent cascade)
# reads such a row raw and finds exactly what it finds once the row is
# converted, legal holds keep its raw rows from the purge, the key cannot
# change and the table cannot be unprotected.  A conversion killed with
# kill -9 loses its batch alone; at the end every row holds exactly what
# the trigger would have stored, transformed once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgpKeys;

my $dir = PostgreSQL::Test::Utils::tempdir();

my $key_a = key_file($dir, 'a');
my $key_b = key_file($dir, 'b');

my $node = PostgreSQL::Test::Cluster->new('protect_batched');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$key_a'
restart_after_crash = on
});
$node->start;

# A CDR table in three partitions by id (the last one empty), 6,000 rows
# written raw (row 2999's A-number is the pseudonym of another row's
# number: raw, it is a number of its own); a table of contacts without an
# index (converted at once); the truth beside them.
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_privacy;
SELECT privacy.define_purpose('billing', 'contract');
CREATE SCHEMA app;
CREATE TABLE app.cdr (id bigint PRIMARY KEY, a text, b text, e text, at timestamptz NOT NULL, note text)
  PARTITION BY RANGE (id);
CREATE TABLE app.cdr_1 PARTITION OF app.cdr FOR VALUES FROM (0) TO (3001);
CREATE TABLE app.cdr_2 PARTITION OF app.cdr FOR VALUES FROM (3001) TO (1000000);
CREATE TABLE app.cdr_3 PARTITION OF app.cdr FOR VALUES FROM (1000000) TO (2000000);
INSERT INTO app.cdr
SELECT g, '+4520' || lpad((g % 997)::text, 6, '0'), '20 ' || lpad((g % 991)::text, 6, '0'),
       'U' || (g % 101) || '@Example.dk ', now() - make_interval(days => g % 1500), 'call ' || g
  FROM generate_series(1, 6000) g;
CREATE TABLE app.contact (a text, e text);
INSERT INTO app.contact SELECT '+4531' || lpad(g::text, 6, '0'), 'c' || g || '@example.dk' FROM generate_series(1, 50) g;
UPDATE app.cdr SET a = privacy.pseudonymize_msisdn('+4520000007') WHERE id = 2999;
CREATE TABLE public.truth AS SELECT id, a, b, e FROM app.cdr;
CREATE TABLE public.ctruth AS SELECT a, e FROM app.contact;
SELECT privacy.register_table(t, 'billing') FROM unnest('{app.cdr,app.contact}'::regclass[]) t;
SELECT privacy.register_column('app.cdr', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.cdr', 'b', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.cdr', 'e', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.register_column('app.cdr', 'at', 'traffic');
SELECT privacy.register_column('app.contact', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.contact', 'e', 'email', identifies => 'email', protect => 'pseudonym');
SELECT privacy.set_retention('app.cdr', 'at', '3 years');
});
# The number of row 5, held; written raw as '+4520000005'.
my $held = '+4520000005';
$node->safe_psql('postgres', qq{SELECT privacy.hold('msisdn', '$held', 'dispute')});

# What the search finds for a subject: the ids of its own rows with their
# A-numbers as the export shows them, of the rows that mention it with
# their B-numbers, and what its erasure would do.
sub found
{
	my ($db, $kind, $value) = @_;
	my $sql = q{
WITH d AS (SELECT privacy.export_subject(%1$L, %2$L) AS d)
SELECT 'own ' || COALESCE((SELECT string_agg((r->>'id') || ':' || COALESCE(r->>'a', ''), ',' ORDER BY (r->>'id')::bigint)
                             FROM d, jsonb_path_query(d.d, '$.tables[*].rows[*]') r), '')
    || ' mentions ' || COALESCE((SELECT string_agg((r->>'id') || ':' || COALESCE(r->>'b', ''), ',' ORDER BY (r->>'id')::bigint)
                             FROM d, jsonb_path_query(d.d, '$.tables[*].mentions[*]') r), '')
    || ' erase ' || COALESCE((SELECT string_agg(action || ' ' || rows, ',' ORDER BY action)
                               FROM privacy.erase_subject(%1$L, %2$L, dry_run => true)), '')};
	$sql =~ s/%1\$L/'$kind'/g;
	$sql =~ s/%2\$L/'$value'/g;
	return $node->safe_psql($db, $sql);
}

# --- protect, batched -------------------------------------------------------
my ($st, $e) = fails($node, q{SELECT privacy.protect_in_batches(NULL)});
is($st, '22004', 'a NULL table is refused');
($st, $e) = fails($node, q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT privacy.protect_in_batches('app.cdr'); COMMIT;});
is($st, '55000', 'so is a batched protect at REPEATABLE READ');
is($node->safe_psql('postgres', q{SELECT privacy_internal._has_protect_trigger('app.cdr')}), 'f', '(nothing changed)');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT privacy.protect_in_batches('app.cdr')});
is($ret, 0, 'protect_in_batches(app.cdr)') or diag($err);
like($err, qr/the rows table app\.cdr held are converted by CALL privacy\.rekey\(\)/, '... says how the rows are converted');
is($node->safe_psql('postgres', q{SELECT string_agg(rel::text || ' ' || from_key || ' ' || order_col || ' '
    || ('x' || encode(high_mark, 'hex'))::bit(64)::bigint, ', ' ORDER BY rel::text) FROM privacy.rekey_pending}),
	'app.cdr_1 raw id 3000, app.cdr_2 raw id 6000', 'both partitions with rows are pending from raw, begun: their high marks the largest ids');
is($node->safe_psql('postgres', q{SELECT rel || ' ' || rows FROM privacy.rekey_log WHERE from_key = 'raw'}), 'app.cdr_3 0',
	'the empty partition, nothing to mark, is converted at once');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.cdr c JOIN public.truth t USING (id) WHERE c.a = t.a AND c.b = t.b AND c.e = t.e}),
	'6000', '(no row converted yet)');
$node->safe_psql('postgres', q{SELECT privacy.protect_in_batches('app.contact')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.rekey_pending WHERE tbl = 'app.contact'::regclass}), '0',
	'a table without an index to convert it in order of is converted at once');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.contact c JOIN public.ctruth t ON c.a = privacy.pseudonymize_msisdn(t.a)
    AND c.e = privacy_internal._transform(t.e, 'pseudonym', 'default', 'email')}), '50', '(each of its rows transformed)');

# --- during the conversion ---------------------------------------------------
$node->safe_psql('postgres', q{INSERT INTO app.cdr VALUES (6001, '+4529000001', NULL, 'new@example.dk', now(), 'new');
INSERT INTO public.truth VALUES (6001, '+4529000001', NULL, 'new@example.dk')});
is($node->safe_psql('postgres', q{SELECT a = privacy.pseudonymize_msisdn('+4529000001') FROM app.cdr WHERE id = 6001}), 't',
	'a new row (above the high mark) is protected on write');
($st, $e) = fails($node, q{UPDATE app.cdr SET a = '+4529999999' WHERE id = 10});
is($st, '55000', 'a row not yet converted cannot be given a new protected value');
like($e, qr/cannot write a row of relation "cdr_1" that privacy\.rekey\(\) has not converted since the table was protected/, '... saying why');
($st, $e) = fails($node, q{UPDATE app.cdr SET id = 7000 WHERE id = 11});
is($st, '55000', 'nor moved out of its place');
($ret, $out, $err) = $node->psql('postgres', q{UPDATE app.cdr SET note = 'updated' WHERE id = 10;
UPDATE app.cdr SET b = NULL WHERE id = 12; UPDATE public.truth SET b = NULL WHERE id = 12;});
is($ret, 0, 'an update of another column, or one setting a protected column NULL, keeps the row as it is') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.cdr c JOIN public.truth t USING (id) WHERE id IN (10, 12) AND c.a = t.a}), '2',
	'(both rows still raw, converted with the others by their batch)');
$node->safe_psql('postgres', q{DELETE FROM app.cdr WHERE id = 20; DELETE FROM public.truth WHERE id = 20});
($st, $e) = fails($node, q{INSERT INTO app.cdr VALUES (20, '+4529000002', NULL, NULL, now(), 'late')});
is($st, '55000', 'nor a row inserted among them (a late one below the high mark)');
# The search reads the rows not yet converted raw: for each subject it
# finds what it finds in a copy of the database whose rows are converted
# (its own rows with their numbers in clear, the rows that mention it,
# masked, and what an erasure would do).
$node->safe_psql('postgres', 'CREATE DATABASE converted TEMPLATE postgres');
($ret, $out, $err) = $node->psql('converted', 'CALL privacy.rekey()');
is($node->safe_psql('converted', 'SELECT count(*) FROM privacy.rekey_pending'), '0', '(the copy converted)') or diag($err);
my $p7 = $node->safe_psql('postgres', q{SELECT privacy.pseudonymize_msisdn('+4520000007')});
my @subjects = ([ 'msisdn', '+4520000007' ], [ 'msisdn', '+4520000011' ], [ 'msisdn', $p7 ], [ 'email', 'u7@example.dk' ],
	[ 'email', 'U7@EXAMPLE.DK' ], [ 'msisdn', '+4520000990' ], [ 'msisdn', '+4529000001' ]);
is(found('postgres', 'msisdn', '+4520000007'),
	'own 7:+4520000007,1004:+4520000007,2001:+4520000007,2998:+4520000007,3995:+4520000007,4992:+4520000007,5989:+4520000007'
	. ' mentions 998:+4520000007,1989:+4520000007,2980:+4520000007,3971:+4520000007,4962:+4520000007,5953:+4520000007'
	. ' erase delete 7,scrub 6',
	'export and erasure find a number\'s raw rows, and the rows that mention it in national form (shown in clear to her), not row 2999 that holds its pseudonym');
is(found('postgres', 'msisdn', $p7), "own 2999:$p7 mentions  erase delete 1", '... which is found as the number it is');
for my $s (@subjects)
{
	is(found('postgres', @$s), found('converted', @$s), "the search for $s->[0] $s->[1] during the conversion finds what it finds once it is done");
}
$node->safe_psql('postgres', 'DROP DATABASE converted');
($ret, $out, $err) = $node->psql('postgres', q{SELECT action || ' ' || rows FROM privacy.erase_subject('msisdn', '+4520000007') ORDER BY 1});
is($out, "delete 7\nscrub 6", 'the erasure of a number during the conversion') or diag($err);
$node->safe_psql('postgres', q{DELETE FROM public.truth WHERE a = '+4520000007';
UPDATE public.truth SET b = NULL WHERE privacy.lookup_value('msisdn', b, 'DK') = '+4520000007'});
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE a = '+4520000007') || ' '
    || count(*) FILTER (WHERE privacy.lookup_value('msisdn', b, 'DK') = '+4520000007') || ' ' || count(*) FILTER (WHERE id = 2999)
    || ' ' || (count(*) = (SELECT count(*) FROM public.truth)) FROM app.cdr}), '0 0 1 true',
	'... deletes its raw rows, scrubs its raw mentions, and nothing else');
($st, $e) = fails($node, q{SELECT privacy.unprotect('app.cdr')});
is($st, '55000', 'the table cannot be unprotected meanwhile');
set_keys($node, "$key_b,$key_a");
my $fp_a = $node->safe_psql('postgres', q{SELECT fingerprint FROM privacy.key_state});
($st, $e) = fails($node, qq{SELECT privacy.accept_key_change('$fp_a')});
is($st, '55000', 'nor can the key change');
like($e, qr/cannot change the key while privacy\.rekey\(\) converts the rows relation app\.cdr_\d held before it was protected/, '... saying why');
set_keys($node, $key_a);
is($node->safe_psql('postgres', q{SELECT status FROM privacy.health() WHERE area = 'protection'}), 'warning',
	'health() warns of the rows left to convert');
# The purge deletes the old rows it may; the held number's raw rows stay.
my $old_held = $node->safe_psql('postgres', qq{SELECT count(*) FROM app.cdr WHERE a = '$held' AND at < now() - interval '3 years'});
cmp_ok($old_held, '>', 0, "rows of the held number are past retention ($old_held)");
($ret, $out, $err) = $node->psql('postgres', q{SELECT table_name, action, rows FROM privacy.purge(false, 'app.cdr')});
is($ret, 0, 'the purge runs during the conversion') or diag($err);
is($node->safe_psql('postgres', qq{SELECT count(*) FROM app.cdr WHERE a = '$held' AND at < now() - interval '3 years'}), $old_held,
	'the held number\'s raw rows are kept');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.cdr WHERE at < now() - interval '3 years' AND id <= 6000
    AND privacy.lookup_value('msisdn', a, 'DK') <> '+4520000005' AND privacy.lookup_value('msisdn', b, 'DK') <> '+4520000005'}), '0',
	'the others past retention are deleted (a row that mentions the held number in b is kept too)');
$node->safe_psql('postgres', q{DELETE FROM public.truth t WHERE NOT EXISTS (SELECT FROM app.cdr c WHERE c.id = t.id)});

# A restriction during the conversion: its raw rows cannot be updated, and
# the conversion passes them (it changes no subject).
($ret, $out, $err) = $node->psql('postgres', q{SELECT privacy.restrict_subject('msisdn', '+4520000011', 'accuracy contested')});
is($ret, 0, 'a data subject is restricted during the conversion') or diag($err);
($st, $e) = fails($node, q{UPDATE app.cdr SET note = 'changed' WHERE id = 1008});
like($e, qr/restrict/i, '... and an update of its raw row is refused');

# --- kill -9 in the middle, then resume ----------------------------------------
# A writer holds the second partition (an uncommitted new row, above its
# mark): rekey converts the first in batches, then waits there.
my $app = $node->background_psql('postgres');
$app->query_safe('BEGIN');
$app->query_safe(q{INSERT INTO app.cdr VALUES (6002, '+4529000003', NULL, NULL, now(), 'held open')});
my $rekeyer = $node->background_psql('postgres', on_error_stop => 0);
$rekeyer->query_until(qr/converting/, "\\echo converting\nCALL privacy.rekey(batch_size => 250, lock_timeout_ms => 600000);\n");
$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_locks l WHERE l.relation = 'app.cdr_2'::regclass AND NOT l.granted
  AND l.waitstart < clock_timestamp() - interval '1 second'})
  or die 'rekey did not reach the held partition';
is($node->safe_psql('postgres', q{SELECT relations_done || ' ' || relations_left FROM privacy.rekey_progress WHERE tbl = 'app.cdr'}),
	'2 1', 'rekey converted the first partition, visible from another session, and waits for the second');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL privacy.rekey%' AND state = 'active'});
kill 'KILL', $pid;
eval { $app->quit; };
eval { $rekeyer->quit; };
$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
is($node->safe_psql('postgres', q{SELECT string_agg(rel::text, ',') FROM privacy.rekey_pending}), 'app.cdr_2',
	'after kill -9 the first partition stays converted, the second pending');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.cdr WHERE id = 6002}), '0', '(the writer\'s row is gone with its transaction)');
# Half of the second partition, in batches, with writes between them.
is($node->safe_psql('postgres', q{SELECT (privacy_internal._rekey_rel('app.cdr_2', 1000, 1000)).rows}), '1000', 'a batch of 1,000 rows');
# A dump taken halfway restores halfway: the raw rows stay pending in the
# restored database (pg_restore creates the protect trigger after the
# data), and rekey converts them there, once.
my $dump = "$dir/halfway.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump halfway through the conversion');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '--single-transaction', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into another database');
is($node->safe_psql('restored', q{SELECT string_agg(rel::text || ' ' || from_key || ' ' || (watermark IS NOT NULL), ',') FROM privacy.rekey_pending}),
	'app.cdr_2 raw true', 'the restored database is halfway too');
($ret, $out, $err) = $node->psql('restored', 'CALL privacy.rekey(batch_size => 700)');
is($ret, 0, 'rekey finishes there') or diag($err);
is($node->safe_psql('restored', q{
SELECT count(*) FILTER (WHERE c.a IS NOT DISTINCT FROM privacy_internal._transform(t.a, 'msisdn_fpe', 'default', 'msisdn')
                          AND c.e IS NOT DISTINCT FROM privacy_internal._transform(t.e, 'email_pseudonym', 'default', 'email'))
       || '/' || count(*)
  FROM app.cdr c JOIN public.truth t USING (id)}),
	do { my $n = $node->safe_psql('restored', 'SELECT count(*) FROM app.cdr c JOIN public.truth t USING (id)'); "$n/$n" },
	'every restored row transformed once');
for my $s (@subjects)
{
	is(found('postgres', @$s), found('restored', @$s),
		"halfway (a partition converted, one up to its watermark), the search for $s->[0] $s->[1] finds what it finds once all is converted");
}
$node->safe_psql('postgres', 'DROP DATABASE restored');
$node->safe_psql('postgres', q{INSERT INTO app.cdr VALUES (6003, '+4529000004', NULL, 'late@example.dk', now(), 'between batches');
INSERT INTO public.truth VALUES (6003, '+4529000004', NULL, 'late@example.dk')});
($st, $e) = fails($node, q{UPDATE app.cdr SET e = 'other@example.dk' WHERE id = 5500});
is($st, '55000', 'a row past the watermark still cannot be given a new protected value');
($ret, $out, $err) = $node->psql('postgres', q{UPDATE app.cdr SET e = 'other@example.dk' WHERE id = 3100;
UPDATE public.truth SET e = 'other@example.dk' WHERE id = 3100});
is($ret, 0, 'one at or below the watermark can') or diag($err);
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey(batch_size => 400)');
is($ret, 0, 'CALL privacy.rekey() goes on from the watermark to the end') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.rekey_pending}), '0', 'nothing is pending');

# --- every row transformed once ----------------------------------------------------
is($node->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE c.a IS NOT DISTINCT FROM privacy_internal._transform(t.a, 'msisdn_fpe', 'default', 'msisdn')
                          AND c.b IS NOT DISTINCT FROM privacy_internal._transform(t.b, 'msisdn_fpe', 'default', 'msisdn')
                          AND c.e IS NOT DISTINCT FROM privacy_internal._transform(t.e, 'email_pseudonym', 'default', 'email'))
       || '/' || count(*) || '/' || (SELECT count(*) FROM app.cdr)
  FROM app.cdr c JOIN public.truth t USING (id)}),
	do { my $n = $node->safe_psql('postgres', 'SELECT count(*) FROM public.truth'); "$n/$n/$n" },
	'every row, old and new, holds what the protect trigger stores for its values, transformed once');
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || sum(rows) FROM privacy.rekey_log WHERE from_key = 'raw' AND tbl = 'app.cdr'}),
	'3 ' . $node->safe_psql('postgres', 'SELECT count(*) FROM app.cdr WHERE id <= 6000'),
	'rekey_log: the three partitions converted from raw, with their rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.audit_log WHERE event = 'protect.converted'}), '4',
	'each relation\'s conversion audited (the contacts\' too)');
is($node->safe_psql('postgres', q{SELECT jsonb_array_length(privacy.export_subject('msisdn', '+4520000011')->'tables')}), '1',
	'the export finds the subject in the converted table');
($ret, $out, $err) = $node->psql('postgres', q{UPDATE app.cdr SET note = 'x' WHERE id = 10});
is($ret, 0, 'and any row can be updated') or diag($err);
($st, $e) = fails($node, q{UPDATE app.cdr SET note = 'changed' WHERE id = 1008});
like($e, qr/restrict/i, 'but the restricted subject\'s, converted');
$node->safe_psql('postgres', q{SELECT privacy.unrestrict_subject('msisdn', '+4520000011')});
is($node->safe_psql('postgres', q{SELECT status FROM privacy.health() WHERE area = 'protection'}), 'ok', 'health() is content');
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey()');
like($err, qr/nothing to rekey/, 'a second CALL finds nothing to do');

# --- an upsert onto a raw row ------------------------------------------------------
# EXCLUDED holds a new value, transformed by BEFORE INSERT: one that equals
# the raw row's value byte for byte is refused like any other.
$node->safe_psql('postgres', q{
CREATE TABLE app.u (id bigint PRIMARY KEY, a text, note text UNIQUE);
INSERT INTO app.u SELECT g, '+4522000' || lpad(g::text, 3, '0'), 'n' || g FROM generate_series(1, 20) g;
SELECT privacy.register_table('app.u', 'billing');
SELECT privacy.register_column('app.u', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect_in_batches('app.u');
});
my $x = $node->safe_psql('postgres', q{SELECT privacy.reidentify_msisdn('+4522000003')});
is($node->safe_psql('postgres', qq{SELECT privacy.pseudonymize_msisdn('$x')}), '+4522000003', "(the number whose pseudonym is row 3's raw value)");
($st, $e) = fails($node, qq{INSERT INTO app.u VALUES (100, '$x', 'n3') ON CONFLICT (note) DO UPDATE SET a = EXCLUDED.a});
is($st, '55000', 'an upsert giving a raw row a new value equal to its raw one is refused');
($ret, $out, $err) = $node->psql('postgres', q{INSERT INTO app.u VALUES (101, '+4529000009', 'n4') ON CONFLICT (note) DO UPDATE SET note = 'n4 again'});
is($ret, 0, 'one that leaves its protected column alone runs') or diag($err);
$node->psql('postgres', 'CALL privacy.rekey()');
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.u WHERE a <> privacy.pseudonymize_msisdn('+4522000' || lpad(id::text, 3, '0'))}), '',
	'each row of it converted once');

# --- the purge's anonymizing of raw rows ----------------------------------------
# Its UPDATE sets their identifiers NULL and leaves the rest as it was:
# allowed, and the row is converted with the others by its batch.
$node->safe_psql('postgres', q{
CREATE TABLE app.v (id bigint PRIMARY KEY, a text, at timestamptz NOT NULL);
INSERT INTO app.v SELECT g, '+4523000' || lpad(g::text, 3, '0'), now() - make_interval(years => (g % 2) * 5) FROM generate_series(1, 12) g;
SELECT privacy.register_table('app.v', 'billing');
SELECT privacy.register_column('app.v', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.v', 'at', 'traffic');
SELECT privacy.set_retention('app.v', 'at', '3 years', 'anonymize');
SELECT privacy.protect_in_batches('app.v');
});
($ret, $out, $err) = $node->psql('postgres', q{SELECT action || ' ' || rows FROM privacy.purge(false, 'app.v')});
is($out, 'anonymize 6', 'the purge anonymizes the raw rows past retention during the conversion') or diag($err);
$node->psql('postgres', 'CALL privacy.rekey()');
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE a IS NULL) || ' ' || count(*) FILTER (WHERE a = privacy.pseudonymize_msisdn('+4523000' || lpad(id::text, 3, '0'))) FROM app.v}),
	'6 6', '(their numbers NULL; the others converted once)');

# --- a partition moved to another table before its conversion ---------------------
# Detached and attached to another protected table, its raw rows go with
# it: the other table is refused by the search, its holds keep them, and
# rekey converts them by that table's declarations.
$node->safe_psql('postgres', q{
CREATE TABLE app.x (id bigint PRIMARY KEY, a text, at timestamptz NOT NULL) PARTITION BY RANGE (id);
CREATE TABLE app.x_1 PARTITION OF app.x FOR VALUES FROM (0) TO (100);
INSERT INTO app.x SELECT g, '+45219000' || lpad(g::text, 2, '0'), now() - interval '10 years' FROM generate_series(1, 50) g;
CREATE TABLE app.y (id bigint PRIMARY KEY, a text, at timestamptz NOT NULL) PARTITION BY RANGE (id);
SELECT privacy.register_table(t, 'billing') FROM unnest('{app.x,app.y}'::regclass[]) t;
SELECT privacy.register_column(t, 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe') FROM unnest('{app.x,app.y}'::regclass[]) t;
SELECT privacy.protect('app.y');
SELECT privacy.set_retention('app.y', 'at', '3 years');
SELECT privacy.protect_in_batches('app.x');
SELECT privacy.hold('msisdn', '+4521900007', 'dispute');
ALTER TABLE app.x DETACH PARTITION app.x_1;
});
$node->psql('postgres', q{ALTER TABLE app.y ATTACH PARTITION app.x_1 FOR VALUES FROM (0) TO (100)});
is($node->safe_psql('postgres', q{SELECT string_agg(t->>'table' || ' ' || (r->>'id') || ' ' || (r->>'a'), ',')
    FROM jsonb_array_elements(privacy.export_subject('msisdn', '+4521900003')->'tables') t, jsonb_array_elements(t->'rows') r}),
	'app.y 3 +4521900003', 'a raw partition attached to another table: the search finds its raw row with that table');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM privacy.purge(false, 'app.y')});
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',') FROM app.y}), '7', 'the purge of that table keeps the held raw row alone');
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey()');
is($ret, 0, 'rekey converts the partition as part of the table it belongs to now') or diag($err);
is($node->safe_psql('postgres', q{SELECT a = privacy.pseudonymize_msisdn('+4521900007') FROM app.y}), 't', '(its row transformed)');
is($node->safe_psql('postgres', q{SELECT tbl FROM privacy.rekey_log WHERE rel = 'app.x_1'}), 'app.y', '(logged with that table)');

# --- the consent cascade ----------------------------------------------------------
# A withdrawal deletes the subject's raw rows (its number written in
# national form too) during the conversion, and its converted rows after it.
$node->safe_psql('postgres', q{
SELECT privacy.define_purpose('marketing', 'consent', requires_consent => true);
CREATE TABLE app.m (id bigint PRIMARY KEY, a text);
SELECT privacy.register_table('app.m', 'marketing');
SELECT privacy.register_column('app.m', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.grant_consent('msisdn', '+454000000' || g, 'marketing') FROM generate_series(1, 5) g;
SELECT privacy.require_consent('app.m', 'a', 'marketing', on_withdraw => 'delete');
INSERT INTO app.m SELECT g, CASE WHEN g % 2 = 0 THEN '40 00 00 0' ELSE '+454000000' END || (g % 5 + 1) FROM generate_series(1, 40) g;
SELECT privacy.protect_in_batches('app.m');
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.rekey_pending WHERE tbl = 'app.m'::regclass}), '1', '(a table pending from raw)');
($ret, $out, $err) = $node->psql('postgres', q{SELECT privacy.withdraw_consent('msisdn', '+4540000003', 'marketing')});
is($ret, 0, 'a consent is withdrawn during the conversion') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || count(*) FILTER (WHERE privacy.lookup_value('msisdn', a, 'DK') = '+4540000003') FROM app.m}), '32 0',
	'... its cascade deletes the subject\'s raw rows, in whatever form, and no other');
is($node->safe_psql('postgres', q{SELECT (detail->'deleted'->>'app.m') FROM privacy.audit_log WHERE event = 'consent.withdraw_cascade' ORDER BY id DESC LIMIT 1}),
	'8', '(audited)');
$node->psql('postgres', 'CALL privacy.rekey()');
$node->safe_psql('postgres', q{SELECT privacy.withdraw_consent('msisdn', '+4540000004', 'marketing')});
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || count(*) FILTER (WHERE a = privacy.pseudonymize_msisdn('+4540000005')) FROM app.m}),
	'24 8', 'after the conversion, a withdrawal deletes the converted rows');

# --- what the export shows of a row not yet converted -----------------------------
# Every protected column as its conversion will store it (the country, NULL,
# the pseudonym), in the subject's own rows and in other subjects' rows
# that mention her: the document is the one a converted copy gives, and
# holds no raw value.  A column of a case-insensitive collation does not
# take another spelling for the subject's.
$node->safe_psql('postgres', q{
CREATE COLLATION public.ci (provider = icu, locale = 'und-u-ks-level1', deterministic = false);
CREATE TABLE app.w (id bigint PRIMARY KEY, a text, b text, e text COLLATE public.ci, cc text, loc text, imsi text, at timestamptz NOT NULL);
INSERT INTO app.w SELECT g, '+4520' || lpad((g % 97)::text, 6, '0'), '+4530' || lpad((g % 89)::text, 6, '0'),
  CASE WHEN g % 2 = 0 THEN 'René' ELSE 'rene' END || (g % 13) || '@example.dk', '+4640' || lpad(g::text, 6, '0'), 'cell-' || g,
  '23801' || lpad(g::text, 10, '0'), now() FROM generate_series(1, 2000) g;
SELECT privacy.register_table('app.w', 'billing');
SELECT privacy.register_column('app.w', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.w', 'b', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.w', 'e', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.register_column('app.w', 'cc', 'traffic', protect => 'country');
SELECT privacy.register_column('app.w', 'loc', 'location', protect => 'null');
SELECT privacy.register_column('app.w', 'imsi', 'traffic', protect => 'pseudonym');
SELECT privacy.protect_in_batches('app.w');
});
$node->safe_psql('postgres', 'CREATE DATABASE wconv TEMPLATE postgres');
$node->psql('wconv', 'CALL privacy.rekey()');
is($node->safe_psql('wconv', q{SELECT count(*) FROM privacy.rekey_pending}), '0', '(a converted copy)');
my $doc = q{SELECT (d - 'generated_at') #>> '{}' FROM (SELECT privacy.export_subject(%s) AS d) x};
for my $s ([ 'msisdn', '+4530000011' ], [ 'msisdn', '+4520000011' ], [ 'email', 'rene7@example.dk' ])
{
	my $q = sprintf($doc, "'$s->[0]', '$s->[1]'");
	my $raw = $node->safe_psql('postgres', $q);
	is($raw, $node->safe_psql('wconv', $q), "the export of $s->[0] $s->[1] during the conversion is the converted copy's");
	unlike($raw, qr/cell-|2380100|\+4640/, '... with no raw value of a protected column in it');
}
is($node->safe_psql('postgres', q{SELECT string_agg(action || ' ' || rows, ',' ORDER BY action) FROM privacy.erase_subject('email', 'rene7@example.dk', dry_run => true)}),
	$node->safe_psql('wconv', q{SELECT string_agg(action || ' ' || rows, ',' ORDER BY action) FROM privacy.erase_subject('email', 'rene7@example.dk', dry_run => true)}),
	'a column of a case-insensitive collation: the erasure of rene7@ during the conversion takes what it takes once converted, not René7@\'s rows');
$node->safe_psql('postgres', 'DROP DATABASE wconv');
# A value the conversion will refuse (not an e-mail address) does not
# keep the export from running: shown as stored in its subject's own row,
# masked in the row that mentions another.
$node->safe_psql('postgres', q{
CREATE TABLE app.w2 (id bigint PRIMARY KEY, a text, b text, e text, imsi text);
INSERT INTO app.w2 VALUES (1, '+4522000001', '+4522000002', 'good@example.com', '238010000000001'),
                          (2, '+4522000002', '+4522000001', 'not-an-email', 'imsi-2');
SELECT privacy.register_table('app.w2', 'billing');
SELECT privacy.register_column('app.w2', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.w2', 'b', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.w2', 'e', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.register_column('app.w2', 'imsi', 'traffic', protect => 'pseudonym');
SELECT privacy.protect_in_batches('app.w2');
});
($ret, $out, $err) = $node->psql('postgres', q{SELECT t->'rows'->0->>'e', t->'rows'->0->>'imsi' = privacy_internal._transform('238010000000001', 'pseudonym', 'default'),
    t->'mentions'->0->>'e', t->'mentions'->0->>'imsi' = privacy_internal._transform('imsi-2', 'pseudonym', 'default')
  FROM jsonb_array_elements(privacy.export_subject('msisdn', '+4522000001')->'tables') t WHERE t->>'table' = 'app.w2'});
is($out, join('|', $node->safe_psql('postgres', q{SELECT privacy_internal._transform('good@example.com', 'email_pseudonym', 'default', 'email')}), 't', '(masked)', 't'),
	'a row that mentions the subject with a value its conversion refuses: the export runs, that value masked') or diag($err);
is($node->safe_psql('postgres', q{SELECT t->'rows'->0->>'e' FROM jsonb_array_elements(privacy.export_subject('msisdn', '+4522000002')->'tables') t
  WHERE t->>'table' = 'app.w2'}), 'not-an-email', '... shown as stored to the subject whose row it is');
$node->safe_psql('postgres', q{UPDATE app.w2 SET e = NULL WHERE id = 2});
# A library from before 0.19.0, still loaded after an update (simulated:
# it has no _library_reads_raw, whose stand-in says false here): the search
# fails rather than read raw rows as pseudonyms.
($st, $e) = fails($node, q{BEGIN;
CREATE OR REPLACE FUNCTION privacy_internal._library_reads_raw() RETURNS boolean LANGUAGE sql AS 'SELECT false';
SELECT privacy.export_subject('msisdn', '+4520000011');
ROLLBACK;});
is($st, '55000', 'a library that cannot read raw rows: the search refuses the table');
like($e, qr/which the pg_privacy library loaded in this session cannot read \(restart the server after an update of pg_privacy\)/, '(saying why)');
$node->psql('postgres', 'CALL privacy.rekey()');

done_testing();
