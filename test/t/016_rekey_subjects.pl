# The rights of data subjects while a key rotation runs.  A relation that
# privacy.rekey() has converted in part holds phone-number pseudonyms under
# the new key (up to the watermark) and under the replaced one (past it):
# the same stored value can stand for two numbers, one under each key.
# Export, erasure, restriction, the consent cascade, the link search and
# the replay of erasures match and decrypt each stored number under the
# key of its row, read in the snapshot of the statement that reads the
# row: never another person's row, none missed.
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
my $ledger = "$dir/erasures.ledger";

my $node = PostgreSQL::Test::Cluster->new('rekey_subjects');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$key_a'
pg_privacy.erasure_ledger_file = '$ledger'
});
$node->start;

# Subscriptions tie a customer to a number; calls name the caller (owner)
# and the called (a mention).  Each of the 400 numbers makes 5 calls, at
# ids n, n+400, n+800, n+1200, n+1600.
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_privacy;
SELECT privacy.define_purpose('billing', 'contract');
CREATE SCHEMA app;
CREATE TABLE app.subs (id bigint PRIMARY KEY, customer text NOT NULL, msisdn text);
CREATE TABLE app.calls (id bigint PRIMARY KEY, a text, b text);
SELECT privacy.register_table(t, 'billing') FROM unnest('{app.subs,app.calls}'::regclass[]) t;
SELECT privacy.register_column('app.subs', 'customer', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('app.subs', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.calls', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('app.calls', 'b', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.protect(t) FROM unnest('{app.subs,app.calls}'::regclass[]) t;
INSERT INTO app.subs SELECT g, 'C' || g, '+4520' || lpad(g::text, 6, '0') FROM generate_series(1, 400) g;
INSERT INTO app.calls SELECT g, '+4520' || lpad(((g - 1) % 400 + 1)::text, 6, '0'), '+4530' || lpad(g::text, 6, '0')
  FROM generate_series(1, 2000) g;
-- a table whose order column is a uuid (no max() for it)
CREATE TABLE app.u (id uuid PRIMARY KEY, a text);
SELECT privacy.register_table('app.u', 'billing');
SELECT privacy.register_column('app.u', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('app.u');
INSERT INTO app.u SELECT md5(g::text)::uuid, '+4580' || lpad(g::text, 6, '0') FROM generate_series(1, 30) g;
-- a table with a column named as the statements' alias (t), no index
CREATE TABLE app.memo (t text, a text);
SELECT privacy.register_table('app.memo', 'billing');
SELECT privacy.register_column('app.memo', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('app.memo');
INSERT INTO app.memo VALUES ('hello', '+4520000007');
CREATE ROLE analyst LOGIN;});
my $fp_a = $node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()');

set_keys($node, "$key_b,$key_a");
my ($ret, $out, $err) = $node->psql('postgres', qq{SELECT privacy.accept_key_change('$fp_a')});
is($ret, 0, 'the key change to B is accepted') or diag($err);
like($err, qr/export, erasure and restriction find their rows under either key/,
	'accept_key_change says the subjects are found during the rotation');
my $fp_b = $node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()');

# Before any batch every row is under A.
my $export_ids = q{SELECT COALESCE(string_agg(t->>'table' || ':' || (r->>'id') || '=' || COALESCE(r->>'a', r->>'msisdn'), ','
                                   ORDER BY t->>'table', (r->>'id')::bigint), '')
  FROM jsonb_array_elements(privacy.export_subject('KIND', 'NUM')->'tables') t, jsonb_array_elements(t->'rows') r
 WHERE t->>'table' <> 'app.memo'};
sub export_of
{
	my ($kind, $value, $db) = @_;
	return $node->safe_psql($db // 'postgres', $export_ids =~ s/KIND/$kind/r =~ s/NUM/$value/r);
}
my $s = '+4520000007';
my $s_rows = join(',', map { "app.calls:$_=$s" } (7, 407, 807, 1207, 1607)) . ",app.subs:7=$s";
is(export_of('msisdn', $s), $s_rows, 'before any batch (every row under A) the export finds the subscriber');

# One batch of each table: subs up to id 200, calls up to id 1000 under B.
is($node->safe_psql('postgres', q{SELECT string_agg(x.rows::text, ',') FROM (
  SELECT (privacy_internal._rekey_rel('app.subs', 1000, 200)).rows
  UNION ALL SELECT (privacy_internal._rekey_rel('app.calls', 1000, 1000)).rows) x}), '200,1000', 'one batch of each table');

# Numbers whose pseudonyms collide across the two keys: X past the
# watermark (under A) is stored as S is under B; Y below it (under B) is
# stored as S is under A.  Z, a subscription past the watermark, is stored
# as number 100's subscription below it.
my ($x, $y, $z) = split /\|/, $node->safe_psql('postgres', qq{SELECT
  privacy_internal._msisdn_under('$fp_a', privacy_internal._msisdn_under('$fp_b', '$s', 'default', false), 'default', true),
  privacy_internal._msisdn_under('$fp_b', privacy_internal._msisdn_under('$fp_a', '$s', 'default', false), 'default', true),
  privacy_internal._msisdn_under('$fp_a', privacy_internal._msisdn_under('$fp_b', '+4520000100', 'default', false), 'default', true)});
$node->safe_psql('postgres', qq{
UPDATE app.calls SET a = '$x', b = NULL WHERE id = 1996;
UPDATE app.calls SET a = '$z', b = NULL WHERE id = 1997;
INSERT INTO app.calls VALUES (-1, '$y', NULL);
UPDATE app.subs SET customer = 'CX', msisdn = '$z' WHERE id = 350;});
is($node->safe_psql('postgres', q{SELECT (SELECT a FROM app.calls WHERE id = 1996) = (SELECT a FROM app.calls WHERE id = 7)
  AND (SELECT a FROM app.calls WHERE id = -1) = (SELECT a FROM app.calls WHERE id = 1207)
  AND (SELECT msisdn FROM app.subs WHERE id = 350) = (SELECT msisdn FROM app.subs WHERE id = 100)}), 't',
	'the same stored values stand for different numbers on the two sides of the watermarks');

# A table ordered by a uuid: its high mark and a batch; its rows found.
is($node->safe_psql('postgres', q{SELECT (privacy_internal._rekey_rel('app.u', 1000, 10)).rows}), '10',
	'a batch of a table ordered by a uuid');
is($node->safe_psql('postgres', q{SELECT high_mark IS NOT NULL AND watermark IS NOT NULL FROM privacy.rekey_pending WHERE rel = 'app.u'::regclass}),
	't', '(with its high mark and its watermark)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.u u
  WHERE privacy_internal._msisdn_under(privacy_internal._row_key(u.tableoid, u.*), u.a, 'default', true) = '+4580' || lpad(
        (SELECT g FROM generate_series(1, 30) g WHERE md5(g::text)::uuid = u.id)::text, 6, '0')}), '30',
	'each of its rows reads back under the key of its place');

# The high mark of each table: its largest id when its first batch began.
# A call written above it is under B at once.
$node->safe_psql('postgres', q{INSERT INTO app.calls VALUES (2600, '+4529999999', NULL)});
is($node->safe_psql('postgres', qq{SELECT privacy_internal._msisdn_decrypt(c.a, 'default') || ' ' || (privacy_internal._row_key(c.tableoid, c.*) = '$fp_b')
  FROM app.calls c WHERE c.id = 2600}), '+4529999999 true', 'a call written above the high mark (2000) is under B at once');
is(export_of('msisdn', '+4529999999'), 'app.calls:2600=+4529999999', '(and found so)');

# --- Export ------------------------------------------------------------------
is(export_of('msisdn', $s), $s_rows, 'the export of S finds her rows on both sides, and no row of X or Y');
is(export_of('msisdn', $x), "app.calls:1996=$x", 'the export of X finds only his row (stored as S\'s are under B)');
is(export_of('msisdn', $y), "app.calls:-1=$y", 'the export of Y finds only his row (stored as S\'s are under A)');
is(export_of('msisdn', '+4530001607'), '', '(a mention is not an own row)');
is($node->safe_psql('postgres', q{SELECT string_agg((r->>'id') || '=' || (r->>'b'), ',')
  FROM jsonb_array_elements(privacy.export_subject('msisdn', '+4530001607')->'tables') t, jsonb_array_elements(t->'mentions') r}),
	'1607=+4530001607', 'a called number past the watermark is found among the mentions, read back under A');
# The link search: a customer's subscription gives her number, read back
# under the key of its row, which leads to her calls.
is(export_of('customer', 'C7'), $s_rows, 'the export of customer C7 (subscription under B) reaches her calls');
is(export_of('customer', 'C300'), join(',', map { "app.calls:$_=+4520000300" } (300, 700, 1100, 1500, 1900)) . ',app.subs:300=+4520000300',
	'the export of customer C300 (subscription under A) reaches hers');
is(export_of('customer', 'CX'), "app.calls:1997=$z,app.subs:350=$z",
	'the export of customer CX reaches Z\'s call only, not those of the number stored alike under B');
is(export_of('customer', 'C100'), join(',', map { "app.calls:$_=+4520000100" } (100, 500, 900, 1300, 1700)) . ',app.subs:100=+4520000100',
	'and customer C100 hers only');
# The streamed export reads the same rows.
is($node->safe_psql('postgres', qq{SELECT string_agg(r->>'id', ',' ORDER BY (r->>'id')::bigint)
  FROM privacy.export_subject_chunks('msisdn', '$s', 2) c, jsonb_array_elements(c.data) r
 WHERE c.table_name = 'app.calls'::regclass AND c.section = 'rows'}),
	'7,407,807,1207,1607', 'the streamed export finds the same rows');

is($node->safe_psql('postgres', qq{SELECT string_agg(r::text, ',')
  FROM jsonb_array_elements(privacy.export_subject('msisdn', '$s')->'tables') t, jsonb_array_elements(t->'rows') r
 WHERE t->>'table' = 'app.memo'}), qq{{"a": "$s", "t": "hello"}},
	'a row of a table with a column named t is exported whole, read back under A');

# --- A REPEATABLE READ reader and a batch --------------------------------
# A reader whose snapshot predates a batch sees the rows as they were and
# the watermark as it was: each row under the key it had then.
my $reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$reader->query_safe('SELECT count(*) FROM app.calls');
is($node->safe_psql('postgres', q{SELECT (privacy_internal._rekey_rel('app.calls', 1000, 700)).rows}), '700',
	'a batch converts calls 1001 to 1700 meanwhile');
is($reader->query_safe($export_ids =~ s/KIND/msisdn/r =~ s/NUM/$s/r), $s_rows,
	'the reader\'s export, in its older snapshot, finds the same rows');
is($reader->query_safe($export_ids =~ s/KIND/msisdn/r =~ s/NUM/$x/r), "app.calls:1996=$x", '(and X\'s only)');
$reader->query_safe('COMMIT');
$reader->quit;
is(export_of('msisdn', $s), $s_rows, 'after the batch too');
# A batch under way (not committed) does not hold the export, which reads
# the rows and the watermark as they were before it.
my $batch = $node->background_psql('postgres');
$batch->query_safe('BEGIN');
is($batch->query_safe(q{SELECT (privacy_internal._rekey_rel('app.calls', 1000, 200)).rows}), '200',
	'a batch converts calls 1701 to 1900, not committed yet');
is(export_of('msisdn', '+4520000300'), join(',', map { "app.calls:$_=+4520000300" } (300, 700, 1100, 1500, 1900)) . ',app.subs:300=+4520000300',
	'an export meanwhile reads each row under the key it has before the batch');
$batch->query_safe('COMMIT');
$batch->quit;
is(export_of('msisdn', '+4520000300'), join(',', map { "app.calls:$_=+4520000300" } (300, 700, 1100, 1500, 1900)) . ',app.subs:300=+4520000300',
	'and after its commit, the key it has after');
is(export_of('msisdn', $y), "app.calls:-1=$y", '(and Y\'s only)');

# --- Restriction ---------------------------------------------------------------
# A customer restricted through her subscription under A: her number is
# restricted too, and the update of her call past the watermark refused.
$node->safe_psql('postgres', q{SELECT privacy.restrict_subject('customer', 'C300', 'accuracy contested')});
is($node->safe_psql('postgres', q{SELECT privacy.is_restricted('msisdn', '+4520000300')}), 't',
	'restricting customer C300 restricts her number, read back under A');
my ($st, $e) = fails($node, q{UPDATE app.calls SET b = NULL WHERE id = 1900});
is($st, '55000', 'an update of her call converted by the last batch is refused');
($st, $e) = fails($node, q{UPDATE app.calls SET b = NULL WHERE id = 300});
is($st, '55000', 'and one converted long before');
($st, $e) = fails($node, q{UPDATE app.subs SET customer = 'C300' WHERE id = 300});
is($st, '55000', 'and the update of her subscription past the watermark (under A)');
$node->safe_psql('postgres', q{SELECT privacy.unrestrict_subject('customer', 'C300')});

# --- The consent cascade ---------------------------------------------------------
$node->safe_psql('postgres', qq{
SELECT privacy.define_purpose('marketing', 'consent', requires_consent => true);
SELECT privacy.grant_consent('msisdn', n, 'marketing') FROM unnest(ARRAY['$s', '$x', '$y']) n;
SELECT privacy.require_consent('app.calls', 'a', 'marketing', on_withdraw => 'delete');
SELECT privacy.withdraw_consent('msisdn', '$s', 'marketing');});
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.calls WHERE id IN (-1, 7, 407, 807, 1207, 1607, 1996)}),
	'-1,1996', 'withdrawing S\'s consent deletes her calls on both sides, not X\'s or Y\'s stored alike');
