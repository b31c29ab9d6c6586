# Older keys in pg_privacy.key_file: after a key change, what was made
# under the replaced key (audit entries, erasure ledger lines) is checked
# with it while its file is listed after the new key's, and refused (55000,
# saying which key) when it is not; privacy.key_versions says what needs
# each key.  A backup taken before the key change is restored into a
# cluster that runs its key, lists the new one after it, and replays the
# erasures recorded under both.
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
my $key_bad = key_file($dir, 'bad', 0644);
mkdir("$dir/ledger") or die;
chmod(0700, "$dir/ledger");
my $ledger = "$dir/ledger/erasures.ledger";

my $node = PostgreSQL::Test::Cluster->new('keys');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$key_a'
pg_privacy.erasure_ledger_file = '$ledger'
});
$node->start;

# Set pg_privacy.key_file and wait until new sessions see it.
$node->safe_psql('postgres', 'CREATE EXTENSION pg_privacy');
for my $f ("$src/test/data/telephony.sql", "$src/test/data/register.sql", "$src/test/data/register_subject.sql")
{
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $f ],
		"load $f");
}
$node->safe_psql('postgres', 'SELECT telco.generate(42, 1)');
my ($x, $y, $z) = split /\n/, $node->safe_psql('postgres', q{
SELECT c.customer_id FROM telco.customer c
 WHERE EXISTS (SELECT FROM telco.subscription s WHERE s.customer_id = c.customer_id)
   AND NOT EXISTS (SELECT FROM telco.subscription s JOIN telco.subscription o
                     ON o.msisdn = s.msisdn AND o.customer_id <> s.customer_id
                    WHERE s.customer_id = c.customer_id)
 ORDER BY c.customer_id LIMIT 3});
my $fp_a = $node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()');

# a database at 0.7.0, whose restrictions do not name their key yet: one
# made under A here, one under B after the key change, then updated
$node->safe_psql('postgres', 'CREATE DATABASE v7');
$node->safe_psql('v7', q{CREATE EXTENSION pg_privacy VERSION '0.7.0'});
$node->safe_psql('v7', q{SELECT privacy.restrict_subject('customer', '41', 'under A')});

sub customer_rows
{
	my ($n, $db, $c) = @_;
	return $n->safe_psql($db, qq{SELECT count(*) FROM telco.customer WHERE customer_id = $c});
}

# the first subject's calls, found under key A before it is erased
my $x_cdrs = $node->safe_psql('postgres', qq{
SELECT string_agg(d.cdr_id::text, ',') FROM telco.cdr d
 WHERE d.a_number IN (SELECT privacy.pseudonymize_msisdn(s.msisdn) FROM telco.subscription s WHERE s.customer_id = $x)});
like($x_cdrs, qr/^\d+(,\d+)*$/, 'the first subject has calls');
my ($ret, $out, $err);

# consent recorded under A: the third subject's e-mail address, and the
# first's, which is erased below (its events keep their reference only)
my ($x_email, $z_email) = split /\n/, $node->safe_psql('postgres', qq{
SELECT email FROM telco.customer WHERE customer_id IN ($x, $z) ORDER BY customer_id});
$node->safe_psql('postgres', qq{
SELECT privacy.define_purpose('kc_news', 'consent');
SELECT privacy.grant_consent('email', '$x_email', 'kc_news', 'web', 'n-1');
SELECT privacy.grant_consent('email', '$z_email', 'kc_news', 'web', 'n-1');
SELECT privacy.withdraw_consent('email', '$z_email', 'kc_news', 'mail');});

# --- a backup, then an erasure under key A ----------------------------------
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/before.dump", '-d', $node->connstr('postgres') ],
	'a logical backup before the erasures and the key change');
