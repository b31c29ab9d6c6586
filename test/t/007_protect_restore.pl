# The protect trigger across dump and restore, and in the server log:
# domain grants are dumped with the catalog; a full restore of a table that
# a non-superuser owns and protects passes the event triggers and stores
# every value once; a data-only restore into protected tables is refused
# through the trigger and works with --disable-triggers (as a superuser,
# audited), after which protection is in force again; errors about a value
# written to a protected table never log the statement with the value.
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

my $node = PostgreSQL::Test::Cluster->new('protect');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$keyfile'
log_statement = none
});
$node->start;

$node->safe_psql('postgres', q{
CREATE ROLE regress_owner LOGIN;
CREATE DATABASE src OWNER regress_owner;
});
$node->safe_psql('src', q{
CREATE EXTENSION pg_privacy;
GRANT EXECUTE ON FUNCTION privacy.register_table(regclass, text),
                          privacy.register_column(regclass, name, text, text, text, text, text),
                          privacy.protect(regclass, boolean) TO regress_owner;
SELECT privacy.define_purpose('traffic', 'legal_obligation');
SELECT privacy.grant_domain('default', 'regress_owner');
SELECT privacy.grant_domain('analytics', 'regress_owner');
});
$node->safe_psql('src', q{
SET ROLE regress_owner;
CREATE SCHEMA telco;
CREATE TABLE telco.cdr (id int, a_number text, b_number text, started date, PRIMARY KEY (id, started))
  PARTITION BY RANGE (started);
CREATE TABLE telco.cdr_01 PARTITION OF telco.cdr FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE telco.cdr_02 PARTITION OF telco.cdr FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
CREATE FUNCTION telco.early() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER a_early BEFORE INSERT ON telco.cdr FOR EACH ROW EXECUTE FUNCTION telco.early();
SELECT privacy.register_table('telco.cdr', 'traffic');
SELECT privacy.register_column('telco.cdr', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('telco.cdr', 'b_number', 'phone', identifies => 'msisdn', link => 'mention',
                               protect => 'pseudonym', domain => 'analytics');
SELECT privacy.protect('telco.cdr');
INSERT INTO telco.cdr VALUES (1, '+4520123456', '20 55 66 77', '2026-01-05'),
                             (2, '+4520123457', '+4520556677', '2026-01-06');
INSERT INTO telco.cdr VALUES (1, '+4520123458', '+4530000000', '2026-01-05')
  ON CONFLICT (id, started) DO UPDATE SET a_number = EXCLUDED.a_number, b_number = EXCLUDED.b_number;
UPDATE telco.cdr SET started = '2026-02-07' WHERE id = 2;
});

my $data_q = q{SELECT string_agg(id || ':' || a_number || ':' || b_number || ':' || started, ',' ORDER BY id) FROM telco.cdr};
my $check_q = q{SELECT string_agg(id || ':' || privacy.reidentify_msisdn(a_number) || ':'
                       || (b_number = privacy.pseudonymize(CASE id WHEN 1 THEN '+4530000000' ELSE '+4520556677' END, 'analytics')),
                       ',' ORDER BY id) FROM telco.cdr};
my $data_before = $node->safe_psql('src', $data_q);
is($node->safe_psql('src', $check_q), '1:+4520123458:true,2:+4520123457:true',
	'upsert and partition move stored every value once, normalized');

my $dump = "$dir/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump');

# Full restore (as a superuser, as a DBA restores): the protect trigger is
# created after the data and the event triggers let it pass.
$node->safe_psql('postgres', 'CREATE DATABASE dst OWNER regress_owner');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ], 'full pg_restore');
is($node->safe_psql('dst', $data_q), $data_before, 'restored rows are as they were, not protected twice');
is($node->safe_psql('dst', q{SELECT string_agg(domain || '=' || grantee::text, ',' ORDER BY domain) FROM privacy.domain_grant}),
	'analytics=regress_owner,default=regress_owner', 'domain grants are restored');
is($node->safe_psql('dst', q{SELECT protected FROM privacy.protected_tables WHERE table_name = 'telco.cdr'::regclass}),
	't', 'protection is in force after the restore');