$node->safe_psql('postgres', q{SELECT privacy.unrequire_consent('app.calls', 'a', 'marketing')});

# --- Erasure, a dump taken before it, and the replay -----------------------------
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/before.dump", '-d', $node->connstr('postgres') ],
	'a dump halfway through the rotation, before the erasure');
is($node->safe_psql('postgres', qq{SELECT string_agg(table_name || ':' || action || ':' || rows, ',' ORDER BY table_name::text)
  FROM privacy.erase_subject('msisdn', '$x')}), 'app.calls:delete:1,privacy.consent_event:pseudonymize:1',
	'the erasure of X deletes his one row (and pseudonymizes his consent events)');
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.calls WHERE id IN (-1, 1996, 1997)}),
	'-1,1997', '(Y\'s and Z\'s stay)');
is($node->safe_psql('postgres', q{SELECT string_agg(table_name || ':' || action || ':' || rows, ',' ORDER BY table_name::text)
  FROM privacy.erase_subject('customer', 'CX')}), 'app.calls:delete:1,app.subs:delete:1', 'the erasure of customer CX');
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.subs WHERE id IN (100, 350)})
	. ' ' . $node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.calls WHERE id IN (100, 500, 1997)}),
	'100 100,500', 'deletes her subscription and Z\'s call, not number 100\'s stored alike');