$node->safe_psql('postgres', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$x')});
is(customer_rows($node, 'postgres', $x), '0', 'the first subject is erased under key A');

# a third subject's processing is restricted under key A (its keyed
# references are made with A); it and the second subject have requests
# open, recorded under A too
$node->safe_psql('postgres', qq{SELECT privacy.restrict_subject('customer', '$z', 'accuracy contested')});
my $z_request = $node->safe_psql('postgres', qq{SELECT privacy.open_request('customer', '$z', 'access')});
my $y_request = $node->safe_psql('postgres', qq{SELECT privacy.open_request('customer', '$y', 'erasure')});
sub update_z
{
	my ($n) = @_;
	return $n->psql('postgres', qq{UPDATE telco.customer SET email = email WHERE customer_id = $z});
}
($ret, $out, $err) = update_z($node);
like($err, qr/cannot update a row of a data subject whose processing is restricted/, 'under key A, the restricted subject\'s row cannot be updated');

# --- the key is changed: B current, A listed after it ------------------------
set_keys($node, "$key_b, $key_a");
my $fp_b = $node->safe_psql('postgres', 'SELECT privacy.key_fingerprint()');
isnt($fp_b, $fp_a, 'key B is loaded as the current key');
($ret, $out, $err) = $node->psql('postgres', q{SELECT privacy.pseudonymize_msisdn('+4520123456')});
like($err, qr/pg_privacy master key does not match this database/,
	'keyed work fails closed until the change is declared');
($ret, $out, $err) = $node->psql('postgres', qq{SELECT privacy.accept_key_change('$fp_a')});
is($ret, 0, 'accept_key_change declares it');
unlike($err, qr/WARNING/, '... with no warning: the replaced key stays listed');
is($node->safe_psql('postgres', 'SELECT privacy.verify_audit_log() IS NULL'), 't',
	'verify_audit_log checks the entries made under A with A, and those under B with B');
# the CDRs' phone-number pseudonyms, converted from A to B
($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.rekey()');
like($err, qr/rekeyed \d+ relation\(s\)/, 'rekey converts the CDRs\' numbers to key B');
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.rekey_pending'), '0', '(none is left under A)');

# the 0.7.0 database: its key change and, in the same transaction, a
# restriction under B (the transaction began under A); the update
$node->safe_psql('v7', qq{BEGIN; SELECT privacy.accept_key_change('$fp_a');
SELECT privacy.restrict_subject('customer', '42', 'under B'); COMMIT;});
$node->safe_psql('v7', 'ALTER EXTENSION pg_privacy UPDATE');
is($node->safe_psql('v7', qq{
SELECT string_agg(r.reason || ':' || (r.key_fingerprint = CASE r.reason WHEN 'under A' THEN '$fp_a' ELSE '$fp_b' END), ',' ORDER BY r.reason)
       || ' ' || privacy.is_restricted('customer', '41') || ' ' || privacy.is_restricted('customer', '42')
  FROM privacy.restriction r}),
	'under A:true,under B:false true true',
	'updated from 0.7.0 after a key change: both restrictions hold, also the one made in the transaction of the change (named after the key the transaction began under, matched under the current key)');
$node->safe_psql('v7', q{SELECT privacy.restrict_subject('customer', '42', 'under B')});
is($node->safe_psql('v7', qq{SELECT key_fingerprint = '$fp_b' FROM privacy.restriction WHERE reason = 'under B'}), 't',
	'... and restricted again, it names the current key');

# The restriction made under A holds under B: its references are checked
# under the key each was made with.
($ret, $out, $err) = update_z($node);
like($err, qr/cannot update a row of a data subject whose processing is restricted/,
	'after the key change, the row of the subject restricted under A still cannot be updated');
is($node->safe_psql('postgres', qq{SELECT privacy.is_restricted('customer', '$z')}), 't', '... is_restricted says so');
is($node->safe_psql('postgres', qq{SELECT privacy.export_subject('customer', '$z') ->> 'restricted'}), 'true',
	'... and so does its export');
is($node->safe_psql('postgres', qq{SELECT privacy.export_subject('customer', '$z') -> 'requests' -> 0 ->> 'id'}), $z_request,
	'the export lists the request opened under A');
# The consent history recorded under A is found under B: by the identifier,
# and (the erased subject's) by its reference under A.
is($node->safe_psql('postgres', qq{SELECT string_agg(event, ',' ORDER BY event_id) FROM privacy.consent_history('email', '$z_email')}),
	'grant,withdraw', 'consent_history finds the events recorded under A');
is($node->safe_psql('postgres', qq{
SELECT r -> 'consents' -> 0 ->> 'state' FROM jsonb_array_elements(privacy.export_subject('customer', '$z') -> 'consent') r
 WHERE r -> 'piiPrincipalId' ->> 'kind' = 'email'}),
	'withdrawn', '... and so do the receipts in its export');
is($node->safe_psql('postgres', qq{SELECT string_agg(event, ',' ORDER BY event_id) FROM privacy.consent_history('email', '$x_email')}),
	'grant', '... and the history of the subject erased under A, by its reference under A');
is($node->safe_psql('postgres', qq{SELECT string_agg(DISTINCT key_fingerprint, ',') FROM privacy.restriction}), $fp_a,
	'... its references stay under A, which privacy.restriction names');
is($node->safe_psql('postgres', qq{SELECT restrictions > 0 AND needed FROM privacy.key_versions WHERE fingerprint = '$fp_a'}), 't',
	'key_versions counts the restrictions made under A, which need it');
# the purge's anonymization leaves the rows of the subject restricted
# under A too
$node->safe_psql('postgres', qq{
CREATE TABLE telco.note (id int, email text, at timestamptz NOT NULL);
SELECT privacy.register_table('telco.note', 'customer_relationship');
SELECT privacy.register_column('telco.note', 'email', 'email', identifies => 'email');
INSERT INTO telco.note SELECT 1, email, now() - interval '40 days' FROM telco.customer WHERE customer_id = $z;
INSERT INTO telco.note VALUES (2, 'someone.else\@example.dk', now() - interval '40 days');
SELECT privacy.set_retention('telco.note', 'at', '30 days', 'anonymize', time_zone => 'UTC');
SELECT count(*) FROM privacy.purge(false, 'telco.note');});
is($node->safe_psql('postgres', q{SELECT string_agg(id || ':' || (email IS NULL), ',' ORDER BY id) FROM telco.note}),
	'1:false,2:true', 'the purge anonymizes the expired rows but those of the subject restricted under A');
$node->safe_psql('postgres', q{SELECT privacy.drop_retention('telco.note'); SELECT privacy.unregister_table('telco.note'); DROP TABLE telco.note;});
# restricted again under B: references under B, the subject's under both keys
$node->safe_psql('postgres', qq{SELECT privacy.restrict_subject('customer', '$z', 'accuracy contested again')});
is($node->safe_psql('postgres', qq{SELECT string_agg(DISTINCT key_fingerprint, ',' ORDER BY key_fingerprint) = (SELECT string_agg(f, ',' ORDER BY f) FROM unnest(ARRAY['$fp_a', '$fp_b']) f)
                                     FROM privacy.restriction}), 't',
	'a restriction made under B is made under B');
is($node->safe_psql('postgres', qq{SELECT count(DISTINCT key_fingerprint) FROM privacy.audit_log WHERE key_fingerprint IN ('$fp_a', '$fp_b')}),
	'2', '... the log holding entries under both');

# Whoever still holds key A cannot append to the audit log under it: the
# chain's key changes only at an accept_key_change entry, and its newest
# entries must be under the database's key.
sub forged_audit
{
	my ($event, $detail) = @_;
	return $node->safe_psql('postgres', qq{
BEGIN;
INSERT INTO privacy.audit_log (id, at, actor, role, event, object, detail, prev_hash, hash, key_fingerprint)
SELECT h.last_id + 1, now(), 'mallory', 'mallory', '$event', NULL, '$detail'::jsonb, h.last_hash,
       privacy_internal._audit_digest(h.last_hash, h.last_id + 1, now(), 'mallory', 'mallory', '$event', NULL, '$detail'::jsonb, '$fp_a'),
       '$fp_a'
  FROM privacy.audit_head h;
UPDATE privacy.audit_head SET last_id = l.id, last_hash = l.hash
  FROM (SELECT id, hash FROM privacy.audit_log ORDER BY id DESC LIMIT 1) l;
SELECT privacy.verify_audit_log() = (SELECT max(id) FROM privacy.audit_log);
ROLLBACK;});
}
is(forged_audit('forged.event', '{}'), 't', 'an entry appended under the replaced key A does not verify (its id is reported)');
is(forged_audit('key.change', qq({"from": "$fp_b", "to": "$fp_a"})), 't',
	'nor does a forged key change back to A made with A');
is($node->safe_psql('postgres', 'SELECT privacy.verify_audit_log() IS NULL'), 't', '(the log is intact again)');

$node->safe_psql('postgres', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$y')});
is(customer_rows($node, 'postgres', $y), '0', 'the second subject is erased under key B');
is($node->safe_psql('postgres', q{SELECT requests::text FROM privacy.erasure_ledger WHERE this_database AND seq = 3}), "[$y_request]",
	'... and its ledger line names the erasure request opened under A');
is($node->safe_psql('postgres', q{SELECT string_agg(seq || ':' || entry_type || ':' || (key_fingerprint = privacy.key_fingerprint()) || ':' || verified, ',' ORDER BY seq)
                                   FROM privacy.erasure_ledger WHERE this_database}),
	'1:erasure:false:true,2:key_change:false:true,3:erasure:true:true',
	'the ledger: the erasure under A, the key change (made under A), the erasure under B; all verify');

# Whoever still holds key A cannot continue the chain under it: a line
# appended under A after the key change does not verify.
my ($dbid0, $last_mac) = split /\|/, $node->safe_psql('postgres', 'SELECT database_id || \'|\' || last_mac FROM privacy.erasure_ledger_state');
my $forged = $node->safe_psql('postgres', qq{
SELECT (e || jsonb_build_object('mac', privacy_internal._audit_ref_under('$fp_a', 'pg_privacy erasure ledger', e::text)))::text
  FROM (SELECT jsonb_build_object('v', 1, 'type', 'erasure', 'db', '$dbid0', 'seq', 4, 'at', now(), 'datname', 'postgres',
                                  'ids', jsonb_build_array(jsonb_build_object('kind', 'customer',
                                           'ref', privacy_internal._audit_ref_under('$fp_a', 'ledger:customer', '1'))),
                                  'report', '[]'::jsonb, 'requests', '[]'::jsonb, 'key', '$fp_a', 'prev', '$last_mac') AS e) x});
open(my $saved, '<', $ledger) or die;
my @before_forgery = <$saved>;
close($saved);
open(my $app, '>>', $ledger) or die;
print $app "$forged\n";
close($app);
is($node->safe_psql('postgres', q{SELECT verified FROM privacy.erasure_ledger WHERE this_database AND seq = 4}), 'f',
	'a line appended under the replaced key A after the key change does not verify');
open(my $restore, '>', $ledger) or die;
print $restore @before_forgery;
close($restore);

is($node->safe_psql('postgres', qq{
SELECT string_agg(version || ':' || (fingerprint = '$fp_b') || ':' || current || ':' || listed_at || ':' || (audit_entries > 0)
                  || ':' || ledger_lines || ':' || needed, ',' ORDER BY version)
  FROM privacy.key_versions}),
	'1:false:false:2:true:2:true,2:true:true:1:true:1:true',
	'key_versions: A is version 1, listed second, needed by audit entries and a ledger line; B is version 2, current');

# a listed key whose file cannot be used is reported; the current key's work goes on
system('cp', '-p', $key_a, "$dir/a-copy.key") == 0 or die;
set_keys($node, "$key_b, $key_a, $key_bad, $dir/a-copy.key");
is($node->safe_psql('postgres', qq{SELECT count(*) || ':' || min(listed_at) FROM privacy.key_versions WHERE fingerprint = '$fp_a'}),
	'1:2', 'key_versions: a key listed twice (a copy of its file) is one row, at its first place');
is($node->safe_psql('postgres', q{SELECT listed_at || ': ' || problem FROM privacy.key_versions WHERE fingerprint IS NULL}),
	'3: pg_privacy older key 3 is not usable: the key file is accessible by group or others',
	'key_versions reports an older key file that cannot be used');
is($node->safe_psql('postgres', q{SELECT privacy.pseudonymize_msisdn('+4520123456') IS NOT NULL}), 't',
	'... and the current key works meanwhile');
is($node->safe_psql('postgres', 'SELECT privacy.verify_audit_log() IS NULL'), 't',
	'... and verify_audit_log finds key A before it');
is($node->safe_psql('postgres', qq{SELECT privacy_internal._audit_refs('msisdn', '+4520123456')
  = ARRAY[privacy_internal._audit_ref_under('$fp_b', 'msisdn', '+4520123456'),
          privacy_internal._audit_ref_under('$fp_a', 'msisdn', '+4520123456'),
          privacy_internal._audit_ref_under('$fp_a', 'msisdn', '+4520123456')]}), 't',
	'... and the references under every listed key pass over it: B, A and its copy, in their order');

# --- without key A listed, what was made under it cannot be checked ----------
set_keys($node, $key_b);
($ret, $out, $err) = $node->psql('postgres', 'SELECT privacy.verify_audit_log()');
like($err, qr/the audit log was chained under another key/, 'without A, verify_audit_log refuses (55000)');
like($err, qr/name key \Q$fp_a\E, which pg_privacy.key_file does not list/, '... naming the key it needs');
is($node->safe_psql('postgres', q{SELECT string_agg(seq || ':' || verified || ':' || key_listed, ',' ORDER BY seq)
                                   FROM privacy.erasure_ledger WHERE this_database}),
	'1:false:false,2:false:false,3:true:true', 'without A, the ledger lines made under A are not verified, and their key is not listed');
is($node->safe_psql('postgres', qq{SELECT listed_at IS NULL AND needed FROM privacy.key_versions WHERE fingerprint = '$fp_a'}),
	't', 'key_versions: A is needed and not listed');
is($node->safe_psql('postgres', q{SELECT status || ': ' || detail FROM privacy.health() WHERE area = 'key history'}),
	"error: restrictions were made under 1 replaced key(s) that are not listed: $fp_a (version 1: "
	. $node->safe_psql('postgres', qq{SELECT audit_entries || ' audit entries, ' || ledger_lines || ' ledger lines, ' || restrictions || ' restrictions)'
	                                   FROM privacy.key_versions WHERE fingerprint = '$fp_a'}),
	'health reports an error: restrictions need a key that is not listed');
# Restrictions made under A cannot be matched: the update of a restricted
# subject's table, and is_restricted, fail closed, naming the key.
my $other = $node->safe_psql('postgres', qq{SELECT max(customer_id) FROM telco.customer WHERE customer_id NOT IN ($x, $y, $z)});
($ret, $out, $err) = $node->psql('postgres', qq{UPDATE telco.customer SET email = email WHERE customer_id = $other});
like($err, qr/ERROR:  no key of fingerprint \Q$fp_a\E is loaded/,
	'without A, an update of a table holding restricted subjects refuses (55000), naming A, for any subject');
$node->psql('postgres', 'SELECT 1/0 AS regress_logged_statement');
my $log = slurp_file($node->logfile);
like($log, qr/STATEMENT:\s+SELECT 1\/0 AS regress_logged_statement/, '(a failing statement is logged on this server)');
unlike($log, qr/STATEMENT:\s+UPDATE telco\.customer SET email = email WHERE customer_id = $other/,
	'... and the server log does not hold the statement, which names the subject');
($ret, $out, $err) = $node->psql('postgres', qq{SELECT privacy.is_restricted('customer', '$x')});
like($err, qr/no key of fingerprint \Q$fp_a\E is loaded/, '... and so does is_restricted, for any subject');
is($node->safe_psql('postgres', qq{SELECT string_agg(event, ',' ORDER BY event_id) FROM privacy.consent_history('email', '$z_email')}),
	'grant,withdraw', 'without A, the consent history of an identifier is still found by the identifier');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM privacy.consent_history('email', '$x_email')}),
	'0', '... but an erased one\'s, whose events hold only references under A, no more (what a destroyed key leaves unlinkable)');

