# Key rotation in batches: CALL privacy.rekey(batch_size) converts a
# relation batch_size rows per transaction, in order of an indexed column,
# recording how far it has come (the watermark).  Between batches the
# relation is not locked: writes go on, each row under the key of its
# place (a row at or below the watermark under the new key, any other
# under the replaced one), an UPDATE that moves a row across the
# watermark converts its numbers, an upsert stores the number once, the
# consent check reads stored numbers under their row's key.  A batch
# killed with kill -9 is lost alone; the next CALL goes on from the
# watermark.  A dump taken halfway restores halfway.  The order column
# cannot be dropped, renamed or retyped meanwhile, and the key cannot be
# changed again before the relation is done.  Duplicates and NULLs in the
# order column, and a table without a usable index (converted whole).
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
my $key_c = key_file($dir, 'c');

my $node = PostgreSQL::Test::Cluster->new('rekey_batches');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$key_a'
restart_after_crash = on
});
$node->start;

# Three tables of phone numbers (two msisdn_fpe columns each): calls with
# a bigint primary key; events ordered by a time with duplicates and
# NULLs; notes without any index.  The truth beside them, in clear.
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_privacy;
SELECT privacy.define_purpose('billing', 'contract');
SELECT privacy.define_purpose('marketing', 'consent', requires_consent => true);
CREATE SCHEMA app;
CREATE TABLE app.calls (id bigint PRIMARY KEY, a text, b text, note text);
CREATE TABLE app.events (t timestamptz, a text, b text);
CREATE INDEX ON app.events (t);
CREATE TABLE app.notes (a text, b text);
SELECT privacy.register_table(t, 'billing') FROM unnest('{app.calls,app.events,app.notes}'::regclass[]) t;
SELECT privacy.register_column(t, 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe')
  FROM unnest('{app.calls,app.events,app.notes}'::regclass[]) t;
SELECT privacy.register_column(t, 'b', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe')
  FROM unnest('{app.calls,app.events,app.notes}'::regclass[]) t;
SELECT privacy.protect(t) FROM unnest('{app.calls,app.events,app.notes}'::regclass[]) t;
CREATE TABLE public.truth (id bigint PRIMARY KEY, a text, b text);
INSERT INTO public.truth SELECT g, '+4520' || lpad(g::text, 6, '0'), CASE WHEN g % 7 <> 0 THEN '+4530' || lpad(g::text, 6, '0') END
  FROM generate_series(1, 3000) g;
INSERT INTO app.calls SELECT id, a, b, 'n' FROM public.truth;
-- 40 values of t, 25 rows each, and 20 rows without a time
CREATE TABLE public.ev_truth AS
SELECT g AS n, CASE WHEN g <= 1000 THEN timestamptz '2026-01-01' + ((g - 1) / 25) * interval '1 hour' END AS t,
       '+4540' || lpad(g::text, 6, '0') AS a, '+4550' || lpad(g::text, 6, '0') AS b
  FROM generate_series(1, 1020) g;
INSERT INTO app.events SELECT t, a, b FROM public.ev_truth;
INSERT INTO app.notes SELECT '+4560' || lpad(g::text, 6, '0'), NULL FROM generate_series(1, 50) g;});
# Two callers of the events restricted before the rotation.
$node->safe_psql('postgres', q{
SELECT privacy.restrict_subject('msisdn', '+4540000020', 'accuracy contested');
SELECT privacy.restrict_subject('msisdn', '+4540000600', 'accuracy contested');});
my $fp_a = $node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()');

# Rows of app.calls whose numbers do not read back under the current key
# (NULL: every row).
my $calls_wrong = q{SELECT count(*) FROM app.calls c JOIN public.truth t USING (id)
  WHERE privacy_internal._msisdn_decrypt(c.a, 'default') IS DISTINCT FROM t.a
     OR privacy_internal._msisdn_decrypt(c.b, 'default') IS DISTINCT FROM t.b};
is($node->safe_psql('postgres', $calls_wrong), '0', 'the calls read back under key A');

set_keys($node, "$key_b,$key_a");
$node->safe_psql('postgres', qq{SELECT privacy.accept_key_change('$fp_a')});
my $fp_b = $node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()');
is($node->safe_psql('postgres', $calls_wrong), '3000', 'after the key change no call reads back under key B');