$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--single-transaction', '--exit-on-error', '-d', $node->connstr('restored'), "$dir/before.dump" ],
	'the dump restores');
is($node->safe_psql('restored', q{SELECT count(*) FROM privacy.rekey_pending WHERE watermark IS NOT NULL}), '3',
	'(halfway, as it was dumped)');
is($node->safe_psql('restored', q{SELECT string_agg(seq || ':' || result, ',' ORDER BY seq) FROM privacy.replay_erasures()}),
	'1:erased again,2:erased again', 'replay_erasures erases X and customer CX again');
is($node->safe_psql('restored', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.calls WHERE id IN (-1, 8, 100, 1996, 1997)})
	. ' ' . $node->safe_psql('restored', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.subs WHERE id IN (100, 350)}),
	'-1,8,100 100', 'only their rows are gone from the restored database');
$node->safe_psql('postgres', 'DROP DATABASE restored');

# --- Who may ask a row's key ---------------------------------------------------
$node->safe_psql('postgres', q{GRANT USAGE ON SCHEMA app TO analyst});
($st, $e) = fails($node, q{SET ROLE analyst; SELECT privacy_internal._row_key(c.tableoid, c) FROM app.calls c LIMIT 1});
is($st, '42501', 'a role that cannot read the table cannot read it through _row_key either');
($st, $e) = fails($node, q{SET ROLE analyst; SELECT privacy_internal._row_key('app.calls'::regclass, ROW(1500::bigint, 'x', 'y'))});
is($st, '42501', 'nor ask on which side of the watermark a value lies');
$node->safe_psql('postgres', q{GRANT SELECT ON app.calls TO analyst});
is($node->safe_psql('postgres', q{SET ROLE analyst; SELECT string_agg(DISTINCT privacy_internal._row_key(c.tableoid, c), ',')
  FROM app.calls c WHERE c.id IN (5, 1500)}), $fp_b, 'one who may read it gets the key of each row');