# --- the backup from before the change, restored where its key runs ----------
my $new = PostgreSQL::Test::Cluster->new('restored');
$new->init;
$new->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$key_a'
pg_privacy.erasure_ledger_file = '$ledger'
});
$new->start;
$new->safe_psql('postgres', 'CREATE DATABASE telco');
$new->command_ok([ 'pg_restore', '-d', $new->connstr('telco'), "$dir/before.dump" ], 'pg_restore into a fresh cluster running key A');
is(customer_rows($new, 'telco', $x) . customer_rows($new, 'telco', $y), '11', 'the restore brought both erased subjects back');
($ret, $out, $err) = $new->psql('telco', q{SELECT count(*) FROM privacy.replay_erasures()});
like($err, qr/line 3 of the erasure ledger was made under key \Q$fp_b\E, which pg_privacy.key_file does not list/,
	'replay_erasures refuses a line made under a key not listed (55000)');
is(customer_rows($new, 'telco', $x), '1', '... and replays nothing');
set_keys($new, "$key_a, $key_b");
is($new->safe_psql('telco', q{SELECT string_agg(seq || ':' || result, ',' ORDER BY seq) FROM privacy.replay_erasures()}),
	'1:erased again,3:erased again', 'with B listed after A, both erasures are replayed (and the key change passed)');
