# Erasures survive a restore: every erasure is appended, as it commits, to
# the erasure ledger (a file outside the data directory, keyed references
# only); a database restored from a backup taken before it refuses to
# erase until privacy.replay_erasures() has erased the subject again, with
# the legal minimums in force, and the ledger and the database then agree.
# Runs on the telephony data set, with a logical dump restored into a
# fresh cluster and a physical backup restored in place.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{PGP_SRC} // '.';
my $dir = PostgreSQL::Test::Utils::tempdir();
my $keyfile = "$dir/master.key";
open(my $fh, '>', $keyfile) or die;
print $fh join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32), "\n";
close($fh);
chmod(0600, $keyfile);
mkdir("$dir/ledger") or die;
chmod(0700, "$dir/ledger");
my $ledger = "$dir/ledger/erasures.ledger";

sub ledger_lines
{
	return () unless -e $ledger;
	open(my $in, '<', $ledger) or die "$ledger: $!";
	my @l = <$in>;
	close($in);
	chomp @l;
	return @l;
}

my $node = PostgreSQL::Test::Cluster->new('ledger');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$keyfile'
pg_privacy.erasure_ledger_file = '$ledger'
max_prepared_transactions = 2
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_privacy');
for my $f ("$src/test/data/telephony.sql", "$src/test/data/register.sql", "$src/test/data/register_subject.sql")
{
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $f ],
		"load $f");
}
$node->safe_psql('postgres', 'SELECT telco.generate(42, 1)');
# Invoices are bookkeeping: kept five years whatever the subject asks.
$node->safe_psql('postgres',
	q{SELECT privacy.set_retention('telco.invoice', 'issued_at', interval '10 years', keep_at_least => interval '5 years')});

# Subscribers whose numbers were never given to anyone else, with invoices.
my @customers = split /\n/, $node->safe_psql('postgres', q{
SELECT c.customer_id FROM telco.customer c
 WHERE EXISTS (SELECT FROM telco.invoice i WHERE i.customer_id = c.customer_id AND i.issued_at > now() - interval '4 years')
   AND EXISTS (SELECT FROM telco.subscription s WHERE s.customer_id = c.customer_id)
   AND NOT EXISTS (SELECT FROM telco.subscription s JOIN telco.subscription o
                     ON o.msisdn = s.msisdn AND o.customer_id <> s.customer_id
                    WHERE s.customer_id = c.customer_id)
 ORDER BY c.customer_id LIMIT 4});
is(scalar(@customers), 4, 'four subscribers to erase');
my ($x, $y, $z, $w) = @customers;
my %clear = map {
	$_ => [ split /\n/, $node->safe_psql('postgres', qq{
SELECT email FROM telco.customer WHERE customer_id = $_
UNION ALL SELECT customer_no FROM telco.customer WHERE customer_id = $_
UNION ALL SELECT msisdn FROM telco.subscription WHERE customer_id = $_}) ]
} @customers;

sub rows_of
{
	my ($n, $db, $c) = @_;
	return $n->safe_psql($db, qq{
SELECT (SELECT count(*) FROM telco.customer WHERE customer_id = $c) || ' '
    || (SELECT count(*) FROM telco.subscription WHERE customer_id = $c) || ' '
    || (SELECT count(*) FROM telco.invoice WHERE customer_id = $c)});
}

# --- backups taken before any erasure ---------------------------------------
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/before.dump", '-d', $node->connstr('postgres') ],
	'a logical backup (pg_dump) before the erasures');
$node->backup('before');

is($node->safe_psql('postgres', q{SELECT status FROM privacy.health() WHERE area = 'erasure ledger'}),
	'ok', 'health: the ledger is configured and the database where it is');

# --- an erasure, recorded ---------------------------------------------------
my $report = $node->safe_psql('postgres',
	qq{SELECT table_name || '|' || action || '|' || rows FROM privacy.erase_subject('customer', '$x')});
like($report, qr/^telco\.invoice\|keep\|/m, 'the erasure keeps the invoices under their legal minimum');
like(rows_of($node, 'postgres', $x), qr/^[01] 0 [1-9]/, 'the subject is erased, its invoices kept (and the customer row they reference)');
my @lines = ledger_lines();
is(scalar(@lines), 1, 'the erasure is one line of the ledger file');
my $entry = decode_json($lines[0]);
is($entry->{seq}, 1, 'the first entry of the database is number 1');
ok((grep { $_->{kind} eq 'customer' } @{ $entry->{ids} }) && !(grep { $_->{ref} !~ /^ref:[A-Za-z0-9_-]+$/ } @{ $entry->{ids} }),
	'it names the subject by keyed references only');