# --- One batch at a time -------------------------------------------------
my ($ret, $out, $err);
is($node->safe_psql('postgres', q{SELECT rows || ' ' || finished FROM privacy_internal._rekey_rel('app.calls', 1000, 500)}),
	'500 false', 'a batch converts 500 rows of the calls and the relation is not done');
is($node->safe_psql('postgres', q{SELECT order_col || ' ' || order_type || ' ' || rows_done FROM privacy.rekey_pending WHERE rel = 'app.calls'::regclass}),
	'id bigint 500', 'it converts them in order of the primary key, and records how far it came');
is($node->safe_psql('postgres', q{SELECT relations_in_part || ' ' || rows_done FROM privacy.rekey_progress WHERE tbl = 'app.calls'}),
	'1 500', 'rekey_progress shows the relation converted in part, from another session');
my $conv = q{SELECT count(*) FILTER (WHERE ok) || ' ' || count(*) FILTER (WHERE NOT ok) FROM (
  SELECT privacy_internal._msisdn_decrypt(c.a, 'default') IS NOT DISTINCT FROM t.a
     AND privacy_internal._msisdn_decrypt(c.b, 'default') IS NOT DISTINCT FROM t.b AS ok
    FROM app.calls c JOIN public.truth t USING (id) WHERE c.id <= LIMIT_ID) x};
is($node->safe_psql('postgres', $conv =~ s/LIMIT_ID/500/r), '500 0', 'the rows up to the watermark read back under B');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.calls c JOIN public.truth t USING (id)
  WHERE c.id > 500 AND privacy_internal._msisdn_decrypt(c.a, 'default') = t.a}), '0', 'the rows past it do not (they are under A)');

# The relation is not locked between batches: writes go on at once, each
# row under the key of its place.
my $w = q{SET lock_timeout = '100ms';
INSERT INTO app.calls VALUES (0, '+4571000000', '+4572000000', 'below');
INSERT INTO public.truth VALUES (0, '+4571000000', '+4572000000');
INSERT INTO app.calls VALUES (5000, '+4571005000', NULL, 'above');
INSERT INTO public.truth VALUES (5000, '+4571005000', NULL);
-- an upsert on both sides of the watermark: the number stored once
INSERT INTO app.calls VALUES (7, '+4571000007', NULL, 'u') ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b;
UPDATE public.truth SET a = '+4571000007', b = NULL WHERE id = 7;
INSERT INTO app.calls VALUES (2500, '+4571002500', '+4572002500', 'u') ON CONFLICT (id) DO UPDATE SET b = EXCLUDED.b;
UPDATE public.truth SET b = '+4572002500' WHERE id = 2500;
-- rows that move across the watermark and the high mark (3000), their
-- numbers unchanged, and one changed too
UPDATE app.calls SET id = 6000 WHERE id = 10;
UPDATE public.truth SET id = 6000 WHERE id = 10;
UPDATE app.calls SET id = 10 WHERE id = 2900;
UPDATE public.truth SET id = 10 WHERE id = 2900;
UPDATE app.calls SET id = 2900 WHERE id = 12;
UPDATE public.truth SET id = 2900 WHERE id = 12;
UPDATE app.calls SET id = 6001, b = '+4572006001' WHERE id = 11;
UPDATE public.truth SET id = 6001, b = '+4572006001' WHERE id = 11;
-- an update of another column on either side
UPDATE app.calls SET note = 'x' WHERE id IN (13, 2000);};
($ret, $out, $err) = $node->psql('postgres', $w);
is($ret, 0, 'between batches rows are written at once on both sides of the watermark, upserted and moved across it') or diag($err);
# The watermark of this check: 500 (ids are bigint); the high mark: 3000,
# the largest id when the first batch began (5000, 6000 and 6001 are
# above it, under B).
is($node->safe_psql('postgres', q{SELECT ('x' || encode(high_mark, 'hex'))::bit(64)::bigint FROM privacy.rekey_pending WHERE rel = 'app.calls'::regclass}),
	'3000', 'the first batch recorded the high mark, the largest id then');
