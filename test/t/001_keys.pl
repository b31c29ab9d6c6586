# Keys: the key file is checked, derived keys match RFC 5869 HKDF and
# RFC 2104 HMAC computed independently here, pseudonyms survive a restart,
# a reload re-reads the key, and the key never reaches a log or a dump.
use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $keydir = PostgreSQL::Test::Utils::tempdir();
my $keyfile = "$keydir/master.key";

sub write_key
{
	my ($path, $content, $mode) = @_;
	open(my $fh, '>', $path) or die "cannot write $path: $!";
	print $fh $content;
	close($fh);
	chmod($mode, $path) or die "chmod $path: $!";
}

sub random_hex
{
	return join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32);
}

# HKDF-SHA256 (RFC 5869) for one 32-byte block, as pg_privacy derives keys.
sub derive
{
	my ($hex, $purpose, $domain) = @_;
	my $prk = hmac_sha256(pack('H*', $hex), 'pg_privacy master key v1');
	my $info = $purpose . "\0" . $domain . "\0" . pack('N', 1);
	return hmac_sha256($info . "\x01", $prk);
}

sub expected_pseudonym
{
	my ($hex, $value, $domain) = @_;
	my $mac = hmac_sha256($value, derive($hex, 'pseudonym', $domain));
	return encode_base64url(substr($mac, 0, 16));
}

sub expected_fingerprint
{
	my ($hex) = @_;
	return 'pgp1:' . unpack('H*', substr(derive($hex, 'fingerprint', ''), 0, 8));
}

my $node = PostgreSQL::Test::Cluster->new('keys');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
log_statement = 'all'
log_min_messages = debug1
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_privacy');

# Runs one statement; returns its SQLSTATE ('' on success), stdout, stderr.
sub try_sql
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\n$sql", on_error_stop => 1);
	my ($state) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ($state // '', $out, $err);
}

# --- refusals ------------------------------------------------------------

my ($state, $out, $err) = try_sql("SELECT privacy.pseudonymize('x')");
is($state, '55000', 'no key configured: 55000');
like($err, qr/master key is not configured/, 'no key: message says so');
like($err, qr/HINT:.*openssl rand -hex 32/, 'no key: hint says how to make one');

sub set_key_file
{
	my ($path) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET pg_privacy.key_file = '$path'");
	$node->reload;
}

# A relative path is refused when set (the check hook), not at first use;
# written into postgresql.conf, the reload keeps the previous value.
($state, undef, $err) = try_sql("ALTER SYSTEM SET pg_privacy.key_file = 'relative/master.key'");
is($state, '22023', 'relative path refused when set');
like($err, qr/must be an absolute path/, 'relative path: message');
like($err, qr/HINT:.*full path/, 'relative path: hint');
$node->append_conf('postgresql.conf', "pg_privacy.key_file = 'relative/master.key'\n");
$node->reload;
($state, undef, $err) = try_sql("SELECT privacy.key_fingerprint()");
is($state, '55000', 'relative path in the file: not taken, the key stays unconfigured');
like($err, qr/master key is not configured/, 'relative path in the file: no key');
$node->adjust_conf('postgresql.conf', 'pg_privacy.key_file', "''");
$node->reload;

set_key_file("$keydir/missing.key");
($state, undef, $err) = try_sql("SELECT privacy.key_fingerprint()");
is($state, '55000', 'missing file refused');
like($err, qr/cannot be opened/, 'missing file: message');

my $key1 = random_hex();
write_key($keyfile, "$key1\n", 0644);
set_key_file($keyfile);
($state, undef, $err) = try_sql("SELECT privacy.key_fingerprint()");
is($state, '55000', 'group/other-readable file refused');
like($err, qr/accessible by group or others/, 'loose permissions: message');

write_key($keyfile, substr($key1, 0, 63) . "\n", 0600);
($state, undef, $err) = try_sql("SELECT privacy.key_fingerprint()");
is($state, '55000', '63 hex digits refused');
like($err, qr/malformed/, 'short key: message');
unlike($err, qr/\Q@{[substr($key1, 0, 16)]}\E/, 'short key: content not echoed');

write_key($keyfile, "zz" . substr($key1, 2) . "\n", 0600);
($state, undef, $err) = try_sql("SELECT privacy.key_fingerprint()");
is($state, '55000', 'non-hex key refused');

write_key($keyfile, "$key1\n$key1\n", 0600);
($state, undef, $err) = try_sql("SELECT privacy.key_fingerprint()");
is($state, '55000', 'trailing garbage refused');

my $inside = $node->data_dir . '/master.key';
write_key($inside, "$key1\n", 0600);
set_key_file($inside);
($state, undef, $err) = try_sql("SELECT privacy.key_fingerprint()");
is($state, '55000', 'key file inside the data directory refused');
like($err, qr/inside the data directory/, 'inside data dir: message');
unlink($inside);

# --- a good key: values match an independent HKDF + HMAC -----------------

write_key($keyfile, "$key1\n", 0600);
set_key_file($keyfile);
is($node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()'),
	expected_fingerprint($key1), 'fingerprint = HKDF(master, "fingerprint") computed in Perl');