ok((grep { $_->{table} eq 'telco.invoice' && $_->{action} eq 'keep' && $_->{why} eq 'legal minimum' } @{ $entry->{report} }),
	'it says what was kept, and why');
my @leaks = grep { my $v = $_; $v ne '' && index(lc $lines[0], lc $v) >= 0 } @{ $clear{$x} };
is(join(', ', @leaks), '', 'no identifier of the subject in clear in the ledger');
is($node->safe_psql('postgres', q{SELECT seq || ' ' || verified || ' ' || this_database FROM privacy.erasure_ledger}),
	'1 true true', 'privacy.erasure_ledger reads it back, verified, as this database\'s');

# --- nothing unrecorded: a ledger that cannot be written fails the erasure --
chmod(0400, $ledger);
my ($ret, $out, $err) = $node->psql('postgres', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$y')});
isnt($ret, 0, 'with a ledger it cannot write to, the erasure fails');
like($err, qr/could not open the erasure ledger/, '... saying so');
chmod(0600, $ledger);
like(rows_of($node, 'postgres', $y), qr/^1 [1-9]\d* [1-9]/, '... and nothing of the subject is erased');
is(scalar(ledger_lines()), 1, '... and nothing is recorded');

# a rolled-back subtransaction records nothing; a prepared one is refused
$node->safe_psql('postgres', qq{BEGIN; SAVEPOINT s; SELECT count(*) FROM privacy.erase_subject('customer', '$y'); ROLLBACK TO s; COMMIT;});
is(scalar(ledger_lines()), 1, 'an erasure rolled back with its savepoint leaves no line');
($ret, $out, $err) = $node->psql('postgres',
	qq{BEGIN; SELECT count(*) FROM privacy.erase_subject('customer', '$y'); PREPARE TRANSACTION 'e';});
like($err, qr/cannot PREPARE a transaction that erased a data subject/, 'an erasure cannot be prepared (two-phase commit)');
like(rows_of($node, 'postgres', $y), qr/^1 /, '... and is rolled back');

# two more erasures after the backups: one of a subject the backup knows,
# one of a subject created after it
$node->safe_psql('postgres', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$z')});
$node->safe_psql('postgres', q{
INSERT INTO telco.customer (customer_id, customer_no, company, cvr, contact_name, email, street, postal_code, city, created_at)
VALUES (990001, 'C990001', 'Nyt Firma ApS', '99000100', 'Ny Kunde', 'ny.kunde@example.dk', 'Vej 1', '8000', 'Aarhus', now())});
$node->safe_psql('postgres', q{SELECT count(*) FROM privacy.erase_subject('customer', '990001')});
is(scalar(ledger_lines()), 3, 'three erasures, three lines');
is($node->safe_psql('postgres', q{SELECT string_agg(seq::text, ',' ORDER BY line) || ' ' || bool_and(verified) FROM privacy.erasure_ledger}),
	'1,2,3 true', 'one chain, every line verified');

# --- a logical backup restored into a fresh cluster -------------------------
my $new = PostgreSQL::Test::Cluster->new('restored');
$new->init;
$new->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$keyfile'
pg_privacy.erasure_ledger_file = '$ledger'
});
$new->start;
$new->safe_psql('postgres', 'CREATE DATABASE telco');
$new->command_ok([ 'pg_restore', '-d', $new->connstr('telco'), "$dir/before.dump" ], 'pg_restore into a fresh cluster');
like(rows_of($new, 'telco', $x), qr/^1 [1-9]\d* [1-9]/, 'the restore brought the erased subject back');
is($new->safe_psql('telco', q{SELECT status FROM privacy.health() WHERE area = 'erasure ledger'}),
	'error', 'health says the restored database has erasures to replay');