is(customer_rows($new, 'telco', $x) . customer_rows($new, 'telco', $y), '00', '... and both subjects are gone again');

# --- what an old backup still reveals once the key it was made under is gone --
# Key A is destroyed: a cluster with only key B restores the backup taken
# before the erasures.  Columns that are not protected hold what they held
# (the subject's e-mail address, its phone numbers in its subscriptions);
# the protected ones and the keyed references cannot be read or matched.
my $old = PostgreSQL::Test::Cluster->new('old_backup');
$old->init;
$old->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$key_b'
});
$old->start;
$old->safe_psql('postgres', 'CREATE DATABASE telco');
$old->command_ok([ 'pg_restore', '-d', $old->connstr('telco'), "$dir/before.dump" ], 'the old backup restored where key A is gone');
my ($x_mail, $x_number) = split /\|/, $old->safe_psql('telco', qq{
SELECT c.email || '|' || min(s.msisdn) FROM telco.customer c JOIN telco.subscription s USING (customer_id)
 WHERE c.customer_id = $x GROUP BY c.email});
like($x_mail, qr/@/, 'a column that is not protected still holds the erased subject\'s e-mail address');
like($x_number, qr/^\+\d+$/, '... and its phone number, in the subscription that holds it in clear');
($ret, $out, $err) = $old->psql('telco', q{SELECT privacy.reidentify_msisdn(a_number) FROM telco.cdr LIMIT 1});
like($err, qr/pg_privacy master key does not match this database/, 'its protected phone numbers cannot be read: keyed work is refused under key B');
$old->safe_psql('telco', qq{SELECT privacy.accept_key_change('$fp_a')});
($ret, $out, $err) = $old->psql('telco', q{SELECT privacy.reidentify_msisdn(a_number) FROM telco.cdr LIMIT 1});
like($err, qr/cannot tell which key a phone-number pseudonym is under while a key rotation runs/,
	'forced to key B, reidentify_msisdn refuses: the CDRs\' numbers are under key A, which is gone, and rekey cannot convert them');