is($node->safe_psql('dst', 'SELECT count(*) FROM privacy.catalog_problems'), '0', 'no catalog problems after the restore');
$node->safe_psql('dst', q{SET ROLE regress_owner; INSERT INTO telco.cdr VALUES (3, '+4520123459', '+4520556677', '2026-02-08')});
is($node->safe_psql('dst', q{SELECT privacy.reidentify_msisdn(a_number) FROM telco.cdr WHERE id = 3}),
	'+4520123459', 'the owner writes through the restored protection');

# Data-only restore into protected tables: through the trigger it would
# transform twice, so it is refused; with --disable-triggers it loads the
# rows as dumped (the superuser's disabling is audited), and the
# protection is in force again afterwards.
$node->safe_psql('postgres', 'CREATE DATABASE dst2 OWNER regress_owner');
$node->command_ok([ 'pg_restore', '--exit-on-error', '--schema-only', '-d', $node->connstr('dst2'), $dump ],
	'schema-only restore');
{
	# pg_restore names itself in application_name unless PGAPPNAME says otherwise
	delete local $ENV{PGAPPNAME};
	$node->command_fails_like(
		[ 'pg_restore', '--exit-on-error', '--single-transaction', '--data-only', '-d', $node->connstr('dst2'), $dump ],
		qr/cannot restore rows into protected table "cdr_01" through its protect trigger/,
		'data-only restore through the protect trigger is refused');
}
is($node->safe_psql('dst2', 'SELECT (SELECT count(*) FROM telco.cdr) + (SELECT count(*) FROM privacy.registered_column)'),
	'0', 'nothing was loaded twice-protected');
$node->command_ok([ 'pg_restore', '--exit-on-error', '--data-only', '--disable-triggers', '-d', $node->connstr('dst2'), $dump ],
	'data-only restore with --disable-triggers');
is($node->safe_psql('dst2', $data_q), $data_before, 'data-only rows are as they were, not protected twice');
is($node->safe_psql('dst2', q{SELECT protected FROM privacy.protected_tables WHERE table_name = 'telco.cdr'::regclass}),
	't', 'protection is in force again after the data-only restore');

# A non-superuser owner cannot take the superuser's way.
my ($stdout, $stderr);
$node->psql('dst', 'ALTER TABLE telco.cdr DISABLE TRIGGER ALL', stdout => \$stdout, stderr => \$stderr,
	extra_params => [ '-U', 'regress_owner' ]);
like($stderr, qr/cannot switch off the protection of table telco\.cdr/, 'the owner cannot disable the protect trigger');

# Errors about a value never log the statement that holds it.
$node->safe_psql('dst', q{
CREATE TABLE telco.place (country text, phone text);
ALTER TABLE telco.place OWNER TO regress_owner;
SELECT privacy.register_table('telco.place', 'traffic');
SELECT privacy.register_column('telco.place', 'country', 'location', protect => 'country');
SELECT privacy.register_column('telco.place', 'phone', 'phone', identifies => 'msisdn', protect => 'pseudonym');
SELECT privacy.protect('telco.place');
});
$node->psql('dst', q{INSERT INTO telco.place VALUES ('QX', NULL)}, extra_params => [ '-U', 'regress_owner' ]);
$node->psql('dst', q{INSERT INTO telco.place VALUES (NULL, 'call 2O55 6677')}, extra_params => [ '-U', 'regress_owner' ]);
$node->psql('dst', q{SELECT privacy.country_of('QX')});
my $log = slurp_file($node->logfile);
like($log, qr/unknown country code/, 'the country error is logged');
like($log, qr/invalid phone number/, 'the phone number error is logged');
# (quoted, as a statement or a message would hold it: a pseudonym logged
# by the restore's COPY may contain the letters QX)
unlike($log, qr/['"]QX['"]|2O55 6677/, 'neither the value nor the statement holding it is in the log');
like($log, qr/superuser \S+ switched off protection of table telco\.cdr/, 'the superuser\'s disabling is in the server log');
is($node->safe_psql('dst', q{SELECT count(*) FROM privacy.audit_log WHERE event = 'protect.weakened'}), '0',
	'(no audit entry: the full restore did not switch anything off)');

$node->stop;
done_testing();