($ret, $out, $err) = $new->psql('telco', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$w')});
like($err, qr/restored or copied from another place: its erasure ledger must be replayed first/,
	'the restored database refuses to erase before the replay');
my $replay = $new->safe_psql('telco',
	q{SELECT seq || '|' || result || '|' || COALESCE((SELECT string_agg(r->>'table_name' || ':' || (r->>'action'), ',' ORDER BY r->>'table_name', r->>'action') FROM jsonb_array_elements(report) r), '')
	    FROM privacy.replay_erasures() ORDER BY seq});
note "replay:\n$replay";
my @r = split /\n/, $replay;
is(scalar(@r), 3, 'replay_erasures goes through the three erasures');
like($r[0], qr/^1\|erased again\|.*telco\.invoice:keep/, 'the first subject is erased again, its invoices kept');
like($r[1], qr/^2\|erased again\|/, 'so is the second');
like($r[2], qr/^3\|not in this database\|$/, 'the subject created after the backup is not there to erase');
like(rows_of($new, 'telco', $x), qr/^[01] 0 [1-9]/, 'the erased subject is gone again, the legally kept rows remain');
like(rows_of($new, 'telco', $z), qr/^[01] 0 /, '... and the second');
is($new->safe_psql('telco', q{SELECT privacy.is_restricted('customer', '} . $x . q{')}), 't', 'the kept rows are restricted');
is($new->safe_psql('telco', q{SELECT status FROM privacy.health() WHERE area = 'erasure ledger'}),
	'ok', 'health: in step after the replay');
is($new->safe_psql('telco', q{SELECT count(*) FROM privacy.replay_erasures()}), '0', 'a second replay has nothing to do');
is($new->safe_psql('telco', q{SELECT count(*) FROM privacy.audit_log WHERE event = 'subject.erase_replay'}), '3',
	'each replayed entry is in the audit log');
# it now records its own erasures apart from the original's
$new->safe_psql('telco', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$w')});
is(scalar(ledger_lines()), 4, 'the restored database\'s own erasure is recorded');
is($new->safe_psql('telco', q{SELECT seq || ' ' || this_database FROM privacy.erasure_ledger ORDER BY line DESC LIMIT 1}),
	'1 true', '... as the first of a chain of its own');
is($node->safe_psql('postgres', q{SELECT status FROM privacy.health() WHERE area = 'erasure ledger'}),
	'ok', 'the original is not disturbed by it');
$node->safe_psql('postgres', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$y')});
is($node->safe_psql('postgres', q{SELECT max(seq) FROM privacy.erasure_ledger WHERE this_database}), '4',
	'and records its next erasure as number 4 of its own chain');

# --- a physical backup restored in place ------------------------------------
my $phys = PostgreSQL::Test::Cluster->new('physical');
$phys->init_from_backup($node, 'before');
$phys->start;
like(rows_of($phys, 'postgres', $x), qr/^1 /, 'the physical backup brought the subject back');
is($phys->safe_psql('postgres', q{SELECT status FROM privacy.health() WHERE area = 'erasure ledger'}),
	'error', 'health: older than its ledger');
($ret, $out, $err) = $phys->psql('postgres', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$w')});
like($err, qr/this database is older than its erasure ledger/, 'it refuses to erase before the replay');
is($phys->safe_psql('postgres', q{SELECT string_agg(seq || ':' || result, ',' ORDER BY seq) FROM privacy.replay_erasures()}),
	'1:erased again,2:erased again,3:not in this database,4:erased again', 'the replay erases the subjects again');
like(rows_of($phys, 'postgres', $y), qr/^[01] 0 [1-9]/, '... the last one included');
is($phys->safe_psql('postgres', q{SELECT last_seq FROM privacy.erasure_ledger_state}), '4',
	'restored in place, it carries on the original\'s chain');
$phys->stop;

# --- a line altered -----------------------------------------------------------
my @all = ledger_lines();
(my $bad = $all[1]) =~ s/"rows": (\d+)/'"rows": ' . ($1 + 1)/e;
open(my $out_fh, '>', $ledger) or die;
print $out_fh join("\n", $all[0], $bad, @all[2 .. $#all]), "\n";
close($out_fh);
is($node->safe_psql('postgres', q{SELECT string_agg(verified::text, ',' ORDER BY line) FROM privacy.erasure_ledger}),
	'true,false,true,true', 'an altered line does not verify (the lines around it still do)');
is($node->safe_psql('postgres', q{SELECT status FROM privacy.health() WHERE area = 'erasure ledger'}),
	'ok', 'the original, past that line, has nothing to replay from it: health stays ok');
my $phys2 = PostgreSQL::Test::Cluster->new('physical2');
$phys2->init_from_backup($node, 'before');
$phys2->start;
($ret, $out, $err) = $phys2->psql('postgres', q{SELECT count(*) FROM privacy.replay_erasures()});
like($err, qr/the erasure ledger is damaged or was altered at line 2/, 'replay_erasures refuses an altered ledger');
like(rows_of($phys2, 'postgres', $x), qr/^1 /, '... and replays nothing');

# a line whose type was changed, and lines replaced by a line that only
# names the database: refused too
(my $retyped = $all[1]) =~ s/"type": "erasure"/"type": "erasurX"/;
open($out_fh, '>', $ledger) or die;
print $out_fh join("\n", $all[0], $retyped, @all[2 .. $#all]), "\n";
close($out_fh);
($ret, $out, $err) = $phys2->psql('postgres', q{SELECT count(*) FROM privacy.replay_erasures()});
like($err, qr/damaged or was altered at line 2/, 'a line whose type was changed is refused');
my $dbid = decode_json($all[0])->{db};
open($out_fh, '>', $ledger) or die;
print $out_fh join("\n", $all[0], qq({"db": "$dbid"}), @all[3 .. $#all]), "\n";
close($out_fh);
($ret, $out, $err) = $phys2->psql('postgres', q{SELECT count(*) FROM privacy.replay_erasures()});
like($err, qr/damaged or was altered at line 2/, 'lines replaced by a line that names the database are refused');
$phys2->stop;

# the ledger as it was written
open($out_fh, '>', $ledger) or die;
print $out_fh join("\n", @all), "\n";
close($out_fh);
chmod(0600, $ledger);

# --- a line cut short by a writer that failed before its commit ----------------
open($out_fh, '>>', $ledger) or die;
print $out_fh '{"v": 1, "db": "' . $dbid . '", "seq": 5, "ty';
close($out_fh);
$node->safe_psql('postgres', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$w')});
@lines = ledger_lines();
is(scalar(grep { !eval { decode_json($_); 1 } } @lines), 0, 'the next erasure cuts the torn line off before it appends');
is($node->safe_psql('postgres', q{SELECT string_agg(seq::text, ',' ORDER BY line) || ' ' || bool_and(verified) FROM privacy.erasure_ledger WHERE this_database}),
	'1,2,3,4,5 true', '... and the chain goes on, every line verified');

# --- the statement that names the person is never logged with a ledger error ---
# (the test cluster logs every statement as it starts; an error logs its
# statement again after it, unless it is hidden)
my $log = slurp_file($node->logfile);
like($log, qr/ERROR:  could not open the erasure ledger/, 'the refused commit is in the server log');
unlike($log, qr/STATEMENT:.*erase_subject\('customer', '$y'\)/, '... without the statement that names the person');

# --- an identifier that passed to another person is not taken for the subject --
# after the base backup, a customer leaves the address; a new customer takes
# it and is erased.  In the restored backup the address is the first one's.
my ($old_mail) = $node->safe_psql('postgres', qq{SELECT email FROM telco.customer WHERE customer_id = $z});
my $u = $node->safe_psql('postgres', q{
SELECT c.customer_id FROM telco.customer c
 WHERE NOT EXISTS (SELECT FROM telco.subscription s JOIN telco.subscription o
                     ON o.msisdn = s.msisdn AND o.customer_id <> s.customer_id
                    WHERE s.customer_id = c.customer_id)
   AND c.customer_id NOT IN (} . join(',', @customers) . q{) ORDER BY 1 LIMIT 1});
my ($u_mail) = $node->safe_psql('postgres', qq{SELECT email FROM telco.customer WHERE customer_id = $u});
$node->safe_psql('postgres', qq{
INSERT INTO telco.customer (customer_id, customer_no, company, cvr, contact_name, email, street, postal_code, city, created_at)
VALUES (990002, 'C990002', 'Andet Firma ApS', '99000200', 'Anden Kunde', '$u_mail', 'Vej 2', '8000', 'Aarhus', now())});
$node->safe_psql('postgres', qq{UPDATE telco.customer SET email = 'moved.away\@example.dk' WHERE customer_id = $u});
$node->safe_psql('postgres', q{SELECT count(*) FROM privacy.erase_subject('customer', '990002')});
my $phys3 = PostgreSQL::Test::Cluster->new('physical3');
$phys3->init_from_backup($node, 'before');
$phys3->start;
is($phys3->safe_psql('postgres', q{SELECT seq || ':' || result FROM privacy.replay_erasures() WHERE seq = 6}),
	'6:ambiguous: not erased', 'the replay does not erase the address\'s earlier holder');
like(rows_of($phys3, 'postgres', $u), qr/^1 [1-9]/, '... who is still there');
$phys3->stop;

# --- a physical copy that erases on its own: a chain of its own first ----------
$phys->start;
ok($phys->safe_psql('postgres', q{SELECT privacy.fork_erasure_ledger() IS NOT NULL}) eq 't',
	'a physical copy starts a chain of its own');
$phys->safe_psql('postgres', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$u')});
is($phys->safe_psql('postgres', q{SELECT seq || ' ' || this_database FROM privacy.erasure_ledger ORDER BY line DESC LIMIT 1}),
	'1 true', 'its erasures are its own chain\'s');
is($node->safe_psql('postgres', q{SELECT status FROM privacy.health() WHERE area = 'erasure ledger'}),
	'ok', 'and the original\'s chain is not touched');
$phys->stop;

# --- the setting and the file, checked ------------------------------------------
sub set_ledger
{
	my ($n, $path) = @_;
	$n->safe_psql('postgres', "ALTER SYSTEM SET pg_privacy.erasure_ledger_file = '$path'");
	$n->reload;
	# the reload reaches new sessions: each safe_psql is one
}
($ret, $out, $err) = $new->psql('postgres', q{ALTER SYSTEM SET pg_privacy.erasure_ledger_file = 'relative.ledger'});
like($err, qr/pg_privacy.erasure_ledger_file must be an absolute path/, 'a relative path is refused');
my $pgdata = $new->data_dir;
set_ledger($new, "$pgdata/erasures.ledger");
($ret, $out, $err) = $new->psql('telco', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$z')});
like($err, qr/the ledger lies inside the data directory/, 'a ledger inside the data directory is refused');
set_ledger($new, "$dir/nowhere/erasures.ledger");
($ret, $out, $err) = $new->psql('telco', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$z')});
like($err, qr/the ledger's directory cannot be reached/, 'a ledger in a directory that does not exist is refused');
mkdir("$dir/ledger/adir") or die;
set_ledger($new, "$dir/ledger/adir");
($ret, $out, $err) = $new->psql('telco', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$z')});
like($err, qr/the ledger is not a regular file/, 'a ledger that is not a regular file is refused');
set_ledger($new, "$dir/ledger/other.ledger");
is($new->safe_psql('telco', q{SELECT status || ': ' || detail FROM privacy.health() WHERE area = 'erasure ledger'}),
	'error: the erasure ledger lacks this database\'s erasures up to number 1: it is not this database\'s ledger, or lost lines',
	'another ledger file, without this database\'s erasures: health says so');
($ret, $out, $err) = $new->psql('telco', q{SELECT count(*) FROM privacy.replay_erasures()});
like($err, qr/the erasure ledger does not hold this database's last erasure \(number 1\)/, '... and replay_erasures refuses it');
set_ledger($new, '');
is($new->safe_psql('telco', q{SELECT status FROM privacy.health() WHERE area = 'erasure ledger'}),
	'warning', 'without a ledger, health warns');
($ret, $out, $err) = $new->psql('telco', q{SELECT count(*) FROM privacy.replay_erasures()});
like($err, qr/no erasure ledger is configured/, 'replay_erasures needs the ledger');
($ret, $out, $err) = $new->psql('telco', q{SELECT count(*) FROM privacy.erasure_ledger});
like($err, qr/no erasure ledger is configured/, 'and so does reading it');
like($new->safe_psql('telco', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$z')}), qr/^\d+$/,
	'erasures go on without a ledger (health warns)');
set_ledger($new, $ledger);
($ret, $out, $err) = $new->psql('telco', q{SELECT privacy_internal._ledger_queue(E'one\ntwo')});
like($err, qr/an erasure ledger entry is one line/, 'an entry is one line');

# Lines jsonb cannot hold are shown as damaged, never as an error; an
# identity that looks like an exponent ("3e69370") is not one.
open($out_fh, '>', "$dir/ledger/odd.ledger") or die;
print $out_fh qq({"db": "c3e69370-9fc2-440e-91a7-ef90352655d4", "n": 1.5e3}\n);
print $out_fh qq({"n": 1e99999}\n);
print $out_fh qq({"s": "a\\u0000b"}\n);
print $out_fh qq({"s": "\\ud800"}\n);
print $out_fh qq(not json at all\n);
close($out_fh);
chmod(0600, "$dir/ledger/odd.ledger");
set_ledger($new, "$dir/ledger/odd.ledger");
is($new->safe_psql('telco', q{SELECT string_agg((body IS NOT NULL)::text, ',' ORDER BY lineno) FROM privacy_internal._ledger_lines()}),
	'true,false,false,false,false', 'lines jsonb cannot hold are read as damaged, without an error');
set_ledger($new, $ledger);

# --- nobody but the DBA reads, writes or replays the ledger ----------------------
$node->safe_psql('postgres', q{CREATE ROLE regress_ledger_mallory LOGIN; GRANT USAGE ON SCHEMA telco TO regress_ledger_mallory;
                               ALTER TABLE telco.invoice OWNER TO regress_ledger_mallory});
for my $try ('SELECT count(*) FROM privacy.erasure_ledger',
	'SELECT count(*) FROM privacy_internal._ledger_lines()',
	q{SELECT privacy_internal._ledger_queue('{}')},
	'SELECT count(*) FROM privacy.replay_erasures()',
	'SELECT privacy.fork_erasure_ledger()',
	'UPDATE privacy.erasure_ledger_state SET last_seq = 0')
{
	($ret, $out, $err) = $node->psql('postgres', "SET ROLE regress_ledger_mallory; $try");
	like($err, qr/permission denied/, "a table owner is refused: $try");
}
$node->safe_psql('postgres', q{ALTER TABLE telco.invoice OWNER TO CURRENT_USER});

# --- several erasures in one transaction: one after the other in the chain ------
my @two = split /\n/, $node->safe_psql('postgres', q{
SELECT c.customer_id FROM telco.customer c
 WHERE EXISTS (SELECT FROM telco.subscription s WHERE s.customer_id = c.customer_id)
   AND c.customer_id NOT IN (} . join(',', @customers, $u) . q{) ORDER BY 1 LIMIT 2});
my $before_n = scalar(ledger_lines());
$node->safe_psql('postgres', qq{BEGIN;
SELECT count(*) FROM privacy.erase_subject('customer', '$two[0]');
SAVEPOINT s; SELECT count(*) FROM privacy.erase_subject('customer', '$two[1]'); ROLLBACK TO s;
SELECT count(*) FROM privacy.erase_subject('customer', '$two[1]');
COMMIT;});
is(scalar(ledger_lines()) - $before_n, 2, 'two erasures in one transaction, one rolled back to its savepoint in between: two lines');
is($node->safe_psql('postgres', q{SELECT string_agg(seq::text, ',' ORDER BY line) || ' ' || bool_and(verified) FROM (SELECT * FROM privacy.erasure_ledger WHERE this_database ORDER BY line DESC LIMIT 3) x}),
	'6,7,8 true', '... numbered one after the other, the chain verified');

# --- a large ledger: a new session finds its database's last line from the end --
# Other databases' lines after this one's (200 kB of them, one line longer
# than the reader's block), and a torn line at the very end: a new session
# reads the tail backwards and finds this database's last entry.
my $last = $node->safe_psql('postgres', 'SELECT last_seq FROM privacy.erasure_ledger_state');
open(my $app, '>>', $ledger) or die;
for my $i (1 .. 1500)
{
	printf $app qq({"v": 1, "type": "erasure", "db": "00000000-0000-4000-8000-%012d", "seq": %d, "pad": "%s"}\n),
	  $i % 7, $i, 'x' x 100;
}
print $app qq({"v": 1, "type": "erasure", "db": "00000000-0000-4000-8000-000000000001", "pad": "), 'y' x 150000, qq("}\n);
print $app qq({"v": 1, "type": "erasure", "db": "00000000-0000-4000-8000-000000000002", "seq": 9);
close($app);
is($node->safe_psql('postgres', q{SELECT t.seq FROM privacy.erasure_ledger_state s, privacy_internal._ledger_tail(s.database_id::text) t}),
	$last, 'a new session finds this database\'s last entry at the end of a large ledger, past a torn line and a long one');
my @three = split /\n/, $node->safe_psql('postgres', q{
SELECT c.customer_id FROM telco.customer c
 WHERE EXISTS (SELECT FROM telco.subscription s WHERE s.customer_id = c.customer_id)
   AND c.customer_id NOT IN (} . join(',', @customers, $u, @two) . q{) ORDER BY 1 LIMIT 1});
$node->safe_psql('postgres', qq{SELECT count(*) FROM privacy.erase_subject('customer', '$three[0]')});
is($node->safe_psql('postgres', q{SELECT seq || ' ' || verified FROM privacy.erasure_ledger WHERE this_database ORDER BY line DESC LIMIT 1}),
	($last + 1) . ' true', '... and the next erasure follows it (the torn line cut off)');

$new->stop;
$node->stop;
done_testing();