like($old->safe_psql('telco', qq{
SELECT count(*) FILTER (WHERE privacy_internal._msisdn_decrypt(d.a_number, 'default') IN (SELECT s.msisdn FROM telco.subscription s WHERE s.customer_id = $x))
       || ' of ' || count(*)
  FROM telco.cdr d WHERE d.cdr_id IN ($x_cdrs)}),
	qr/^0 of [1-9]/, 'even forced to key B, none of the subject\'s calls decrypts to its numbers (FF1 under another key gives other numbers)');
isnt($old->safe_psql('telco', qq{SELECT privacy_internal._audit_ref('customer', '$x')}),
	$new->safe_psql('telco', qq{SELECT privacy_internal._audit_ref('customer', '$x')}),
	'and its keyed references cannot be recomputed: under key B the reference of the same customer number is another');

# --- a key change whose replaced key is not listed: a warning ----------------
set_keys($node, $key_a);
my $chain_before = $node->safe_psql('postgres', 'SELECT database_id FROM privacy.erasure_ledger_state');
($ret, $out, $err) = $node->psql('postgres', qq{SELECT privacy.accept_key_change('$fp_b')});
is($ret, 0, 'accept_key_change back to A, with B not listed, is done');
like($err, qr/WARNING:  the replaced key \Q$fp_b\E is not listed in pg_privacy.key_file/, '... with a warning saying B is needed');
like($err, qr/erasures go on in a new chain of the erasure ledger/, '... and that the database\'s erasures go on in a new chain');
is($node->safe_psql('postgres', qq{SELECT database_id <> '$chain_before' AND sources->0->>'db' = '$chain_before'
                                     FROM privacy.erasure_ledger_state}), 't',
	'(the key change could not be a line of the old chain without B: a new chain, the old one its source)');

