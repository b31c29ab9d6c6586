# The nightly purge run by real pg_cron on a cluster configured the way a
# stock Debian cluster is (pg_hba.conf asks for a password on TCP; pg_cron
# runs jobs in background workers, cron.use_background_workers = on, so it
# needs no connection): schedule_purge() creates a job that CALLs
# run_purge (which commits per batch, so pg_cron must run it as a single
# statement outside a transaction block); the job runs as a superuser,
# drops expired partitions, keeps rows under a legal hold, writes its
# receipt, and reports success in cron.job_run_details and in
# privacy.health().  Scheduling again updates the one job; a job made for
# another node is replaced.  The table owner's trigger runs with the
# owner's rights only.  Without background workers the job would connect
# over TCP and fail: health() says so as an error, and schedule_purge
# refuses.  Without pg_privacy in shared_preload_libraries, health() and a
# warning say so.
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
# As Debian sets a cluster up: TCP on localhost with a password required;
# cron.host left at its default (localhost).
$node->append_conf('postgresql.conf', qq{
listen_addresses = 'localhost'
shared_preload_libraries = 'pg_cron,pg_privacy'
cron.database_name = 'postgres'
cron.use_background_workers = on
pg_privacy.key_file = '$keyfile'
});
open(my $hba, '>', $node->data_dir . '/pg_hba.conf') or die;
print $hba "local all all trust\n";
print $hba "host all all 127.0.0.1/32 scram-sha-256\n";
print $hba "host all all ::1/128 scram-sha-256\n";
close($hba);
$node->start;

sub health
{
	my ($area) = @_;
	return $node->safe_psql('postgres',
		"SELECT status || ' | ' || detail || ' | ' || coalesce(hint, '') FROM privacy.health() WHERE area = '$area'");
}

# Waits for a run of the job with the given final status after run id
# $after; returns its status and message (up to ~130 s: the next minute,
# plus the run).
sub wait_run
{
	my ($jobid, $after) = @_;
	my $row = '';
	for (my $i = 0; $i < 1300; $i++)
	{
		$row = $node->safe_psql('postgres',
			"SELECT status || ' | ' || coalesce(return_message, '') FROM cron.job_run_details
			  WHERE jobid = $jobid AND runid > $after AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1");
		last if $row ne '';
		usleep(100_000);
	}
	return $row;
}

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
});

# A purge with no policy says so.
my ($ret, $out, $err) = $node->psql('postgres', 'CALL privacy.run_purge()');
like($err, qr/NOTICE:  nothing to purge: no table has a retention policy/, 'run_purge without policies says nothing is configured');

$node->safe_psql('postgres', q{
-- expired: the months before the month two months back (m3, m4, m5)
SELECT privacy.set_retention('app.cdr', 'started_at', '2 months', align => 'month');
SELECT privacy.hold('msisdn', '+45 30 00 00 04', 'dispute 2026-17');
});

is($node->safe_psql('postgres', 'SELECT rows || \'/\' || partitions FROM privacy.purge(true)'),
	'9/2', 'dry run: two whole partitions, and the rows of the one with a held row');

like(health('purge'), qr/^error \| the purge is not scheduled; tables with a retention policy: 1 \| .*schedule_purge/,
	'health: policies without a scheduled purge are an error');

# pg_cron's schedule rules: a named job, minute granularity in 1.4.
my $job = $node->safe_psql('postgres', q{SELECT privacy.schedule_purge('0 0 1 1 *')});
like($job, qr/^\d+$/, 'schedule_purge returns the job id');
is($node->safe_psql('postgres', q{SELECT privacy.schedule_purge('* * * * *')}), $job,
	'scheduling again updates the job');
is($node->safe_psql('postgres', "SELECT count(*) || ' | ' || string_agg(jobname || ' | ' || schedule || ' | ' || command || ' | ' || database, '') FROM cron.job"),
	'1 | pg_privacy_purge | * * * * * | CALL privacy.run_purge(10000) | postgres',
	'one job, with the new schedule, CALLing run_purge as one statement in this database');
like(health('purge'), qr/^ok \| purge job $job scheduled '\* \* \* \* \*' \(CALL privacy.run_purge\(10000\)\), not run yet/,
	'health: scheduled, not run yet');

# pg_cron runs it in a background worker: no connection, no password.
is(wait_run($job, 0), 'succeeded | CALL', 'cron.job_run_details: the run succeeded (pg_cron ran the CALL)');
like(health('purge'), qr/^ok \| purge job $job scheduled '\* \* \* \* \*'; last run succeeded at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d/,
	'health: the last run succeeded, with its time and offset');

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

# Without background workers pg_cron connects over TCP to localhost, where
# pg_hba.conf asks for a password: every run fails.  health() says so.
my $lastrun = $node->safe_psql('postgres', "SELECT max(runid) FROM cron.job_run_details");
$node->adjust_conf('postgresql.conf', 'cron.use_background_workers', 'off');
$node->restart;
like(wait_run($job, $lastrun), qr/^failed \| connection failed/, 'without background workers the run fails to connect');
like(health('purge'), qr/^error \| the last run of purge job $job failed at .*: connection failed \| .*cron.use_background_workers = on/,
	'health: the failed run is an error, with the way out');
