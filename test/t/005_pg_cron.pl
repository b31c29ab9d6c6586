# The nightly purge run by real pg_cron: schedule_purge() creates a job
# that CALLs run_purge (which commits per batch, so pg_cron must run it as
# a single statement outside a transaction block); the job runs as a
# superuser, drops expired partitions, keeps rows under a legal hold,
# writes its receipt, and reports success in cron.job_run_details.  The
# table owner's trigger runs with the owner's rights only: it cannot use
# the superuser's.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $dir = PostgreSQL::Test::Utils::tempdir();
my $keyfile = "$dir/master.key";
open(my $fh, '>', $keyfile) or die;
print $fh join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32), "\n";
close($fh);
chmod(0600, $keyfile);

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
# pg_cron connects to the server like a client: through the node's socket.
my $host = $node->host;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,pg_privacy'
cron.database_name = 'postgres'
cron.host = '$host'
pg_privacy.key_file = '$keyfile'
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_cron;
CREATE EXTENSION pg_privacy;
CREATE ROLE app_owner NOLOGIN;
CREATE SCHEMA app AUTHORIZATION app_owner;
SET ROLE app_owner;
CREATE TABLE app.cdr (a_number text, started_at timestamptz NOT NULL, price numeric)
  PARTITION BY RANGE (started_at);
CREATE INDEX ON app.cdr (started_at);
DO $$
DECLARE m int; lo timestamptz;
BEGIN
  FOR m IN 0..5 LOOP
    lo := date_trunc('month', now()) - make_interval(months => m);
    EXECUTE format('CREATE TABLE app.cdr_m%s PARTITION OF app.cdr FOR VALUES FROM (%L) TO (%L)',
                   m, lo, lo + interval '1 month');
  END LOOP;
END $$;
INSERT INTO app.cdr
SELECT CASE WHEN m = 4 AND i = 3 THEN '+4530000004' ELSE '+4530' || lpad((100 + m * 10 + i)::text, 6, '0') END,
       date_trunc('month', now()) - make_interval(months => m) + make_interval(days => i), m
  FROM generate_series(0, 5) m, generate_series(0, 9) i;
-- What the owner's trigger would like to do with the rights it runs with.
CREATE TABLE app.trigger_log (who name, escalation text);
CREATE FUNCTION app.try_escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    ALTER ROLE app_owner SUPERUSER;
    INSERT INTO app.trigger_log VALUES (current_user, 'succeeded');
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO app.trigger_log VALUES (current_user, 'refused: ' || SQLERRM);
  END;
  RETURN OLD;
END $$;
CREATE TRIGGER try_escalate BEFORE DELETE ON app.cdr FOR EACH ROW EXECUTE FUNCTION app.try_escalate();
RESET ROLE;
SELECT privacy.define_purpose('traffic', 'legal_obligation');
SELECT privacy.register_table('app.cdr', 'traffic');
SELECT privacy.register_column('app.cdr', 'a_number', 'phone', identifies => 'msisdn');
-- expired: the months before the month two months back (m3, m4, m5)
SELECT privacy.set_retention('app.cdr', 'started_at', '2 months', align => 'month');
SELECT privacy.hold('msisdn', '+45 30 00 00 04', 'dispute 2026-17');
});

is($node->safe_psql('postgres', 'SELECT rows || \'/\' || partitions FROM privacy.purge(true)'),
	'9/2', 'dry run: two whole partitions, and the rows of the one with a held row');

# pg_cron's schedule rules: a named job, minute granularity in 1.4.
my $job = $node->safe_psql('postgres', q{SELECT privacy.schedule_purge('* * * * *')});
like($job, qr/^\d+$/, 'schedule_purge returns the job id');
is($node->safe_psql('postgres', "SELECT jobname || ' | ' || schedule || ' | ' || command FROM cron.job WHERE jobid = $job"),
	'pg_privacy_purge | * * * * * | CALL privacy.run_purge(10000)',
	'the job CALLs run_purge as one statement');
is($node->safe_psql('postgres', q{SELECT privacy.schedule_purge('* * * * *')}), $job,
	'scheduling again replaces the job');

# Wait for pg_cron to run it (up to ~130 s: the next minute, plus the run).
my $status = '';
for (my $i = 0; $i < 1300; $i++)
{
	$status = $node->safe_psql('postgres',
		"SELECT status FROM cron.job_run_details WHERE jobid = $job AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1");
	last if $status ne '';
	usleep(100_000);
}
is($status, 'succeeded', 'cron.job_run_details: the run succeeded');
is($node->safe_psql('postgres', "SELECT return_message FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1"),
	'CALL', 'pg_cron ran the CALL');

is($node->safe_psql('postgres', q{SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i
                                   JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'app.cdr'::regclass}),
	'cdr_m0,cdr_m1,cdr_m2,cdr_m4', 'expired partitions without held rows are gone');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname IN ('cdr_m3', 'cdr_m5')}),
	'0', 'dropped, not detached');
is($node->safe_psql('postgres', q{SELECT string_agg(a_number, ',') FROM app.cdr_m4}),
	'+4530000004', 'only the held row is left of the partition holding it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.cdr WHERE started_at >= date_trunc('month', now()) - interval '2 months'}),
	'30', 'current rows are untouched');

# The purge ran as the superuser pg_cron uses, the trigger as the owner.
is($node->safe_psql('postgres', q{SELECT DISTINCT who FROM app.trigger_log}), 'app_owner',
	'the owner\'s trigger ran as the owner');
like($node->safe_psql('postgres', q{SELECT DISTINCT escalation FROM app.trigger_log}), qr/^refused: /,
	'and could not use the superuser\'s rights');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'app_owner'}), 'f',
	'the owner is still no superuser');

# The receipts: per table and per run.
is($node->safe_psql('postgres', q{SELECT role || ' ' || (detail->>'rows') || ' ' || (detail->>'partitions') || ' ' || (detail->>'dropped')
                                    FROM privacy.audit_log WHERE event = 'retention.purge' ORDER BY id DESC LIMIT 1}),
	'postgres 9 2 ["app.cdr_m5", "app.cdr_m3"]', 'the receipt names the table, rows and dropped partitions');
is($node->safe_psql('postgres', q{SELECT (detail->>'via') || ' ' || (detail->>'failed') FROM privacy.audit_log
                                    WHERE event = 'retention.run' ORDER BY id DESC LIMIT 1}),
	'run_purge []', 'the run\'s receipt');
is($node->safe_psql('postgres', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'audit chain intact');

is($node->safe_psql('postgres', 'SELECT privacy.unschedule_purge()'), 't', 'unschedule_purge removes the job');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job WHERE jobname = 'pg_privacy_purge'}), '0', 'no job left');
is($node->safe_psql('postgres', 'SELECT privacy.unschedule_purge()'), 'f', 'nothing to unschedule the second time');

my ($ret, $out, $err) = $node->psql('postgres', q{SELECT privacy.schedule_purge('every night')});
like($err, qr/invalid schedule "every night"/, 'a schedule pg_cron does not understand is refused');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job}), '0', 'and nothing is scheduled');

$node->stop;
done_testing();
