# The consent register through pg_dump and pg_restore, a restart, and a
# reinstall of the extension: the events, the state and the requirements
# come back unchanged (the append-only guard and the consent trigger do not
# get in the restore's way), the restored database enforces and cascades,
# and has_consent's cached relation OIDs follow a DROP/CREATE EXTENSION in
# the same session.
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

my $node = PostgreSQL::Test::Cluster->new('consent');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$keyfile'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
CREATE EXTENSION pg_privacy;
CREATE SCHEMA mk;
CREATE TABLE mk.newsletter (id int, email text);
CREATE TABLE mk.sms (id int, msisdn text, body text);
SELECT privacy.define_purpose('newsletter', 'consent');
SELECT privacy.define_purpose('sms', 'consent');
SELECT privacy.register_table('mk.sms', 'sms');
SELECT privacy.register_column('mk.sms', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('mk.sms');
SELECT privacy.require_consent('mk.newsletter', 'email', 'newsletter', 'delete', kind => 'email');
SELECT privacy.require_consent('mk.sms', 'msisdn', 'sms', 'delete');
SELECT privacy.grant_consent('email', 'Ann@Example.dk', 'newsletter', 'web form', 'nl-1', at => '2026-01-01');
SELECT privacy.grant_consent('email', 'bob@example.dk', 'newsletter', 'web form', 'nl-1', at => '2026-01-02');
SELECT privacy.withdraw_consent('email', 'bob@example.dk', 'newsletter', 'unsubscribe', at => '2026-02-01');
SELECT privacy.grant_consent('msisdn', '+45 20 12 34 56', 'sms', 'shop', 'sms-1', at => '2026-01-03');
SELECT privacy.grant_consent('msisdn', '+4530303030', 'sms', 'shop', 'sms-1', at => '2026-01-04');
INSERT INTO mk.newsletter VALUES (1, 'ann@example.dk'), (2, 'ANN@example.dk');
INSERT INTO mk.sms VALUES (1, '20123456', 'hi'), (2, '+4530303030', 'hej');
});

my $register_q = q{
  SELECT string_agg(concat_ws('/', id, kind, value, subject_ref, purpose, event, at, source, notice_version), ';' ORDER BY id)
    FROM privacy.consent_event};
my $state_q = q{
  SELECT string_agg(concat_ws('/', kind, value, purpose, granted, event_id, at), ';' ORDER BY kind, value, purpose)
    FROM privacy.consent_state};
my $req_q = q{
  SELECT string_agg(concat_ws('/', table_name, subject_column, kind, purpose, on_withdraw, enforced), ';' ORDER BY table_name::text, subject_column, purpose)
    FROM privacy.consent_requirements};
my $answers_q = q{
  SELECT concat_ws(',',
    privacy.has_consent('email', 'ann@example.dk', 'newsletter'),
    privacy.has_consent('email', 'bob@example.dk', 'newsletter'),
    privacy.has_consent('email', 'bob@example.dk', 'newsletter', '2026-01-15'),
    privacy.has_consent('msisdn', '20123456', 'sms'),
    (SELECT count(*) FROM mk.newsletter), (SELECT count(*) FROM mk.sms))};

my %before = map { $_ => $node->safe_psql('src', $_) } ($register_q, $state_q, $req_q, $answers_q);
is($before{$answers_q}, 't,f,t,t,2,2', 'answers in the source database');

my $dump = "$dir/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ],
	'pg_restore runs through the append-only guard and the consent trigger');