is($node->safe_psql('postgres', q{SET ROLE analyst; SELECT privacy_internal._row_key(c.tableoid, c) FROM app.calls c WHERE c.id = 2000}),
	$fp_a, '(A past the watermark)');
is($node->safe_psql('postgres', q{SET ROLE analyst; SELECT privacy_internal._row_key('pg_catalog.pg_class'::regclass, NULL) IS NULL}),
	't', 'a relation without phone-number pseudonyms has no row key (nor tells the key\'s fingerprint)');

# --- Re-identification -----------------------------------------------------------
($st, $e) = fails($node, q{SELECT privacy.reidentify_msisdn(a) FROM app.calls WHERE id = 2000});
is($st, '55000', 'reidentify_msisdn without a key refuses while a rotation runs');
like($e, qr/privacy\.row_key\(t\.tableoid, t\.\*\)/, '(and says how to name the row\'s key)');
is($node->safe_psql('postgres', q{SELECT string_agg(c.id || '=' || privacy.reidentify_msisdn(c.a, 'default', privacy.row_key(c.tableoid, c)), ',' ORDER BY c.id)
  FROM app.calls c WHERE c.id IN (-1, 8, 2000)}), "-1=$y,8=+4520000008,2000=+4520000400",
	'reidentify_msisdn under the key of each row gives each number, on both sides of the watermark');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.audit_log WHERE event = 'pseudonym.reidentify' AND detail ? 'key'}), '3',
	'(each call audited with the key)');
