# The purge never waits long for the application: with lock_timeout and a
# bounded number of retries it gives up on a table whose rows or partition
# another session holds, goes on with the other tables, reports the failure
# (in the run's receipt and as the error pg_cron records), and the next run
# continues.  A run that stops between batches leaves committed progress
# that the next run completes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $dir = PostgreSQL::Test::Utils::tempdir();
my $keyfile = "$dir/master.key";
open(my $fh, '>', $keyfile) or die;
print $fh join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32), "\n";
close($fh);
chmod(0600, $keyfile);

my $node = PostgreSQL::Test::Cluster->new('locks');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$keyfile'
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_privacy;
CREATE SCHEMA app;
CREATE TABLE app.busy (id int PRIMARY KEY, email text, at timestamptz NOT NULL, n int);
CREATE TABLE app.quiet (id int PRIMARY KEY, email text, at timestamptz NOT NULL);
CREATE INDEX ON app.busy (at);
CREATE INDEX ON app.quiet (at);
INSERT INTO app.busy SELECT i, 'b' || i || '@example.dk', now() - make_interval(days => 100 + i), 0 FROM generate_series(1, 100) i;
INSERT INTO app.quiet SELECT i, 'q' || i || '@example.dk', now() - make_interval(days => 100 + i) FROM generate_series(1, 100) i;
CREATE TABLE app.part (id int, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.part_old PARTITION OF app.part FOR VALUES FROM ('2000-01-01') TO ('2001-01-01');
CREATE TABLE app.part_new PARTITION OF app.part FOR VALUES FROM ('2001-01-01') TO (MAXVALUE);
INSERT INTO app.part VALUES (1, '2000-06-01'), (2, now());
SELECT privacy.define_purpose('support', 'contract');
SELECT privacy.register_table(t, 'support') FROM unnest('{app.busy,app.quiet,app.part}'::regclass[]) t;
SELECT privacy.register_column(t, 'email', 'email', identifies => 'email') FROM unnest('{app.busy,app.quiet}'::regclass[]) t;
SELECT privacy.set_retention(t, 'at', '30 days') FROM unnest('{app.busy,app.quiet}'::regclass[]) t;
});

# The application holds one expired row of app.busy.
my $app = $node->background_psql('postgres');
$app->query_safe('BEGIN');
$app->query_safe('UPDATE app.busy SET n = n + 1 WHERE id = 50');

my $t0 = time();
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM privacy.purge(false, NULL, 100, 2)});
my $elapsed = time() - $t0;
like($err, qr/purge of app\.busy failed: could not lock rows of app\.busy to purge them/,
	'purge() gives up on a row the application holds');
like($out, qr/^app\.busy\|failed\|\|$/m, 'and reports the table as failed');
like($out, qr/^app\.quiet\|delete\|100\|0$/m, 'while it purges the other table');
cmp_ok($elapsed, '<', 10, 'within seconds, not waiting for the application');
is($node->safe_psql('postgres', 'SELECT count(*) FROM app.busy'), '100', 'nothing of the failed table purged');
is($node->safe_psql('postgres', q{SELECT object || ' ' || (detail->>'sqlstate') FROM privacy.audit_log
                                   WHERE event = 'retention.purge_failed' ORDER BY id DESC LIMIT 1}),
	'app.busy 55P03', 'the failure is audited');
$node->safe_psql('postgres', q{INSERT INTO app.quiet SELECT i, 'q' || i || '@example.dk', now() - make_interval(days => 100 + i) FROM generate_series(1, 100) i});

($ret, $out, $err) = $node->psql('postgres', q{CALL privacy.run_purge(30, 100, 1)});
like($err, qr/purge failed for 1 of 2 tables/, 'run_purge reports the table it gave up on');
like($err, qr/app\.busy: could not lock rows/, 'naming it');
is($node->safe_psql('postgres', 'SELECT count(*) FROM app.quiet'), '0', 'and purged the other table');
# batches of 30 from the oldest: ids 100..71 and 70..41 hold row 50
is($node->safe_psql('postgres', 'SELECT count(*) FROM app.busy'), '70', 'the batch before the held row was committed');
is($node->safe_psql('postgres', q{SELECT rows || '/' || batches FROM privacy.retention_progress WHERE tbl = 'app.busy'::regclass}),
	'30/1', 'its progress is kept');