# The restrictions under B, which is now replaced and not listed, fail
# closed in turn; with both keys listed, the subject's restriction is
# lifted under both.
($ret, $out, $err) = $node->psql('postgres', qq{UPDATE telco.customer SET email = email WHERE customer_id = $other});
like($err, qr/no key of fingerprint \Q$fp_b\E is loaded/,
	'back under A, the restrictions made under B (not listed) fail closed: any subject\'s update refuses, naming B');
set_keys($node, "$key_a, $key_b");
$node->safe_psql('postgres', 'CALL privacy.rekey()');
$node->safe_psql('postgres', qq{SELECT privacy.unrestrict_subject('customer', '$z')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.restriction WHERE origin = 'request'}), '0',
	'with both listed, unrestrict_subject lifts what was made under A and under B');
# a restriction past its end binds no key, and is still lifted
$node->safe_psql('postgres', qq{SELECT privacy.restrict_subject('customer', '$z', 'for a while');
UPDATE privacy.restriction SET until = now() - interval '1 day' WHERE reason = 'for a while';});
$node->safe_psql('postgres', qq{SELECT privacy.unrestrict_subject('customer', '$z')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.restriction WHERE reason = 'for a while'}), '0',
	'unrestrict_subject lifts a restriction past its end');
($ret, $out, $err) = update_z($node);
is($ret, 0, '... and the subject\'s row can be updated again');
# Restrictions past their end under a key no longer listed bind nothing:
# an erasure's (which nothing lifts) does not stop unrestrict_subject, nor
# a request's left behind.
$node->safe_psql('postgres', qq{
INSERT INTO privacy.restriction (kind, subject_ref, reason, origin, until, restricted_by, key_fingerprint)
VALUES ('customer', 'ref:kept-after-erasure', 'rows kept after erasure', 'erasure', now() - interval '1 day', 'x', '$fp_b'),
       ('customer', 'ref:requested-once', 'contested', 'request', now() - interval '1 day', 'x', '$fp_b')});