my $all_by_place = q{SELECT count(*) FILTER (WHERE ok) || ' ' || count(*) FILTER (WHERE NOT ok) FROM (
  SELECT CASE WHEN c.id <= 500 OR c.id > 3000
              THEN privacy_internal._msisdn_decrypt(c.a, 'default') IS NOT DISTINCT FROM t.a
                   AND privacy_internal._msisdn_decrypt(c.b, 'default') IS NOT DISTINCT FROM t.b
              ELSE privacy_internal._msisdn_decrypt(c.a, 'default') IS DISTINCT FROM t.a END AS ok
    FROM app.calls c JOIN public.truth t USING (id)) x};
is($node->safe_psql('postgres', $all_by_place), '3002 0', 'every row is under the key of its place: B up to the watermark and above the high mark, A between');

# The consent check of an UPDATE reads a stored number under its row's key.
$node->safe_psql('postgres', q{
SELECT privacy.grant_consent('msisdn', a, 'marketing') FROM public.truth WHERE id NOT IN (20, 2020);
SELECT privacy.require_consent('app.calls', 'a', 'marketing');});
($ret, $out, $err) = $node->psql('postgres', q{UPDATE app.calls SET note = 'c' WHERE id IN (21, 2021)});
is($ret, 0, 'an update of consenting subjects\' rows passes the consent check on both sides of the watermark') or diag($err);
my ($st, $e) = fails($node, q{UPDATE app.calls SET note = 'c' WHERE id = 20});
is($st, '42501', 'an update of a row below the watermark of a subject without consent is refused');
($st, $e) = fails($node, q{UPDATE app.calls SET note = 'c' WHERE id = 2020});
is($st, '42501', 'and above it');
$node->safe_psql('postgres', q{SELECT privacy.unrequire_consent('app.calls', 'a', 'marketing')});

# The export reads each row under the key of its place: a caller below
# the watermark, one past it, and the two rows moved across it.
my $export_ids = q{SELECT string_agg((r->>'id') || '=' || (r->>'a'), ',' ORDER BY (r->>'id')::bigint)
  FROM jsonb_array_elements(privacy.export_subject('msisdn', 'NUM')->'tables') t, jsonb_array_elements(t->'rows') r};
is($node->safe_psql('postgres', $export_ids =~ s/NUM/+4520000100/r), '100=+4520000100',
	'the export finds a caller below the watermark, her number read back under B');
is($node->safe_psql('postgres', $export_ids =~ s/NUM/+4520002000/r), '2000=+4520002000',
	'and one past it, read back under A');
is($node->safe_psql('postgres', $export_ids =~ s/NUM/+4520000010/r), '6000=+4520000010',
	'and a row moved up above the high mark');
is($node->safe_psql('postgres', $export_ids =~ s/NUM/+4520000012/r), '2900=+4520000012',
	'and one moved up across the watermark');
is($node->safe_psql('postgres', $export_ids =~ s/NUM/+4520002900/r), '10=+4520002900',
	'and one moved down across it');
is($node->safe_psql('postgres', $export_ids =~ s/NUM/+4571005000/r), '5000=+4571005000',
	'and one inserted above the high mark');