is($node->safe_psql('postgres', q{SELECT detail->'failed'->0->>'sqlstate' FROM privacy.audit_log
                                   WHERE event = 'retention.run' ORDER BY id DESC LIMIT 1}),
	'55P03', 'the run\'s receipt records the failure');

# The application commits; the next run continues where the last one stopped.
$app->query_safe('COMMIT');
$node->safe_psql('postgres', 'CALL privacy.run_purge(30, 100, 1)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM app.busy'), '0', 'the next run purges the rest');
is($node->safe_psql('postgres', q{SELECT (detail->>'rows') || ' ' || (detail->>'runs') FROM privacy.audit_log
                                   WHERE event = 'retention.purge' AND object = 'app.busy' ORDER BY id DESC LIMIT 1}),
	'100 2', 'one receipt for the table: all its rows, over two runs');

# A partition another session reads cannot be dropped: the purge gives up
# after its retries instead of queueing the application's writes behind it.
$node->safe_psql('postgres', q{SELECT privacy.set_retention('app.part', 'at', '1 year')});
$app->query_safe('BEGIN');
$app->query_safe('SELECT count(*) FROM app.part_old');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM privacy.purge(false, 'app.part', 100, 1)});
like($err, qr/could not lock partition app\.part_old to drop it/, 'a partition in use is not waited for');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'part_old'}), '1', 'it is still there');
is($node->safe_psql('postgres', q{INSERT INTO app.part VALUES (3, now()) RETURNING id}), '3',
	'the application can still write the partitioned table');
$app->query_safe('COMMIT');
is($node->safe_psql('postgres', q{SELECT rows || '/' || partitions FROM privacy.purge(false, 'app.part', 100, 1)}),
	'0/1', 'once it is free, the partition is dropped');
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.part}), '2,3', 'only current rows are left');

# A purge waiting for an expired partition never makes the application's
# writers wait: it takes the partition (and the default partition) before
# the parent, and none of them by waiting in a lock queue.  Dropping a
# partition needs ACCESS EXCLUSIVE on the parent; had the purge asked for
# it first (as DROP TABLE does) and then waited for the partition, every
# INSERT would queue behind it.  Shown with a reader holding the expired
# partition, then one holding the default partition, and a writer whose
# lock_timeout is far below the purge's patience.
$node->safe_psql('postgres', q{CREATE TABLE app.part_def PARTITION OF app.part DEFAULT});
my $id = 100;
my $year = 1998;
foreach my $held ('partition', 'app.part_def')
{
	$year--;
	$node->safe_psql('postgres', qq{
CREATE TABLE app.part_$year PARTITION OF app.part FOR VALUES FROM ('$year-01-01') TO ('@{[$year + 1]}-01-01');
INSERT INTO app.part VALUES ($year, '$year-06-01');
});
	my $lock = $held eq 'partition' ? "app.part_$year" : $held;
	$app->query_safe('BEGIN');
	$app->query_safe("SELECT count(*) FROM $lock");
	my $purger = $node->background_psql('postgres');
	$purger->query_until(qr/purging/, "\\echo purging\nCALL privacy.run_purge(1000, 200, 40);\n");
	my ($ok, $slow) = (0, 0);
	for my $i (1 .. 10)
	{
		$id++;
		my $t1 = time();
		my ($r) = $node->psql('postgres', qq{SET lock_timeout = '100ms'; INSERT INTO app.part VALUES ($id, now())});
		$ok++ if $r == 0;
		$slow++ if time() - $t1 > 1;
		usleep(100_000);
	}
	is($ok, 10, "while a reader holds $lock, every INSERT into the parent succeeds");
	is($slow, 0, '(none waited)');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'CALL privacy.run_purge%'}),
		'1', 'the purge was still waiting meanwhile');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	                                   WHERE l.relation = 'app.part'::regclass AND a.query LIKE 'CALL privacy.run_purge%'}),
		'0', 'holding no lock on the parent');
	$app->query_safe('COMMIT');
	$purger->query('SELECT 1');
	$purger->quit;
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM pg_class WHERE relname = 'part_$year'}), '0',
		"once $lock is free, the purge drops the expired partition");
}
is($node->safe_psql('postgres', q{SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                                   WHERE i.inhparent = 'app.part'::regclass}),
	'part_def,part_new', 'the expired partitions are gone, the others are there');