($st, $e) = fails($node, q{SELECT privacy.reidentify_msisdn(a, 'default', 'pgp1:0000000000000000') FROM app.calls WHERE id = 2000});
is($st, '55000', 'a key not listed is refused');

# --- row_key in a PL/pgSQL function across a batch ------------------------------
# An expression of PL/pgSQL is kept for the transaction; at READ COMMITTED
# each of its statements reads anew, and so does row_key.
$node->safe_psql('postgres', q{CREATE FUNCTION app.key_of(bigint) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE rec app.calls;
BEGIN
  SELECT * INTO rec FROM app.calls WHERE id = $1;
  RETURN privacy.row_key('app.calls', rec);
END $f$;});
my $keyer = $node->background_psql('postgres');
$keyer->query_safe('BEGIN');
is($keyer->query_safe('SELECT app.key_of(1950)'), $fp_a, 'row_key in a function: call 1950 is under A');
is($node->safe_psql('postgres', q{SELECT (privacy_internal._rekey_rel('app.calls', 1000, 50)).rows}), '50',
	'a batch converts calls 1901 to 1950');
is($keyer->query_safe('SELECT app.key_of(1950)'), $fp_b, 'the same function in the same transaction: now under B');
$keyer->query_safe('COMMIT');
$keyer->quit;