# The order column stays as it is until the relation is done; the key
# cannot change again meanwhile.
($st, $e) = fails($node, q{ALTER TABLE app.calls RENAME COLUMN id TO call_id});
is($st, '55000', 'the order column cannot be renamed meanwhile');
like($e, qr/cannot drop, rename or retype column id of relation app\.calls/, '(saying why)');
($st, $e) = fails($node, q{ALTER TABLE app.calls ALTER COLUMN id TYPE numeric});
is($st, '55000', 'nor retyped');
($st, $e) = fails($node, q{ALTER TABLE app.calls DROP COLUMN id CASCADE});
is($st, '55000', 'nor dropped');
# (a rewrite of its values fires no trigger: the same type with USING, a
# narrower precision, the column dropped and added again)
($st, $e) = fails($node, q{ALTER TABLE app.calls ALTER COLUMN id TYPE bigint USING id + 1000});
is($st, '55000', 'nor rewritten in its own type with USING');
($st, $e) = fails($node, q{ALTER TABLE app.calls ALTER COLUMN id TYPE bigint});
is($st, '55000', 'nor altered to its own type');
($st, $e) = fails($node, q{ALTER TABLE app.calls DROP COLUMN id CASCADE, ADD COLUMN id bigint DEFAULT 0});
is($st, '55000', 'nor dropped and added again in one statement');
($ret, $out, $err) = $node->psql('postgres', q{ALTER TABLE app.calls RENAME COLUMN note TO remark; ALTER TABLE app.calls RENAME COLUMN remark TO note});
is($ret, 0, 'another column may be changed');
set_keys($node, "$key_c,$key_b,$key_a");
($st, $e) = fails($node, qq{SELECT privacy.accept_key_change('$fp_b')});
is($st, '55000', 'a further key change is refused while a relation is converted in part');
like($e, qr/cannot change the key while privacy\.rekey\(\) has converted relation app\.calls in part/, '(naming it)');
set_keys($node, "$key_b,$key_a");
is($node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()'), $fp_b, '(nothing was changed)');

# --- A batch killed with kill -9 -----------------------------------------
$node->safe_psql('postgres', q{SELECT * FROM privacy_internal._rekey_rel('app.calls', 1000, 500)});
my $wm_before = $node->safe_psql('postgres', q{SELECT encode(watermark, 'hex') || ' ' || rows_done FROM privacy.rekey_pending WHERE rel = 'app.calls'::regclass});
is($wm_before, '00000000000003e8 1000', 'a second batch moved the watermark to 1000');
my $batch = $node->background_psql('postgres', on_error_stop => 0);
$batch->query_safe('BEGIN');
$batch->query_safe(q{SELECT * FROM privacy_internal._rekey_rel('app.calls', 1000, 500)});
my $pid = $batch->query_safe('SELECT pg_backend_pid()');
$pid =~ s/\D//g;
# a writer waits for the batch's lock
($st, $e) = fails($node, q{SET lock_timeout = '200ms'; INSERT INTO app.calls VALUES (9000, '+4571009000', NULL, 'w')});
is($st, '55P03', 'a writer waits while a batch converts (it holds the relation for the batch)');
kill 'KILL', $pid;
eval { $batch->quit; };
$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
is($node->safe_psql('postgres', q{SELECT encode(watermark, 'hex') || ' ' || rows_done FROM privacy.rekey_pending WHERE rel = 'app.calls'::regclass}),
	$wm_before, 'after kill -9 of a batch the watermark is where the last committed batch left it');
my $by_place_1000 = $all_by_place =~ s/c\.id <= 500/c.id <= 1000/r;
is($node->safe_psql('postgres', $by_place_1000), '3002 0', 'and every row is under the key of its place');

# --- A dump taken halfway ------------------------------------------------
my $dump = "$dir/half.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump while the calls are converted in part');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '--single-transaction', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into another database, in one transaction (with restrictions in force: pg_restore creates their checks itself)');
is($node->safe_psql('restored', q{SELECT order_col || ' ' || encode(watermark, 'hex') FROM privacy.rekey_pending WHERE rel = 'app.calls'::regclass}),
	'id 00000000000003e8', 'the restored database is halfway too');
is($node->safe_psql('restored', $by_place_1000), '3002 0', 'its rows are under the keys of their places');
($ret, $out, $err) = $node->psql('restored', 'CALL privacy.rekey(700)');
is($ret, 0, 'rekey finishes there') or diag($err);
is($node->safe_psql('restored', $calls_wrong), '0', 'and every call reads back under B there');
$node->safe_psql('postgres', 'DROP DATABASE restored');

# --- The rest, with writers running beside it ----------------------------
# A writer inserts and moves rows while CALL privacy.rekey(5) runs.  (A
# BEFORE UPDATE trigger of the table that sleeps 2 ms a row makes the
# conversion last some seconds whatever the machine, so that the writes
# fall between batches; rekey counts the rows of each batch then.)
$node->safe_psql('postgres', q{
CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$;
CREATE TRIGGER a_slow BEFORE UPDATE ON app.calls FOR EACH ROW EXECUTE FUNCTION public.slow();});
my $rekeyer = $node->background_psql('postgres', on_error_stop => 0);
$rekeyer->query_until(qr/rekeying/, "\\echo rekeying\nCALL privacy.rekey(5, 60000, 'app.calls');\n\\echo rekeyed\n");
my $wrote = 0;
my %seen;
for my $i (1 .. 40)
{
	my $id = 10000 + $i;
	my $move = 1100 + $i * 40;
	my ($na, $nb) = (sprintf('+4571%06d', $id - 9000), sprintf('+4572%06d', $id - 9000));
	($ret, $out, $err) = $node->psql('postgres', qq{SET lock_timeout = '5s';
BEGIN;
INSERT INTO app.calls VALUES ($id, '$na', '$nb', 'w');
INSERT INTO public.truth VALUES ($id, '$na', '$nb');
UPDATE app.calls SET id = -$move WHERE id = $move;
UPDATE public.truth SET id = -$move WHERE id = $move;
COMMIT;
SELECT encode(watermark, 'hex') FROM privacy.rekey_pending WHERE rel = 'app.calls'::regclass;});
	$wrote++ if $ret == 0;
	$seen{$out}++ if $ret == 0 && $out ne '';
}
$rekeyer->query_until(qr/rekeyed/, '');
$rekeyer->quit;
$node->safe_psql('postgres', q{DROP TRIGGER a_slow ON app.calls; DROP FUNCTION public.slow();});
is($wrote, 40, 'writers went on while rekey converted the calls in batches of 5');
cmp_ok(scalar(keys %seen), '>=', 2, 'their writes fell between different batches (' . scalar(keys %seen) . ' watermarks seen)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.rekey_pending WHERE rel = 'app.calls'::regclass}), '0', 'the calls are converted');
is($node->safe_psql('postgres', $calls_wrong), '0', 'every call, written and moved during the rotation too, reads back under B: none converted twice, none missed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM app.calls'), $node->safe_psql('postgres', 'SELECT count(*) FROM public.truth'),
	'no row lost or added');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.rekey_log WHERE rel = 'app.calls'}), '1', 'one log line for the relation');