is($node->safe_psql('postgres', q{SELECT count(*) FROM app.part WHERE id > 100}), '20', 'and so is every insert');

# In one transaction (purge()), a dropped partition keeps the parent
# locked to the end: then a second partition in use is not waited for,
# the table's work is undone, and writers do not wait either.
$node->safe_psql('postgres', q{
CREATE TABLE app.part_1990 PARTITION OF app.part FOR VALUES FROM ('1990-01-01') TO ('1991-01-01');
CREATE TABLE app.part_1991 PARTITION OF app.part FOR VALUES FROM ('1991-01-01') TO ('1992-01-01');
INSERT INTO app.part VALUES (1990, '1990-06-01'), (1991, '1991-06-01');
});
$app->query_safe('BEGIN');
$app->query_safe('SELECT count(*) FROM app.part_1991');
$t0 = time();
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM privacy.purge(false, 'app.part', 1000, 10)});
cmp_ok(time() - $t0, '<', 3, 'purge() does not wait for the second partition while it holds the parent');
like($err, qr/could not lock partition app\.part_1991 to drop it/, 'it reports it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname IN ('part_1990', 'part_1991')}), '2',
	'and undoes the table\'s work');
$app->query_safe('COMMIT');
is($node->safe_psql('postgres', q{SELECT partitions FROM privacy.purge(false, 'app.part')}), '2', 'the next purge drops both');
is($node->safe_psql('postgres', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'audit chain intact');

# Policies and holds go through pg_dump and pg_restore with the catalog,
# the time column's attribute number resolved again.
$node->safe_psql('postgres', q{
CREATE TABLE app.books (gone int, id int, booked_on date NOT NULL);
ALTER TABLE app.books DROP COLUMN gone;
INSERT INTO app.books VALUES (1, '2019-03-01'), (2, '2026-03-01');
SELECT privacy.register_table('app.books', 'support');
SELECT privacy.set_retention('app.books', 'booked_on', '5 years', align => 'year', year_start => 7,
                             keep_at_least => '5 years', time_zone => 'Europe/Copenhagen');
SELECT privacy.hold('email', 'Q7@example.dk', 'audit 2026', now() + interval '1 year');
});
my $policies_q = q{SELECT string_agg(table_name::text || ' ' || description || ' ' || time_zone, '; ' ORDER BY table_name::text)
                   FROM privacy.retention_policies};
my $holds_q = q{SELECT string_agg(kind || ' ' || masked_value || ' ' || reason || ' ' || active, '; ' ORDER BY id) FROM privacy.legal_holds};
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/ret.dump", '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), "$dir/ret.dump" ], 'pg_restore');
is($node->safe_psql('restored', $policies_q), $node->safe_psql('postgres', $policies_q), 'policies restored');
is($node->safe_psql('restored', $holds_q), $node->safe_psql('postgres', $holds_q), 'holds restored');
is($node->safe_psql('restored', q{SELECT time_attnum FROM privacy.retention_policy WHERE tbl = 'app.books'::regclass}),
	$node->safe_psql('restored', q{SELECT attnum FROM pg_attribute WHERE attrelid = 'app.books'::regclass AND attname = 'booked_on'}),
	'the time column is resolved again');
isnt($node->safe_psql('postgres', q{SELECT time_attnum FROM privacy.retention_policy WHERE tbl = 'app.books'::regclass}),
	$node->safe_psql('restored', q{SELECT time_attnum FROM privacy.retention_policy WHERE tbl = 'app.books'::regclass}),
	'(it did shift)');
is($node->safe_psql('restored', q{SELECT rows FROM privacy.purge(false, 'app.books')}), '1', 'the restored policy works');
is($node->safe_psql('restored', q{SELECT string_agg(id::text, ',') FROM app.books}), '2', 'on the right rows');

$app->quit;
$node->stop;
done_testing();
