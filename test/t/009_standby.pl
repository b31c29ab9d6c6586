# Read replicas: applications read from physical standbys.  On a streaming
# standby the keyless functions, consent checks, lookups by pseudonym and
# the read-only entry points work; the entry points that must write (the
# audited re-identification, export, erasure, catalog changes) refuse with
# an error that names the primary as the place to run them.
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

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$keyfile'
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION pg_privacy;
CREATE SCHEMA telco;
CREATE TABLE telco.cdr (a_number text, started_at timestamptz);
SELECT privacy.define_purpose('traffic', 'legal_obligation');
SELECT privacy.define_purpose('news', 'consent');
SELECT privacy.register_table('telco.cdr', 'traffic');
SELECT privacy.register_column('telco.cdr', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.cdr');
INSERT INTO telco.cdr VALUES ('+4520123456', now());
SELECT privacy.grant_consent('msisdn', '+4520123456', 'news', 'web form');
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# --- what works read-only -------------------------------------------------
is($standby->safe_psql('postgres', q{SELECT privacy.normalize_msisdn('20 12 34 56')}),
	'+4520123456', 'keyless normalization works on the standby');
is($standby->safe_psql('postgres', q{SELECT privacy.mask_msisdn('+4520123456')}),
	$primary->safe_psql('postgres', q{SELECT privacy.mask_msisdn('+4520123456')}),
	'masking works on the standby');
is($standby->safe_psql('postgres', q{SELECT privacy.key_fingerprint()}),
	$primary->safe_psql('postgres', q{SELECT privacy.key_fingerprint()}),
	'the standby holds the same key');
is($standby->safe_psql('postgres',
	q{SELECT count(*) FROM telco.cdr WHERE a_number = privacy.pseudonymize_msisdn('+4520123456')}),
	'1', 'a lookup by pseudonym finds the row on the standby');
is($standby->safe_psql('postgres', q{SELECT privacy.has_consent('msisdn', '+4520123456', 'news')}),
	't', 'has_consent works on the standby');
is($standby->safe_psql('postgres', q{SELECT privacy.verify_audit_log() IS NULL}),
	't', 'the audit chain verifies on the standby');
is($standby->safe_psql('postgres', q{SELECT privacy.is_restricted('msisdn', '+4520123456')}),
	'f', 'is_restricted (read-only entry point) works on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM privacy.protected_tables WHERE protected}),
	'1', 'protected_tables reads on the standby');
is($standby->safe_psql('postgres',
	q{SELECT string_agg(area || '=' || status, ',' ORDER BY area) FROM privacy.health() WHERE area IN ('library', 'key', 'protection')}),
	'key=ok,library=ok,protection=ok', 'privacy.health() answers read-only on the standby');

# --- what must write refuses, naming the primary --------------------------
my $standby_log = -s $standby->logfile;
for my $case (
	[ q{SELECT privacy.reidentify_msisdn(privacy.pseudonymize_msisdn('+4520123456'))}, 'reidentify_msisdn' ],
	[ q{SELECT privacy.export_subject('msisdn', '+4520123456')}, 'export_subject' ],
	[ q{SELECT * FROM privacy.erase_subject('msisdn', '+4520123456')}, 'erase_subject' ],
	[ q{SELECT privacy.define_purpose('other', 'contract')}, 'define_purpose' ],
	[ q{SELECT privacy.grant_consent('msisdn', '+4520999999', 'news', 'web form')}, 'grant_consent' ])
{
	my ($sql, $fn) = @$case;
	my ($rc, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	isnt($rc, 0, "$fn refuses on the standby");
	like($err, qr/25006: pg_privacy function \Q$fn\E cannot run on a standby server/,
		"$fn: read-only transaction error names the function");
	like($err, qr/HINT:\s+Run it on the primary server/, "$fn: the hint names the primary");
}
# the refusals are logged without the statements, which name subjects
my $slog = slurp_file($standby->logfile, $standby_log);
like($slog, qr/cannot run on a standby server/, 'the refusals are logged on the standby');
unlike($slog, qr/STATEMENT:[^\n]*\+4520/, 'without the statements naming subjects');

# and the same calls work on the primary
is($primary->safe_psql('postgres',
	q{SELECT privacy.reidentify_msisdn(privacy.pseudonymize_msisdn('+4520123456'))}),
	'+4520123456', 're-identification works on the primary');

$standby->stop;
$primary->stop;
done_testing();