is($node->safe_psql('postgres', q{SELECT detail->>'order_column' FROM privacy.audit_log WHERE event = 'key.rekey' AND object = 'app.calls'}),
	'id', 'its audit entry names the order column');

# --- A table without a usable index: converted whole ---------------------
($ret, $out, $err) = $node->psql('postgres', q{SELECT rows || ' ' || finished FROM privacy_internal._rekey_rel('app.notes', 1000, 10)});
is($out, '50 true', 'a table without a usable index is converted in one batch, whatever the batch size');
like($err, qr/NOTICE:  relation app\.notes has no index rekey can convert it in order of/, '(saying so)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.notes WHERE privacy_internal._msisdn_decrypt(a, 'default') LIKE '+4560%'}),
	'50', 'and reads back under B');
is($node->safe_psql('postgres', q{SELECT detail->>'order_column' IS NULL FROM privacy.audit_log WHERE event = 'key.rekey' AND object = 'app.notes'}),
	't', '(its audit entry names no order column)');

# --- Duplicates and NULLs in the order column; holds and restrictions -----
is($node->safe_psql('postgres', q{SELECT rows || ' ' || finished FROM privacy_internal._rekey_rel('app.events', 1000, 30)}),
	'50 false', 'a batch takes every row of its last value (30 rows asked, two values of 25 converted)');
is($node->safe_psql('postgres', q{SELECT order_col || ' ' || rows_done FROM privacy.rekey_pending WHERE rel = 'app.events'::regclass}),
	't 50', 'in order of the indexed time');
# The number each event holds, read under the key of its place (B for the
# first two hours, A after them and without a time).
my $ev_number = qq{CASE WHEN e.t < timestamptz '2026-01-01 02:00' THEN privacy_internal._msisdn_decrypt(e.a, 'default')
                       ELSE privacy_internal._msisdn_under('$fp_a', e.a, 'default', true) END};