($ret, $out, $err) = $node->psql('postgres', q{SELECT privacy.schedule_purge('* * * * *')});
like($err, qr/ERROR:  the purge job would not run: cron.use_background_workers is off, so pg_cron would connect over TCP to localhost/,
	'schedule_purge refuses a job that would need a connection');
like($err, qr/HINT:  Set cron.use_background_workers = on/, 'and says what to do');
# A cron.job restored from another cluster (another port, no run yet):
# health() warns that the job will miss this server.
my $port = $node->port;
$node->safe_psql('postgres', "UPDATE cron.job SET nodeport = nodeport + 1 WHERE jobid = $job;
                              DELETE FROM cron.job_run_details WHERE jobid = $job");
like(health('purge'), qr/^warning \| purge job $job connects to localhost port @{[$port + 1]}, not to this server \(localhost port $port\): its next run fails/,
	'health: a job made for another server is a warning');
$node->safe_psql('postgres', "UPDATE cron.job SET nodeport = $port WHERE jobid = $job");
like(health('purge'), qr/^warning \| purge job $job scheduled .* not run yet; cron.use_background_workers is off/,
	'health: a job not run yet that would connect over TCP is a warning');

# Not preloaded: a warning in the session that loads the library, and
# health() says so; a monitoring role sees that the entry points are not
# in force.
$node->adjust_conf('postgresql.conf', 'cron.use_background_workers', 'on');
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "'pg_cron'");
$node->restart;
($ret, $out, $err) = $node->psql('postgres', q{SELECT status || ' | ' || detail FROM privacy.health() WHERE area = 'library'});
like($out, qr/^error \| pg_privacy is not in shared_preload_libraries \(pg_cron\)$/, 'health: not preloaded is an error');
like($err, qr/WARNING:  pg_privacy is not loaded through shared_preload_libraries/, 'loading it on demand warns');
# The first API call of a session loads the library itself (the hook did
# not see it start): an error of that call is still logged without the
# statement, which names the subject.
{
	my $logstart = -s $node->logfile;
	my ($r, $o, $e) = $node->psql('postgres',
		q{SELECT * FROM privacy.erase_subject('email', 'late.load.unique@example.dk', NULL)});
	like($e, qr/dry_run must not be null/, 'not preloaded: the first call of a session fails as it should');
	my $log = slurp_file($node->logfile, $logstart);
	like($log, qr/ERROR:  dry_run must not be null/, '(the error is logged)');
	unlike($log, qr/STATEMENT:[^\n]*late\.load\.unique/,
		'not preloaded: the statement naming the subject is not logged with the error');
}
$node->safe_psql('postgres', q{CREATE ROLE monitor LOGIN; GRANT USAGE ON SCHEMA privacy TO monitor;
                              GRANT EXECUTE ON FUNCTION privacy.health() TO monitor});
is($node->safe_psql('postgres', q{SELECT area || ' | ' || status || ' | ' || detail FROM privacy.health()}, extra_params => ['-U', 'monitor']),
	'library | error | pg_privacy\'s API entry points are not in force in this session: the library is not preloaded',
	'health for a monitoring role without the hook: one error row, nothing read');
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "'pg_cron,pg_privacy'");
$node->restart;
like($node->safe_psql('postgres', q{SELECT string_agg(area || ':' || status, ',') FROM privacy.health() WHERE area IN ('library', 'key')},
	extra_params => ['-U', 'monitor']), qr/^library:ok,key:ok$/, 'preloaded again: the monitoring role gets the report');

# A cron.job restored from another cluster (another port): replaced, not
# kept stale.
$node->safe_psql('postgres', "UPDATE cron.job SET nodeport = nodeport + 1 WHERE jobid = $job");
my $job2 = $node->safe_psql('postgres', q{SELECT privacy.schedule_purge('30 3 * * *')});
isnt($job2, $job, 'a job made for another node is replaced');
is($node->safe_psql('postgres', "SELECT count(*) || ' | ' || string_agg(schedule || ' | ' || nodeport, '') FROM cron.job"),
	'1 | 30 3 * * * | ' . $node->port, 'one job, for this node');

is($node->safe_psql('postgres', 'SELECT privacy.unschedule_purge()'), 't', 'unschedule_purge removes the job');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job WHERE jobname = 'pg_privacy_purge'}), '0', 'no job left');
is($node->safe_psql('postgres', 'SELECT privacy.unschedule_purge()'), 'f', 'nothing to unschedule the second time');

($ret, $out, $err) = $node->psql('postgres', q{SELECT privacy.schedule_purge('every night')});
like($err, qr/invalid schedule "every night"/, 'a schedule pg_cron does not understand is refused');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job}), '0', 'and nothing is scheduled');

# No key: health() says so as an error, with how to make one.
$node->safe_psql('postgres', "ALTER SYSTEM SET pg_privacy.key_file = ''");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('pg_privacy.key_file') = ''")
  or die 'key_file not reloaded';
like(health('key'), qr/^error \| pg_privacy master key is not configured \| Set pg_privacy.key_file to a file of 64 hexadecimal digits/,
	'health: no key is an error');

$node->stop;
done_testing();