set_keys($node, $key_a);
$node->safe_psql('postgres', qq{SELECT privacy.restrict_subject('customer', '$z', 'only under A')});
($ret, $out, $err) = $node->psql('postgres', qq{SELECT privacy.unrestrict_subject('customer', '$z')});
is($ret, 0, 'with B gone, restrictions past their end made under B do not stop unrestrict_subject') or diag($err);
is($node->safe_psql('postgres', q{SELECT string_agg(reason, ',' ORDER BY reason) FROM privacy.restriction}),
	'contested,rows kept after erasure', '... which lifts the subject\'s, and leaves those it cannot tell (binding nothing)');
($ret, $out, $err) = update_z($node);
is($ret, 0, '... and the subject\'s row can be updated') or diag($err);
$node->safe_psql('postgres', q{DELETE FROM privacy.restriction});
set_keys($node, "$key_a, $key_b");

# --- replay_erasures(since) checks every line it applies ---------------------
# A forged line at the head of the ledger, in this database's chain, before
# where the database is: replay_erasures() alone would not apply it, since
# asks for it again, and it is refused like any line not as written.
my $dbid = $node->safe_psql('postgres', 'SELECT database_id FROM privacy.erasure_ledger_state');
open(my $in, '<', $ledger) or die;
my @all = <$in>;
close($in);
open(my $outf, '>', $ledger) or die;
print $outf qq({"v": 1, "type": "erasure", "db": "$dbid", "seq": 1, "at": "2001-01-01T00:00:00+00:00", "ids": [{"kind": "customer", "ref": "ref:forged"}], "report": [], "requests": [], "key": "$fp_a", "prev": null, "mac": "ref:garbage"}\n);
print $outf @all;
close($outf);
($ret, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM privacy.replay_erasures(since => '2000-01-01')});
like($err, qr/the erasure ledger is damaged or was altered at line 1/, 'replay_erasures(since) refuses a line not as written before where the database is');

done_testing();