($st, $e) = fails($node, q{ALTER TABLE app.events ALTER COLUMN t TYPE timestamptz(0)});
is($st, '55000', 'the order column of a relation converted in part cannot be given a narrower precision');
# The restriction check of an UPDATE reads a stored number under either key.
($st, $e) = fails($node, qq{UPDATE app.events e SET b = b WHERE $ev_number = '+4540000020'});
like($e, qr/restricted/, 'an update of a restricted caller\'s event below the watermark is refused');
($st, $e) = fails($node, qq{UPDATE app.events e SET b = b WHERE $ev_number = '+4540000600'});
like($e, qr/restricted/, 'and past it');
($ret, $out, $err) = $node->psql('postgres', qq{UPDATE app.events e SET b = b WHERE $ev_number IN ('+4540000030', '+4540000700')});
is($ret, 0, 'an update of other callers\' events runs on both sides while restrictions are in force') or diag($err);
# The purge runs with legal holds on numbers on both sides of the
# watermark, and keeps their events.
$node->safe_psql('postgres', q{
SELECT privacy.hold('msisdn', '+4540000010', 'litigation');
SELECT privacy.hold('msisdn', '+4540000500', 'litigation');
SELECT privacy.set_retention('app.events', 't', '30 days');});
($ret, $out, $err) = $node->psql('postgres', q{SELECT rows FROM privacy.purge(false, 'app.events', 2000, 0)});
is($ret, 0, 'the purge runs with legal holds in force while the events are converted in part') or diag($err);
is($node->safe_psql('postgres', qq{SELECT string_agg($ev_number, ',' ORDER BY $ev_number) FROM app.events e
  WHERE e.t IS NOT NULL AND $ev_number IN ('+4540000010', '+4540000500')}),
	'+4540000010,+4540000500', 'the held numbers\' events are kept, below the watermark and past it');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM app.events e WHERE e.t IS NOT NULL
  AND $ev_number NOT IN ('+4540000010', '+4540000500', '+4540000020', '+4540000600')}),
	'0', 'every other expired event is purged');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.events WHERE t IS NULL}), '20', 'the events without a time are kept');
$node->safe_psql('postgres', q{DELETE FROM public.ev_truth t WHERE t.t IS NOT NULL
  AND t.a NOT IN ('+4540000010', '+4540000500', '+4540000020', '+4540000600')});
my $ev_left = $node->safe_psql('postgres', 'SELECT count(*) FROM app.events');
# Its index dropped halfway: the batches go on, each reading the table whole, and say so.
$node->safe_psql('postgres', q{DROP INDEX app.events_t_idx});
($ret, $out, $err) = $node->psql('postgres', q{SELECT rows FROM privacy_internal._rekey_rel('app.events', 1000, 30)});
like($err, qr/WARNING:  relation app\.events has no index on column t any more/, 'a batch after the order column\'s index was dropped warns');
($ret, $out, $err) = $node->psql('postgres', q{CALL privacy.rekey(30)});
is($ret, 0, 'CALL privacy.rekey(30) finishes the events') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.events e JOIN public.ev_truth t
  ON t.a = privacy_internal._msisdn_decrypt(e.a, 'default') AND t.b = privacy_internal._msisdn_decrypt(e.b, 'default')
  AND t.t IS NOT DISTINCT FROM e.t}), $ev_left, "every event left ($ev_left) reads back under B, those without a time too");
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.rekey_pending'), '0', 'nothing is pending');

# --- Bad input -----------------------------------------------------------
($st, $e) = fails($node, q{CALL privacy.rekey(0)});
is($st, '22023', 'batch_size 0 is refused');
($st, $e) = fails($node, q{CALL privacy.rekey(NULL)});
is($st, '22023', 'batch_size NULL is refused');
($ret, $out, $err) = $node->psql('postgres', q{CALL privacy.rekey(only_table => 'app.calls')});
like($err, qr/nothing to rekey in app\.calls/, 'only_table: nothing left in that table');
($st, $e) = fails($node, q{CALL privacy.rekey(max_seconds => 0)});
is($st, '22023', 'max_seconds 0 is refused');

# --- A second rotation, within a time limit --------------------------------
$node->safe_psql('postgres', q{SELECT privacy.release_hold(id) FROM privacy.legal_hold WHERE released_at IS NULL});
set_keys($node, "$key_c,$key_b");
$node->safe_psql('postgres', qq{SELECT privacy.accept_key_change('$fp_b')});
($ret, $out, $err) = $node->psql('postgres', q{CALL privacy.rekey(batch_size => 1, max_seconds => 1)});
is($ret, 0, 'rekey with max_seconds ends without error') or diag($err);
like($err, qr/stopped after 1 second\(s\), with relations left to convert/, 'it stops when the time given is up, and says so');
cmp_ok($node->safe_psql('postgres', q{SELECT sum(rows_done) FROM privacy.rekey_progress}), '>', 0, '(having converted some rows)');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.rekey_pending}), '>', 0, '(and left some)');
like($node->safe_psql('postgres', q{SELECT detail FROM privacy.health() WHERE area = 'key rotation'}), qr/\(1 of them converted in part\)/,
	'health() counts the relation converted in part');