# --- A REPEATABLE READ writer across a batch -------------------------------------
# It would write a row by the relation's latest state and read it back by
# its snapshot's: a serialization failure instead.
my $rr = $node->background_psql('postgres', on_error_stop => 0);
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$rr->query_safe('SELECT count(*) FROM app.calls');
is($node->safe_psql('postgres', q{SELECT (privacy_internal._rekey_rel('app.calls', 1000, 10)).rows}), '10',
	'a batch converts calls 1951 to 1960');
$rr->query(q{INSERT INTO app.calls VALUES (2700, '+4529999998', NULL)});
like($rr->{stderr}, qr/could not serialize access due to a concurrent key rotation of relation "calls"/,
	'a REPEATABLE READ writer whose snapshot is older than the batch fails to serialize (40001)');
$rr->{stderr} = '';
$rr->query_safe('ROLLBACK');
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$rr->query_safe(q{INSERT INTO app.calls VALUES (2700, '+4529999998', NULL)});
is($rr->query_safe(q{SELECT privacy.export_subject('msisdn', '+4529999998')->'tables'->0->'rows'->0->>'a'}), '+4529999998',
	'retried, it writes the row and reads it back in its own snapshot');
$rr->query_safe('COMMIT');
$rr->quit;
# The writer is checked once while its lock keeps rekey off the relation: a
# savepoint rolled back lets that lock go, and a batch may come in between.
# Checked again then.
$rr = $node->background_psql('postgres', on_error_stop => 0);
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$rr->query_safe('SELECT count(*) FROM app.calls');
$rr->query_safe('SAVEPOINT s');
$rr->query_safe(q{INSERT INTO app.calls VALUES (2701, '+4529999997', NULL)});
$rr->query_safe('ROLLBACK TO SAVEPOINT s');
is($node->safe_psql('postgres', q{SELECT (privacy_internal._rekey_rel('app.calls', 1000, 10)).rows}), '10',
	'a batch converts calls 1961 to 1970 once the savepoint is rolled back');
$rr->query(q{INSERT INTO app.calls VALUES (2701, '+4529999997', NULL)});
like($rr->{stderr}, qr/could not serialize access due to a concurrent key rotation of relation "calls"/,
	'a REPEATABLE READ writer is checked again after a savepoint rolled back (40001)');
$rr->{stderr} = '';
$rr->query_safe('ROLLBACK');
$rr->quit;

# --- A database at 0.16.0 with this library -----------------------------------
# Its statements cannot ask a row's key: a search that reaches a pending
# table refuses as 0.16.0 did; one that does not runs.
$node->safe_psql('postgres', 'CREATE DATABASE old16');
$node->safe_psql('old16', q{CREATE EXTENSION pg_privacy VERSION '0.16.0';
SELECT privacy.define_purpose('billing', 'contract');
CREATE TABLE calls (id bigint PRIMARY KEY, a text);
CREATE TABLE mails (id bigint, e text);
SELECT privacy.register_table(t, 'billing') FROM unnest('{calls,mails}'::regclass[]) t;
SELECT privacy.register_column('calls', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('mails', 'e', 'email', identifies => 'email');
SELECT privacy.protect('calls');
INSERT INTO calls VALUES (1, '+4520000001');
INSERT INTO mails VALUES (1, 'a@example.com');
INSERT INTO privacy.rekey_pending (rel, tbl, from_key) VALUES ('calls', 'calls', privacy.key_fingerprint());});
($st, $e) = fails($node, q{SELECT privacy.export_subject('msisdn', '+4520000001')}, 'old16');
is($st, '55000', 'at 0.16.0, an export that reaches the pending table refuses');
like($e, qr/phone-number pseudonyms of table public\.calls are not yet under the current key/, '(as 0.16.0 said)');
is($node->safe_psql('old16', q{SELECT jsonb_array_length(privacy.export_subject('email', 'a@example.com')->'tables')}), '1',
	'one that does not reach it runs');
$node->safe_psql('postgres', 'DROP DATABASE old16');

# --- Conversions at READ COMMITTED only ------------------------------------------
# A batch's snapshot taken before its lock (REPEATABLE READ) would miss a
# row committed in between and leave it under the old key below the new
# watermark: refused, as the rewrite of a table's rows when it is protected.
my $wm = $node->safe_psql('postgres', q{SELECT encode(watermark, 'hex') FROM privacy.rekey_pending WHERE rel = 'app.calls'::regclass});
($st, $e) = fails($node, q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM privacy_internal._rekey_rel('app.calls', 1000, 10); COMMIT;});
is($st, '55000', 'a batch at REPEATABLE READ is refused');
like($e, qr/cannot convert the rows of relation "calls" at isolation level REPEATABLE READ/, '(saying why)');
($st, $e) = fails($node, q{SET default_transaction_isolation = 'serializable'; CALL privacy.rekey();});
is($st, '55000', 'so is CALL privacy.rekey() in a session whose transactions are SERIALIZABLE');
like($e, qr/rekey must run at isolation level READ COMMITTED/, '(saying why)');
is($node->safe_psql('postgres', q{SELECT encode(watermark, 'hex') FROM privacy.rekey_pending WHERE rel = 'app.calls'::regclass}), $wm,
	'(the watermark did not move)');