is($node->safe_psql('postgres', q{SELECT privacy.pseudonymize('+4520123456')}),
	expected_pseudonym($key1, '+4520123456', 'default'),
	'pseudonym = base64url(HMAC-SHA256(HKDF key, value)[0..15]) computed in Perl');
is($node->safe_psql('postgres', q{SELECT privacy.pseudonymize('ann@example.dk', 'analytics')}),
	expected_pseudonym($key1, 'ann@example.dk', 'analytics'),
	'domain enters the derivation as RFC 5869 info');

my $before = $node->safe_psql('postgres',
	q{SELECT privacy.pseudonymize('+4520123456') || ' ' || privacy.pseudonymize_msisdn('+4520123456')
	         || ' ' || privacy.pseudonymize_email('ann@example.dk')});

# --- determinism across a restart ----------------------------------------

$node->restart;
is($node->safe_psql('postgres',
	q{SELECT privacy.pseudonymize('+4520123456') || ' ' || privacy.pseudonymize_msisdn('+4520123456')
	         || ' ' || privacy.pseudonymize_email('ann@example.dk')}),
	$before, 'the same pseudonyms after a server restart');

# --- a reload re-reads the key, also in a running session ----------------

my $key2 = random_hex();
my $session = $node->background_psql('postgres');
is($session->query_safe('SELECT privacy.key_fingerprint()'),
	expected_fingerprint($key1), 'open session uses key 1');
write_key($keyfile, "$key2\n", 0600);
$node->reload;
# The session handles the reload signal before its next statement.
$session->query_safe('SELECT pg_sleep(0.2)');
is($session->query_safe('SELECT privacy.key_fingerprint()'),
	expected_fingerprint($key2), 'the same session uses key 2 after the reload');
# The database remembers key 1: keyed work under key 2 fails closed, in the
# open session too, naming both fingerprints, until the change is declared.
($state, undef, $err) = try_sql(q{SELECT privacy.pseudonymize('+4520123456')});
is($state, '55000', 'keyed work under another key: 55000');
like($err, qr/does not match this database/, 'wrong key: message says so');
my ($fp1, $fp2) = (expected_fingerprint($key1), expected_fingerprint($key2));
like($err, qr/fingerprint \Q$fp1\E.*fingerprint \Q$fp2\E/s, 'wrong key: both fingerprints named');
like($err, qr/accept_key_change\('\Q$fp1\E'\)/, 'wrong key: the hint shows the declaration');
($state, undef, $err) = try_sql(q{SELECT privacy.reidentify_msisdn(privacy.pseudonymize_msisdn('+4520123456'))});
is($state, '55000', 're-identification under another key: 55000');
is($session->query_safe(q{SELECT count(*) FROM privacy.key_state}), '1', 'one recorded key');
($state, undef, $err) = try_sql(q{SELECT privacy.accept_key_change('pgp1:0000000000000000')});
is($state, '22023', 'accept_key_change with a wrong old fingerprint: 22023');
is($node->safe_psql('postgres', qq{SELECT privacy.accept_key_change('$fp1')}), $fp2,
	'accept_key_change declares key 2');
is($session->query_safe(q{SELECT privacy.pseudonymize('+4520123456')}),
	expected_pseudonym($key2, '+4520123456', 'default'),
	'cached derived keys were dropped on reload, and the open session follows the declared key');
is($node->safe_psql('postgres', q{SELECT detail->>'from' || ' ' || (detail->>'to') FROM privacy.audit_log WHERE event = 'key.change'}),
	"$fp1 $fp2", 'the key change is audited with both fingerprints');
$session->quit;

# --- the key never appears in a log, a setting or a dump ------------------

$node->safe_psql('postgres', q{
CREATE ROLE regress_app LOGIN;
CREATE TABLE t (phone text);
SELECT privacy.define_purpose('p', 'contract');
SELECT privacy.register_table('t', 'p');
SELECT privacy.register_column('t', 'phone', 'phone', identifies => 'msisdn', protect => 'pseudonym');
SELECT privacy.protect('t');
INSERT INTO t VALUES ('+4520123456');
});
is($node->safe_psql('postgres',
	q{SET ROLE regress_app; SELECT count(*) FROM pg_settings WHERE name = 'pg_privacy.key_file'}),
	'0', 'key_file is hidden from pg_settings for ordinary roles');

my $dumpfile = "$keydir/dump.sql";
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dumpfile ],
	'pg_dump succeeds');
my $dump = slurp_file($dumpfile);
unlike($dump, qr/\Q$key1\E|\Q$key2\E/i, 'the dump holds no key');
like($dump, qr/registered_column/, 'the dump holds the catalog');

my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$key1\E|\Q$key2\E/i, 'the server log holds no key');
like($log, qr/key_fingerprint/, 'the log did record the statements (log_statement = all)');

# Rejected numbers are not echoed into the log with the failing statement.
$node->psql('postgres', q{SELECT privacy.pseudonymize_msisdn('+45 2O12 999')});
$log = slurp_file($node->logfile);
like($log, qr/invalid phone number/, 'the error is logged');
unlike($log, qr/STATEMENT:.*2O12 999/, 'the failing statement (with the number) is not logged with the error');

$node->stop;
done_testing();