# Without key B listed, what looks numbers up under it fails closed: the
# purge with a hold on a number, and the restriction check of an UPDATE
# (of a row already under C: the protect trigger lets it through).
my $hold2 = $node->safe_psql('postgres', q{SELECT privacy.hold('msisdn', '+4540000010', 'litigation')});
$node->safe_psql('postgres', q{INSERT INTO app.events VALUES ('2026-01-01', '+4540000998', NULL)});   # (expired)
set_keys($node, $key_c);
my $ev_before = $node->safe_psql('postgres', 'SELECT count(*) FROM app.events');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM privacy.purge(false, 'app.events', 2000, 0)});
like($err, qr/WARNING:  purge of app\.events failed: no key of fingerprint \Q$fp_b\E is loaded/,
	'without the pending key listed, the purge with a hold fails on the table, naming the key');
is($node->safe_psql('postgres', 'SELECT count(*) FROM app.events'), $ev_before, '(and purges nothing of it)');
($st, $e) = fails($node, q{UPDATE app.calls SET note = 'z' WHERE id = (SELECT min(id) FROM app.calls)});
is($st, '55000', 'and so does an update while restrictions are in force');
like($e, qr/no key of fingerprint \Q$fp_b\E is loaded/, '(naming it)');
set_keys($node, "$key_c,$key_b");
$node->safe_psql('postgres', qq{SELECT privacy.release_hold($hold2)});
($ret, $out, $err) = $node->psql('postgres', q{CALL privacy.rekey()});
is($ret, 0, 'the next CALL finishes') or diag($err);
is($node->safe_psql('postgres', $calls_wrong), '0', 'and every call reads back under C');

# --- A statement that outlives a key change ------------------------------
# An INSERT into a partitioned table, begun under key C, sleeps before its
# rows reach a partition (their sort) while the key is replaced by D and
# rekey converts both partitions.  When its rows reach one it fails
# (55000), the key it loaded no longer the database's, rather than write
# under C rows that would be read, and left, as under D.
my $key_d = key_file($dir, 'd');
$node->safe_psql('postgres', q{
CREATE TABLE app.p (id bigint, a text) PARTITION BY RANGE (id);
CREATE TABLE app.p_1 PARTITION OF app.p FOR VALUES FROM (0) TO (1000);
CREATE TABLE app.p_2 PARTITION OF app.p FOR VALUES FROM (1000) TO (2000);
CREATE INDEX ON app.p (id);
SELECT privacy.register_table('app.p', 'billing');
SELECT privacy.register_column('app.p', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('app.p');
INSERT INTO app.p SELECT g, '+4541' || lpad(g::text, 6, '0') FROM generate_series(1, 10) g;
});
my $slow = $node->background_psql('postgres', on_error_stop => 0);
$slow->query_until(qr/started/, q{\echo started
INSERT INTO app.p SELECT s.g, s.a FROM (SELECT g, '+4542' || lpad(g::text, 6, '0') AS a, pg_sleep(CASE WHEN g = 995 THEN 6 ELSE 0 END)
                                         FROM generate_series(995, 1005) g ORDER BY g) s;
\echo finished
});
$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'INSERT INTO app.p%'})
  or die 'the INSERT did not reach its sleep';
my $fp_c = $node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()');
set_keys($node, "$key_d,$key_c,$key_b");
$node->safe_psql('postgres', qq{SELECT privacy.accept_key_change('$fp_c')});
$node->psql('postgres', q{CALL privacy.rekey(only_table => 'app.p', lock_timeout_ms => 100)});
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.rekey_pending WHERE tbl = 'app.p'::regclass}),
	'0', '(both partitions converted under D meanwhile)');
$slow->query_until(qr/finished/, '');
like($slow->{stderr}, qr/pg_privacy master key does not match this database/,
	'an INSERT that outlived a key change fails when its rows reach a partition rekey has done under the new key');
$slow->quit;
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.p}), '10', '(nothing of it written)');
($ret, $out, $err) = $node->psql('postgres', q{CALL privacy.rekey()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.p WHERE privacy_internal._msisdn_decrypt(a, 'default') = '+4541' || lpad(id::text, 6, '0')}),
	'10', 'the rest converted: every row reads back under D') or diag($err);

done_testing();