$node->safe_psql('postgres', q{CREATE TABLE app.raw (id bigint, a text);
SELECT privacy.register_table('app.raw', 'billing');
SELECT privacy.register_column('app.raw', 'a', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
INSERT INTO app.raw VALUES (1, '+4520777777');});
($st, $e) = fails($node, q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT privacy.protect('app.raw', rewrite_existing => true); COMMIT;});
is($st, '55000', 'protect(rewrite_existing) at REPEATABLE READ is refused');
is($node->safe_psql('postgres', q{SELECT a || ' ' || privacy_internal._has_protect_trigger('app.raw') FROM app.raw}), '+4520777777 false',
	'(nothing changed)');
$node->safe_psql('postgres', q{SELECT privacy.protect('app.raw', rewrite_existing => true)});
is($node->safe_psql('postgres', q{SELECT a <> '+4520777777' FROM app.raw}), 't', 'at READ COMMITTED it converts the rows');

# --- The rotation finished -------------------------------------------------------
# A reader whose snapshot is older than the end of the rotation still
# sees rows under A (call 1999, subscription 399): it reads them so.
my $n399 = join(',', map { "app.calls:$_=+4520000399" } (399, 799, 1199, 1599, 1999)) . ',app.subs:399=+4520000399';
is(export_of('msisdn', '+4520000399'), $n399, 'the export of a number with rows past the watermarks');
my $old_reader = $node->background_psql('postgres');
$old_reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$old_reader->query_safe('SELECT count(*) FROM app.calls');
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey()');
is($ret, 0, 'the rotation finishes') or diag($err);
# (the document without its audit entry, which a REPEATABLE READ reader
# could not append after rekey's: 40001)
is($old_reader->query_safe($export_ids =~ s/KIND/msisdn/r =~ s/NUM/+4520000399/r
	=~ s/privacy\.export_subject\('msisdn', '\+4520000399'\)/privacy_internal._subject_export('msisdn', '+4520000399', NULL)/r), $n399,
	'a reader whose snapshot is older than its end finds the rows as they were (under A), read right');
$old_reader->query_safe('COMMIT');
$old_reader->quit;
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.rekey_pending'), '0', '(nothing pending)');
is(export_of('msisdn', $y), "app.calls:-1=$y", 'Y\'s row under B as it was');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.u WHERE privacy_internal._msisdn_decrypt(a, 'default') LIKE '+4580%'}), '30',
	'the table ordered by a uuid is converted, every row read back under B');
is(export_of('customer', 'C100'), join(',', map { "app.calls:$_=+4520000100" } (100, 500, 900, 1300, 1700)) . ',app.subs:100=+4520000100',
	'customer C100\'s rows under B as they were');

done_testing();
