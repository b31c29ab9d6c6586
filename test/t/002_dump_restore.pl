# The catalog, the audit log and protected data survive pg_dump and
# pg_restore: declarations come back (also when attribute numbers shift),
# the keyed hash chain still verifies (also against the head anchored in
# the server log, never under another key or without one), restored rows are not protected twice,
# and the protect trigger works in the restored database.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = PostgreSQL::Test::Utils::tempdir();
my $keyfile = "$dir/master.key";
open(my $fh, '>', $keyfile) or die;
print $fh join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32), "\n";
close($fh);
chmod(0600, $keyfile);

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$keyfile'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
CREATE EXTENSION pg_privacy;
CREATE SCHEMA telco;
-- a dropped column shifts attribute numbers in the restored table
CREATE TABLE telco.customer (gone int, customer_no text, contact_name text, email text);
ALTER TABLE telco.customer DROP COLUMN gone;
CREATE TABLE telco.cdr (a_number text, b_number text, started_at timestamptz, price numeric)
  PARTITION BY RANGE (started_at);
CREATE TABLE telco.cdr_2026_01 PARTITION OF telco.cdr FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
SELECT privacy.define_purpose('billing', 'contract', recipients => ARRAY['bank']);
SELECT privacy.define_purpose('traffic', 'legal_obligation');
SELECT privacy.register_table('telco.customer', 'billing');
SELECT privacy.register_column('telco.customer', 'customer_no', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('telco.customer', 'contact_name', 'name');
SELECT privacy.register_column('telco.customer', 'email', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.protect('telco.customer');
SELECT privacy.register_table('telco.cdr', 'traffic');
SELECT privacy.register_column('telco.cdr', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('telco.cdr', 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.cdr');
INSERT INTO telco.customer VALUES ('C001', 'Ann Jensen', 'Ann@Example.dk');
INSERT INTO telco.cdr VALUES ('+4520123456', '+4530123456', '2026-01-05 10:00', 1.25);
INSERT INTO privacy.category (name, description) VALUES ('contract_text', 'signed contract text');
});

my $catalog_q = q{SELECT table_name::text, column_name, category, identifies, link, protect, purpose, legal_basis, recipients
                  FROM privacy.personal_data ORDER BY 1, 2};
my $data_q = q{SELECT (SELECT string_agg(customer_no || contact_name || email, ',') FROM telco.customer)
               || '|' || (SELECT string_agg(a_number || b_number, ',') FROM telco.cdr)};
my $audit_q = q{SELECT count(*) || ':' || max(id) FROM privacy.audit_log};

my $catalog_before = $node->safe_psql('src', $catalog_q);
my $data_before = $node->safe_psql('src', $data_q);
my $audit_before = $node->safe_psql('src', $audit_q);
is($node->safe_psql('src', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'chain intact before the dump');

$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/src.dump", '-d', $node->connstr('src') ], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), "$dir/src.dump" ], 'pg_restore');

is($node->safe_psql('dst', $catalog_q), $catalog_before, 'the record of processing is restored');
is($node->safe_psql('dst', $data_q), $data_before, 'protected rows are restored as they were, not protected twice');
is($node->safe_psql('dst', $audit_q), $audit_before, 'the audit log is restored whole');
is($node->safe_psql('dst', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'the restored chain verifies');

# The chain is keyed and anchored: the newest head of each committing
# transaction is written to the server log, and verifies against the
# restored chain.
my @anchors = slurp_file($node->logfile) =~ /pg_privacy audit head: id=(\d+) hash=([0-9a-f]{64}) key=(\S+)/g;
ok(@anchors >= 3, 'audit heads are written to the server log');
my ($anchor_id, $anchor_hash, $anchor_key) = @anchors[-3 .. -1];
is("$anchor_id $anchor_hash", $node->safe_psql('src', q{SELECT last_id || ' ' || encode(last_hash, 'hex') FROM privacy.audit_head}),
	'the newest anchor in the log is the head of the chain');
is($anchor_key, $node->safe_psql('src', 'SELECT privacy.key_fingerprint()'), 'the anchor names the key fingerprint');
is($node->safe_psql('dst', "SELECT privacy.verify_audit_log($anchor_id, decode('$anchor_hash', 'hex')) IS NULL"), 't',
	'the restored chain holds the anchor from the log');
is($node->safe_psql('dst', "SELECT privacy.verify_audit_log($anchor_id, sha256('x'))"), $anchor_id,
	'a head the chain does not hold is reported');

# Only committed heads are anchored, and only in the server log.
my $nanchors = () = slurp_file($node->logfile) =~ /pg_privacy audit head:/g;
my ($ret, $out, $err) = $node->psql('src', q{
SET client_min_messages = debug5;
BEGIN;
SELECT privacy.define_purpose('rolled_back', 'contract');
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT privacy.define_purpose('rolled_back_savepoint', 'contract');
ROLLBACK TO s;
COMMIT;
BEGIN;
SELECT privacy.define_purpose('kept', 'contract');
SAVEPOINT s;
SELECT privacy.define_purpose('rolled_back_too', 'contract');
ROLLBACK TO s;
COMMIT;
});
is($ret, 0, 'appends with rollbacks run');
unlike($err, qr/audit head/, 'the anchor is never sent to the client');
my @new = slurp_file($node->logfile) =~ /pg_privacy audit head: id=(\d+) hash=([0-9a-f]{64})/g;
my $nanchors_after = () = slurp_file($node->logfile) =~ /pg_privacy audit head:/g;
is($nanchors_after - $nanchors, 1,
	'one anchor for the committed transaction, none for the rolled-back one');
is("$new[-2] $new[-1]", $node->safe_psql('src', q{SELECT last_id || ' ' || encode(last_hash, 'hex') FROM privacy.audit_head}),
	'the anchor names the committed head, not the rolled-back savepoint');
is($node->safe_psql('src', "SELECT privacy.verify_audit_log($new[-2], decode('$new[-1]', 'hex')) IS NULL"), 't',
	'the chain holds the new anchor');

# Restored onto a server with another key: never intact, both keys named.
my $otherkey = "$dir/other.key";
open(my $ofh, '>', $otherkey) or die;
print $ofh join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32), "\n";
close($ofh);
chmod(0600, $otherkey);
$node->safe_psql('postgres', "ALTER SYSTEM SET pg_privacy.key_file = '$otherkey'");
$node->reload;
$node->poll_query_until('dst', "SELECT current_setting('pg_privacy.key_file') = '$otherkey'")
  or die 'key file setting not reloaded';
my $otherfp = $node->safe_psql('dst', 'SELECT privacy.key_fingerprint()');
isnt($otherfp, $anchor_key, '(another key is loaded)');
($ret, $out, $err) = $node->psql('dst', "\\set VERBOSITY verbose\nSELECT privacy.verify_audit_log()");
like($err, qr/ERROR:\s+55000: the audit log was chained under another key/, 'another key: verification fails closed (55000)');
like($err, qr/DETAIL:.*name key \Q$anchor_key\E, which pg_privacy.key_file does not list; the loaded key is \Q$otherfp\E/, 'another key: both fingerprints named');
($ret, $out, $err) = $node->psql('dst', "SELECT privacy.verify_audit_log($anchor_id, decode('$anchor_hash', 'hex'))");
like($err, qr/chained under another key/, 'another key: verification against the anchor fails closed too');

# Without a key: 55000 and a hint, never intact.
$node->safe_psql('postgres', "ALTER SYSTEM SET pg_privacy.key_file = ''");
$node->reload;
$node->poll_query_until('dst', "SELECT current_setting('pg_privacy.key_file') = ''")
  or die 'key file setting not reloaded';
($ret, $out, $err) = $node->psql('dst', "\\set VERBOSITY verbose\nSELECT privacy.verify_audit_log()");
like($err, qr/ERROR:\s+55000: pg_privacy master key is not configured/, 'no key: verification fails closed (55000)');
like($err, qr/HINT:/, 'no key: with a hint');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pg_privacy.key_file');
$node->reload;
$node->poll_query_until('dst', "SELECT current_setting('pg_privacy.key_file') = '$keyfile'")
  or die 'key file setting not reloaded';
is($node->safe_psql('dst', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'the right key again: the chain verifies');
is($node->safe_psql('dst', q{SELECT count(*) FROM privacy.category WHERE name = 'contract_text'}), '1',
	'a user-defined category is restored');
is($node->safe_psql('dst', q{SELECT count(*) FROM privacy.category}),
	$node->safe_psql('src', q{SELECT count(*) FROM privacy.category}), 'built-in categories are not duplicated');
is($node->safe_psql('dst', 'SELECT count(*) FROM privacy.catalog_problems'), '0', 'no catalog problems after restore');
is($node->safe_psql('dst', q{SELECT attnum FROM privacy.registered_column WHERE col = 'email'}),
	$node->safe_psql('dst', q{SELECT attnum FROM pg_attribute WHERE attrelid = 'telco.customer'::regclass AND attname = 'email'}),
	'attribute numbers are re-resolved on restore');
isnt($node->safe_psql('src', q{SELECT attnum FROM pg_attribute WHERE attrelid = 'telco.customer'::regclass AND attname = 'email'}),
	$node->safe_psql('dst', q{SELECT attnum FROM pg_attribute WHERE attrelid = 'telco.customer'::regclass AND attname = 'email'}),
	'(they did shift)');

# The protect trigger works in the restored database, and agrees with the source.
$node->safe_psql($_, q{INSERT INTO telco.cdr VALUES ('20 12 34 56', '+46 70 123 45 67', '2026-01-06', 2)})
  for qw(src dst);
my $new_q = q{SELECT a_number || b_number FROM telco.cdr WHERE started_at = '2026-01-06'};
is($node->safe_psql('dst', $new_q), $node->safe_psql('src', $new_q), 'new rows are protected alike in both databases');
is($node->safe_psql('dst', q{SELECT count(*) FROM telco.cdr WHERE a_number = '+4520123456'}), '0',
	'no raw number in the restored table');

# A rename in the restored database is still followed.
$node->safe_psql('dst', 'ALTER TABLE telco.customer RENAME COLUMN contact_name TO full_name');
is($node->safe_psql('dst', q{SELECT count(*) FROM privacy.personal_data WHERE column_name = 'full_name'}), '1',
	'rename followed after restore');

$node->command_ok([ 'pg_dump', '-Fp', '-f', "$dir/src.sql", '-d', $node->connstr('src') ], 'pg_dump -Fp');
my $dumptext = slurp_file("$dir/src.sql");
unlike($dumptext, qr/20123456|30123456|701234567|Ann\@Example/i, 'the dump holds no raw identifier of a protected column');
like($dumptext, qr/Ann Jensen/, '(unprotected columns are dumped as they are)');

# Someone edits an audit entry in the dump: the restored chain shows it.
my ($copy, $rows) = $dumptext =~ /^(COPY privacy\.audit_log \(([^)]*)\) FROM stdin;\n)/m
  or die 'no audit log in the dump';
my @cols = split /, /, $rows;
my ($event_col) = grep { $cols[$_] eq 'event' } 0 .. $#cols;
my $first_edited;
(my $edited = $dumptext) =~ s{^(\Q$copy\E)([^\n]*)\n}{
	my @f = split /\t/, $2, -1;
	$first_edited = $f[0];
	$f[$event_col] = 'catalog.forged';
	$1 . join("\t", @f) . "\n"
}me;
ok(defined $first_edited, '(an audit entry was edited in the dump)');
open(my $efh, '>', "$dir/edited.sql") or die;
print $efh $edited;
close($efh);
$node->safe_psql('postgres', 'CREATE DATABASE edited');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('edited'), '-f', "$dir/edited.sql" ],
	'the edited dump restores');
is($node->safe_psql('edited', 'SELECT privacy.verify_audit_log()'), $first_edited,
	'an audit entry edited in a dump is found');

$node->stop;
done_testing();
