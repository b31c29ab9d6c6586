# The catalog, the audit log and protected data survive pg_dump and
# pg_restore: declarations come back (also when attribute numbers shift),
# the hash chain still verifies, restored rows are not protected twice,
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

$node->stop;
done_testing();