is($node->safe_psql('dst', $register_q), $before{$register_q}, 'consent events restored unchanged');
is($node->safe_psql('dst', $state_q), $before{$state_q}, 'consent state restored unchanged');
is($node->safe_psql('dst', $req_q), $before{$req_q}, 'requirements and their triggers restored');
is($node->safe_psql('dst', $answers_q), $before{$answers_q}, 'has_consent answers the same after restore');
is($node->safe_psql('dst', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'audit chain intact after restore');

# The restored database enforces, cascades, and keeps the register append-only.
my ($ret, $out, $err) = $node->psql('dst', q{INSERT INTO mk.newsletter VALUES (3, 'bob@example.dk')});
like($err, qr/no consent for purpose "newsletter"/, 'restored table refuses a subject without consent');
unlike($err, qr/bob/, 'the refusal does not name the subject');
($ret, $out, $err) = $node->psql('dst', q{DELETE FROM privacy.consent_event});
like($err, qr/append-only/, 'restored register is append-only');
is($node->safe_psql('dst', q{
  SELECT privacy.withdraw_consent('msisdn', '+4520123456', 'sms', 'SMS STOP') > 0;
  SELECT string_agg(id::text, ',' ORDER BY id) FROM mk.sms;}), "t\n2", 'withdrawal cascades through the protected column after restore');
is($node->safe_psql('dst', q{
  SELECT privacy.grant_consent('email', 'bob@example.dk', 'newsletter', 'web form', 'nl-2') > 0;
  INSERT INTO mk.newsletter VALUES (3, ' Bob@example.dk');
  SELECT count(*) FROM mk.newsletter;}), "t\n3", 'a new grant lets the row in');

# After a restart the backend-local caches are built anew.
$node->restart;
is($node->safe_psql('dst', $answers_q), 't,t,t,f,3,1', 'answers after a restart');
($ret, $out, $err) = $node->psql('dst', q{INSERT INTO mk.sms VALUES (3, '20123456', 'again')});
like($err, qr/no consent for purpose "sms"/, 'enforced after a restart');

# DROP and CREATE EXTENSION in one session: has_consent and the trigger
# find the new register, not the dropped one.
is($node->safe_psql('postgres', q{
  CREATE EXTENSION pg_privacy;
  SELECT privacy.define_purpose('newsletter', 'consent');
  SELECT privacy.grant_consent('email', 'ann@example.dk', 'newsletter') > 0;
  SELECT privacy.has_consent('email', 'ann@example.dk', 'newsletter');
  CREATE TABLE nl (email text);
  SELECT privacy.require_consent('nl', 'email', 'newsletter', kind => 'email');
  INSERT INTO nl VALUES ('ann@example.dk');
  DROP TABLE nl;
  ALTER TABLE privacy.consent_event DISABLE TRIGGER consent_event_append_only;
  DROP EXTENSION pg_privacy CASCADE;
  CREATE EXTENSION pg_privacy;
  SELECT privacy.define_purpose('newsletter', 'consent');
  SELECT privacy.has_consent('email', 'ann@example.dk', 'newsletter');
  SELECT privacy.grant_consent('email', 'ann@example.dk', 'newsletter') > 0;
  SELECT privacy.has_consent('email', 'ann@example.dk', 'newsletter');
  CREATE TABLE nl (email text);
  SELECT privacy.require_consent('nl', 'email', 'newsletter', kind => 'email');
  INSERT INTO nl VALUES ('ann@example.dk');
  SELECT count(*) FROM nl;}),
  join("\n", '', 't', 't', '', '', 'f', 't', 't', '', '1'),
  'a reinstalled extension is found by the same session');

# Errors about a person's value are logged without the statement that
# holds it: the consent trigger's refusal of a literal INSERT, a withdrawal
# of a consent never given, an identifier without a normal form, the
# restriction trigger's refusal of an UPDATE naming the subject.
# (The test cluster logs every statement; a production server logs only
# the statements of errors, which is what is checked here.)
$node->append_conf('postgresql.conf', "log_statement = 'none'");
$node->reload;
my $logstart = -s $node->logfile;
for my $sql (
  q{INSERT INTO mk.sms VALUES (9, '+45 99 88 77 66', 'x')},
  q{INSERT INTO mk.newsletter VALUES (9, 'zed.unique@example.dk')},
  q{SELECT privacy.withdraw_consent('email', 'zed.unique@example.dk', 'newsletter')},
  q{SELECT privacy.export_subject('email', 'zed.unique.example.dk')},
  q{SELECT privacy.grant_consent('email', 'zed.unique@example.dk', 'no_such_purpose')},
  q{SELECT privacy.has_consent('no_such_kind', 'zed.unique@example.dk', 'newsletter')},
  # an entry point without an exception handler of its own: the
  # entry-point hook hides the statement of any error that unwinds it
  q{SELECT privacy.hold('email', 'zed.unique@example.dk', '   ')},
  q{BEGIN ISOLATION LEVEL REPEATABLE READ;
    SELECT * FROM privacy.erase_subject('email', 'zed.unique@example.dk')},
  q{SELECT privacy.restrict_subject('msisdn', '+4530303030', 'contested');
    UPDATE mk.sms SET body = 'x' WHERE msisdn = privacy.pseudonymize_msisdn('+4530303030')})
{
  ($ret, $out, $err) = $node->psql('dst', $sql);
  isnt($ret, 0, "refused: $sql");
}
$node->safe_psql('dst', q{DELETE FROM privacy.restriction});
my $log = slurp_file($node->logfile, $logstart);
like($log, qr/no consent for purpose "sms"/, 'the refusals are logged');
like($log, qr/cannot update a row of a data subject whose processing is restricted/, 'the restriction refusal is logged');
like($log, qr/a legal hold needs a reason/, 'the refused hold is logged');
unlike($log, qr/99 88 77 66|zed\.unique|30303030/, 'no statement naming the subject is logged');

# A deadlock's detail, written to the server log only, names the query of
# every process in the cycle: for an API call that names a person, it is
# not logged.  The erasure waits for an application's lock on mk.sms
# while holding a table the application then waits for; the erasure's
# session, with the shorter deadlock_timeout, finds the cycle.
$node->safe_psql('dst', 'CREATE TABLE public.dl_a (id int)');
my $holder = $node->background_psql('dst');
$holder->query_safe(q{SET deadlock_timeout = '60s'});
$holder->query_safe('BEGIN');
$holder->query_safe('UPDATE mk.sms SET body = body WHERE false');
my $eraser = $node->background_psql('dst', on_error_stop => 0);
$eraser->query_safe(q{SET deadlock_timeout = '2s'});
$eraser->query_safe('BEGIN');
$eraser->query_safe('LOCK TABLE public.dl_a IN ACCESS EXCLUSIVE MODE');
$logstart = -s $node->logfile;
$eraser->query_until(qr/erasing/, qq{\\echo erasing\nSELECT * FROM privacy.erase_subject('msisdn', '+4577123456');\n});
$node->poll_query_until('dst', q{SELECT count(*) = 1 FROM pg_stat_activity
                                  WHERE wait_event_type = 'Lock' AND query LIKE '%erase_subject%'})
  or die 'the erasure did not wait';
# waits for the erasure, until the erasure's deadlock check ends it
$holder->query_safe('LOCK TABLE public.dl_a IN ACCESS SHARE MODE');
$holder->query_safe('COMMIT');
$eraser->quit;
$holder->quit;
my $dlog = slurp_file($node->logfile, $logstart);
like($dlog, qr/deadlock detected/, 'the erasure was caught in a deadlock, and it is logged');
unlike($dlog, qr/77123456/, 'without the queries of the processes, which name the subject');

$node->stop;
done_testing();
