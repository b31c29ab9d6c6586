# Masking by role makes an anonymized copy: pg_dump run AS a masked role
# (privacy.mask_role) dumps the telephony data set with every declared
# personal column masked by its category, and the dump restores into a
# plain PostgreSQL server without pg_privacy (pg_privacy's trigger entries
# and the indexes on its functions left out) with primary keys unique and
# foreign keys joining.  No identifier of the source is in the copy: every
# customer e-mail, contact name, customer and invoice number, bank
# account, street, subscriber number (E.164, national digits, stored
# pseudonym), newsletter e-mail, name and phone, ticket body, number and
# e-mail and consent value of the source is looked for in a plain data
# dump of the restored database.  The same pg_dump run by the table's
# owner holds them all (so the scan can fail); pg_dump --inserts (the
# cursor path) and a parallel pg_dump -j 2 mask too; and the masked role
# does not get around the mask with a whole-row reference, row_to_json,
# COPY, a CTE, a partition's own name, a view, a WHERE clause, SET ROLE
# or a SECURITY DEFINER function it makes for a role it can SET ROLE to.
# The dump of a role masked with privacy_by_default does not restore
# (undeclared keys read as NULL or 0): copies are made without it.
use strict;
use warnings;

use IPC::Run;
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

my $node = PostgreSQL::Test::Cluster->new('masked');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$keyfile'
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_privacy');
for my $f ("$src/test/data/telephony.sql", "$src/test/data/register.sql", "$src/test/data/register_subject.sql")
{
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $f ],
		"load $f");
}
$node->safe_psql('postgres', 'SELECT telco.generate(42, 1)');

my ($ret, $out, $err) = $node->psql('postgres', q{
CREATE ROLE support LOGIN;
GRANT USAGE ON SCHEMA telco TO support;
GRANT SELECT ON ALL TABLES IN SCHEMA telco TO support;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA telco TO support;
SELECT privacy.mask_role('support');
}, on_error_stop => 1);
is($ret, 0, 'support is a masked role') or diag($err);

# Run a command; one check, with its stderr on failure.
sub run_ok
{
	my ($name, @cmd) = @_;
	my ($o, $e) = ('', '');
	my $ok = IPC::Run::run(\@cmd, '>', \$o, '2>', \$e);
	ok($ok, $name) or diag("command: @cmd\nstderr: $e");
	return ($ok, $o, $e);
}

# --- the source's identifiers -----------------------------------------------

# [kind, value]: every identifier the copy must not hold.
my @needles;
sub collect
{
	my ($kind, $sql) = @_;
	my @v = grep { $_ ne '' } split /\n/, $node->safe_psql('postgres', $sql);
	die "no $kind in the source" unless @v;
	push @needles, map { [ $kind, $_ ] } @v;
}
collect('customer e-mail',      q{SELECT email FROM telco.customer});
collect('contact name',         q{SELECT contact_name FROM telco.customer});
collect('customer number',      q{SELECT customer_no FROM telco.customer});
collect('street',               q{SELECT street FROM telco.customer});
collect('bank account',         q{SELECT bank_account FROM telco.customer WHERE bank_account IS NOT NULL
                                  UNION SELECT bank_account FROM telco.invoice WHERE bank_account IS NOT NULL});
collect('invoice number',       q{SELECT invoice_no FROM telco.invoice});
collect('subscriber number',    q{SELECT DISTINCT msisdn FROM telco.subscription});
collect('national digits',      q{SELECT DISTINCT substr(msisdn, 4) FROM telco.subscription});
collect('stored pseudonym',     q{SELECT DISTINCT privacy.pseudonymize_msisdn(msisdn) FROM telco.subscription});
collect('newsletter e-mail',    q{SELECT btrim(email) FROM telco.newsletter_subscriber});
collect('newsletter name',      q{SELECT name FROM telco.newsletter_subscriber});
collect('newsletter phone',     q{SELECT btrim(phone) FROM telco.newsletter_subscriber WHERE phone IS NOT NULL});
collect('ticket body',          q{SELECT body FROM telco.support_ticket});
collect('ticket number',        q{SELECT btrim(msisdn_raw) FROM telco.support_ticket WHERE msisdn_raw IS NOT NULL});
collect('ticket e-mail',        q{SELECT btrim(contact_email) FROM telco.support_ticket WHERE contact_email IS NOT NULL});
collect('consent value',        q{SELECT DISTINCT btrim(value) FROM telco.consent_import});
my %kinds = map { $_->[0] => 1 } @needles;
note scalar(@needles) . ' source values of ' . scalar(keys %kinds) . ' kinds';

# The data of a plain dump: its COPY rows and INSERT statements (never
# the definitions of the data set's functions).
sub data_of
{
	my ($file) = @_;
	my ($data, $in) = ('', 0);
	for my $line (split /\n/, slurp_file($file))
	{
		if ($in)
		{
			if ($line eq '\.') { $in = 0 } else { $data .= "$line\n" }
			next;
		}
		if ($line =~ /^COPY \S+ .*FROM stdin;$/) { $in = 1; next; }
		$data .= "$line\n" if $line =~ /^INSERT INTO /;
	}
	return $data;
}

# The source values found in $data, as "kind: value", case-insensitive;
# a value that begins or ends with a digit only where no digit adjoins it
# (a number inside a longer number, e.g. a permuted id, is another number).
# A quote doubled as in INSERT statements is found too.
sub scan
{
	my ($data) = @_;
	my $lc = lc $data;
	my @hits;
	for my $n (@needles)
	{
		my ($kind, $v) = @$n;
		my %forms = map { $_ => 1 } (lc $v, lc($v =~ s/'/''/gr));
		for my $form (keys %forms)
		{
			my $re = ($form =~ /^\d/ ? '(?<![0-9])' : '') . quotemeta($form) . ($form =~ /\d$/ ? '(?![0-9])' : '');
			if ($lc =~ /$re/)
			{
				push @hits, "$kind: $v";
				last;
			}
		}
	}
	return @hits;
}

# Per table: rows, as "table|rows" lines (partitions too).
my $counts_q = q{
SELECT c.relname || '|' || (xpath('/row/n/text()',
         query_to_xml(format('SELECT count(*) AS n FROM ONLY telco.%I', c.relname), false, true, '')))[1]::text
  FROM pg_class c WHERE c.relnamespace = 'telco'::regnamespace AND c.relkind = 'r' ORDER BY c.relname};
my $fk_q = q{SELECT string_agg(conrelid::regclass || ' -> ' || confrelid::regclass, ', ' ORDER BY conname)
               FROM pg_constraint WHERE contype = 'f' AND connamespace = 'telco'::regnamespace};
my $source_counts = $node->safe_psql('postgres', $counts_q);
my $source_fks = $node->safe_psql('postgres', $fk_q);
my $source_ids = $node->safe_psql('postgres', q{SELECT string_agg(customer_id::text, ',') FROM telco.customer});

# --- pg_dump as the masked role, restored on a plain server ------------------

run_ok('pg_dump -Fc -n telco as the masked role support',
	'pg_dump', '-U', 'support', '-n', 'telco', '-Fc', '-f', "$dir/masked.dump", '-d', $node->connstr('postgres'));

# pg_privacy's triggers on the telco tables call privacy_internal
# functions a server without pg_privacy does not have: left out.  So are
# the indexes on privacy.lookup_value that register_subject.sql created
# (privacy.missing_indexes' suggestions): the subject search's, useless
# without pg_privacy and impossible to create there.
my %pgp_index = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', q{
SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = 'telco'::regnamespace AND pg_get_indexdef(i.indexrelid) ~ '\mprivacy(_internal)?\.'});
my (undef, $list) = run_ok('pg_restore -l', 'pg_restore', '-l', "$dir/masked.dump");
my @lines = split /\n/, $list;
my $left_out = sub { $_[0] =~ /^\d+;.* TRIGGER / || ($_[0] =~ /^\d+;.* INDEX telco (\S+) / && $pgp_index{$1}) };
my @triggers = grep { /^\d+;.* TRIGGER / } @lines;
my @indexes = grep { /^\d+;.* INDEX / && $left_out->($_) } @lines;
note "left out:\n" . join("\n", @triggers, @indexes);
ok(@triggers >= 1 && @indexes == keys %pgp_index,
	'the dump lists pg_privacy\'s trigger entries (' . scalar(@triggers) . ') and the indexes on pg_privacy\'s functions ('
	  . scalar(@indexes) . '), left out of the restore');
open(my $lfh, '>', "$dir/restore.list") or die;
print $lfh join("\n", grep { !$left_out->($_) } @lines), "\n";
close($lfh);

my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE DATABASE telco_dev');
is($plain->safe_psql('telco_dev',
		q{SELECT current_setting('shared_preload_libraries') || '|' || (SELECT count(*) FROM pg_extension WHERE extname = 'pg_privacy')}),
	'|0', '(the second server has no pg_privacy: not preloaded, not created)');
run_ok('pg_restore -L (without those) --exit-on-error into a database of the plain server',
	'pg_restore', '-L', "$dir/restore.list", '--exit-on-error', '--no-owner', '--no-privileges',
	'-d', $plain->connstr('telco_dev'), "$dir/masked.dump");

is($plain->safe_psql('telco_dev', $counts_q), $source_counts, 'every table has as many rows as in the source');
is($plain->safe_psql('telco_dev', $fk_q), $source_fks, "the foreign keys are restored ($source_fks)");
for my $t (qw(subscription invoice support_ticket))
{
	is($plain->safe_psql('telco_dev', qq{
SELECT (SELECT count(*) FROM telco.$t x JOIN telco.customer c ON c.customer_id = x.customer_id)
       || '|' || (SELECT count(*) FROM telco.$t WHERE customer_id IS NOT NULL)}) =~ s/^(\d+)\|\1$/same/r,
		'same', "every $t row joins its customer on the masked customer_id");
}
is($plain->safe_psql('telco_dev', qq{SELECT count(*) FROM telco.customer WHERE customer_id IN ($source_ids)}),
	'0', 'no customer_id of the source is in the copy (ids are a keyed permutation)');

run_ok('pg_dump --data-only of the restored database',
	'pg_dump', '--data-only', '-f', "$dir/restored.sql", '-d', $plain->connstr('telco_dev'));
my $restored = data_of("$dir/restored.sql");
cmp_ok(length($restored), '>', 100000, '(the restored data is there: ' . length($restored) . ' bytes)');
is(join("\n", scan($restored)), '', 'no identifier of the source in the restored data');

# Masked values look masked.
my $bad_q = q{
SELECT string_agg(what || ': ' || n, ', ') FROM (
  SELECT 'customer.email' AS what, count(*) AS n FROM telco.customer WHERE email !~ '\*\*\*@'
  UNION ALL SELECT 'newsletter_subscriber.email', count(*) FROM telco.newsletter_subscriber WHERE email !~ '\*\*\*@'
  UNION ALL SELECT 'support_ticket.contact_email', count(*) FROM telco.support_ticket WHERE contact_email !~ '\*\*\*@') b
 WHERE n > 0};
is($plain->safe_psql('telco_dev', $bad_q), '', 'e-mail addresses are masked (x***@domain)');
is($plain->safe_psql('telco_dev', q{
SELECT count(*) FROM (SELECT contact_name AS n FROM telco.customer UNION ALL SELECT name FROM telco.newsletter_subscriber) x
 WHERE n !~ '^\S\.( \S\.)*$'}), '0', 'names are initials ("J. P. H.")');
is($plain->safe_psql('telco_dev', q{
SELECT count(*) FROM (SELECT customer_no AS v FROM telco.customer UNION ALL SELECT invoice_no FROM telco.invoice) x
 WHERE v !~ '^[A-Za-z0-9_-]{22}$'}), '0', 'customer and invoice numbers are 22-character keyed pseudonyms');
is($plain->safe_psql('telco_dev', q{
SELECT count(*) FROM (SELECT msisdn AS v FROM telco.subscription UNION ALL SELECT a_number FROM telco.cdr
                      UNION ALL SELECT b_number FROM telco.cdr UNION ALL SELECT phone FROM telco.newsletter_subscriber
                      UNION ALL SELECT msisdn_raw FROM telco.support_ticket) x
 WHERE v ~ '\d{5}'}), '0', 'phone numbers are masked (+4520XXXXXX), in the CDR partitions too');
is($plain->safe_psql('telco_dev', q{
SELECT count(*) FROM (SELECT bank_account AS v FROM telco.customer UNION ALL SELECT bank_account FROM telco.invoice) x
 WHERE regexp_replace(v, '\D', '', 'g') !~ '^\d{0,4}$'}), '0', 'bank accounts keep at most their last 4 digits');
is($plain->safe_psql('telco_dev', q{
SELECT count(*) FROM telco.support_ticket WHERE coalesce(body, '') <> '' OR coalesce(subject, '') <> ''}),
	'0', 'free text (ticket subjects and bodies) is empty');

# --- the same dump by the table's owner holds every kind of identifier -------

run_ok('pg_dump --data-only -n telco by the table owner',
	'pg_dump', '--data-only', '-n', 'telco', '-f', "$dir/owner.sql", '-d', $node->connstr('postgres'));
my @owner_hits = scan(data_of("$dir/owner.sql"));
my %found;
$found{ (split /: /, $_, 2)[0] }++ for @owner_hits;
note 'found in the owner\'s dump: '
  . join(', ', map { my $k = $_; "$k " . ($found{$k} // 0) . '/' . scalar(grep { $_->[0] eq $k } @needles) } sort keys %kinds);
is(join(', ', grep { !$found{$_} } sort keys %kinds), '',
	'the owner\'s dump holds every kind of source value (' . scalar(@owner_hits) . ' of ' . scalar(@needles)
	  . ' values): the scan finds them');

# --- pg_dump --inserts as the masked role (a cursor, not COPY) ---------------

run_ok('pg_dump --inserts -n telco as the masked role',
	'pg_dump', '-U', 'support', '-n', 'telco', '--inserts', '-f', "$dir/inserts.sql", '-d', $node->connstr('postgres'));
my $inserts = data_of("$dir/inserts.sql");
cmp_ok(scalar(() = $inserts =~ /^INSERT INTO telco\.customer /mg), '==', 50, '(50 customers as INSERT statements)');
is(join("\n", scan($inserts)), '', 'no identifier of the source in the --inserts dump');
like($inserts, qr/^INSERT INTO telco\.customer .*\*\*\*\@/m, 'its e-mail addresses are masked');

# --- pg_dump -Fd -j 2 as the masked role (parallel workers, each a session) --

run_ok('pg_dump -Fd -j 2 -n telco as the masked role',
	'pg_dump', '-U', 'support', '-n', 'telco', '-Fd', '-j', '2', '-f', "$dir/masked.dir", '-d', $node->connstr('postgres'));
run_ok('(its data as text)', 'pg_restore', '--data-only', '-f', "$dir/masked_dir.sql", "$dir/masked.dir");
my $pardata = data_of("$dir/masked_dir.sql");
is(join("\n", scan($pardata)) . (length($pardata) > 100000 ? '' : '(no data)'), '',
	'no identifier of the source in the parallel dump');

# --- pg_dump with parallel query forced -----------------------------------
# COPY (SELECT ...) TO is planned parallel-safe: on a large table the
# masked COPY may run in parallel workers, which must compute the same
# masks.  Forced here on the small data set.

{
	local $ENV{PGOPTIONS} = '-c force_parallel_mode=on -c parallel_setup_cost=0 -c parallel_tuple_cost=0 '
	  . '-c min_parallel_table_scan_size=0 -c max_parallel_workers_per_gather=2';
	run_ok('pg_dump -n telco --data-only as the masked role, parallel query forced',
		'pg_dump', '-U', 'support', '-n', 'telco', '--data-only', '-f', "$dir/parallel_query.sql",
		'-d', $node->connstr('postgres'));
}
my $pq = data_of("$dir/parallel_query.sql");
is(join("\n", scan($pq)) . (length($pq) > 100000 ? '' : '(no data)'), '',
	'no identifier of the source in it');
my $sorted = sub { join("\n", sort split /\n/, $_[0]) };
is($sorted->($pq) eq $sorted->(data_of("$dir/restored.sql")) ? 'same' : 'differs', 'same',
	'its data is the data restored from the first masked dump: the workers computed the same masks');

# --- privacy_by_default: undeclared columns too ------------------------------

# A role masked with privacy_by_default reads undeclared columns as NULL
# (as 0 or '' where NOT NULL).  Its dump should restore as well: the
# finding is that it does not (undeclared NOT NULL dates and timestamps
# read as NULL, call_type as '' against its CHECK, undeclared primary
# keys such as invoice_id all as 0).
$node->safe_psql('postgres', q{
CREATE ROLE support_strict LOGIN;
GRANT USAGE ON SCHEMA telco TO support_strict;
GRANT SELECT ON ALL TABLES IN SCHEMA telco TO support_strict;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA telco TO support_strict;
SELECT privacy.mask_role('support_strict', privacy_by_default => true);
});
run_ok('pg_dump -Fc -n telco as a role masked with privacy_by_default',
	'pg_dump', '-U', 'support_strict', '-n', 'telco', '-Fc', '-f', "$dir/strict.dump", '-d', $node->connstr('postgres'));
my (undef, $strict_list) = run_ok('(its pg_restore -l)', 'pg_restore', '-l', "$dir/strict.dump");
open($lfh, '>', "$dir/strict.list") or die;
print $lfh join("\n", grep { !$left_out->($_) } split /\n/, $strict_list), "\n";
close($lfh);
$plain->safe_psql('postgres', 'CREATE DATABASE telco_strict');
# Documented (doc/masking.md): a role masked with privacy_by_default reads
# undeclared columns as NULL (0 or '' where NOT NULL), primary keys and
# CHECKed columns included, so its dump is not a copy that restores; copies
# are made by a role masked without it.
my ($sret, $sout, $serr) = ('', '', '');
IPC::Run::run([ 'pg_restore', '-L', "$dir/strict.list", '--exit-on-error', '--no-owner', '--no-privileges',
	'-d', $plain->connstr('telco_strict'), "$dir/strict.dump" ], '>', \$sout, '2>', \$serr);
like($serr, qr/violates (not-null|check|unique|primary key)|duplicate key/,
	'the dump of a privacy_by_default role does not restore (undeclared keys read as NULL or 0), as documented');

# --- the masked role does not get around the mask ----------------------------

$node->safe_psql('postgres', q{
CREATE SCHEMA probe;
CREATE VIEW probe.contacts AS SELECT contact_name, email, bank_account FROM telco.customer;
GRANT USAGE ON SCHEMA probe TO support;
GRANT SELECT ON probe.contacts TO support;
});
my %probes = (
	'a whole-row reference (c::text)' => q{SELECT c::text FROM telco.customer c},
	'row_to_json'                     => q{SELECT row_to_json(c) FROM telco.customer c},
	'COPY telco.customer TO STDOUT'   => q{COPY telco.customer TO STDOUT},
	'COPY of a materialized CTE'      => q{COPY (WITH x AS MATERIALIZED (SELECT * FROM telco.subscription) SELECT * FROM x) TO STDOUT},
	'a CDR partition by its name'     => q{SELECT * FROM ONLY telco.cdr_2026_11},
	'a view owned by the superuser'   => q{SELECT * FROM probe.contacts},
);
for my $p (sort keys %probes)
{
	my ($r, $o, $e) = $node->psql('postgres', $probes{$p}, extra_params => [ '-U', 'support' ]);
	is(($r == 0 ? '' : "failed: $e") . join("\n", scan($o)), '', "the masked role reading through $p sees no identifier");
}
my ($email) = $node->safe_psql('postgres', q{SELECT email FROM telco.customer ORDER BY customer_id LIMIT 1});
is($node->safe_psql('postgres', qq{SELECT count(*) FROM telco.customer WHERE email = '$email'},
		extra_params => [ '-U', 'support' ]),
	'0', 'a WHERE clause of the masked role compares the masked value, not the stored one');

# A role the masked role may SET ROLE to reads unmasked (it is not
# masked), but not on the masked role's behalf: after SET ROLE the
# session user, support, is still masked.
$node->safe_psql('postgres', q{
CREATE ROLE reader NOLOGIN;
GRANT USAGE ON SCHEMA telco TO reader;
GRANT SELECT ON telco.customer TO reader;
GRANT reader TO support;
});
($ret, $out, $err) = $node->psql('postgres', q{SET ROLE reader; SELECT email, contact_name FROM telco.customer},
	extra_params => [ '-U', 'support' ]);
is(($ret == 0 ? '' : "failed: $err") . join("\n", scan($out)), '',
	'after SET ROLE to an unmasked role it belongs to, the masked role still sees no identifier');
# Nor through a SECURITY DEFINER function the masked role made for that
# role: SET ROLE reader, CREATE FUNCTION pg_temp.f() SECURITY DEFINER
# (pg_temp needs only the TEMP privilege every role has), RESET ROLE.
# The function runs as reader, in a session of the masked login.
($ret, $out, $err) = $node->psql('postgres', q{
SET ROLE reader;
CREATE FUNCTION pg_temp.contacts() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER
  AS 'SELECT email || '' '' || contact_name FROM telco.customer';
RESET ROLE;
SELECT pg_temp.contacts();}, extra_params => [ '-U', 'support' ]);
is(($ret == 0 ? '' : "failed: $err") . join("\n", scan($out)), '',
	'the masked role sees no identifier through a SECURITY DEFINER function it made for a role it can become');

# --- masking survives the DBA's own dump and restore -------------------------

# privacy.masked_role is dumped with the database: after a full pg_dump and
# pg_restore (by the DBA, unmasked), support reads the restored database
# masked, and the owner's own reads are still in clear (so the check can fail).
run_ok('pg_dump -Fc of the whole database by the DBA',
	'pg_dump', '-Fc', '-f', "$dir/full.dump", '-d', $node->connstr('postgres'));
$node->safe_psql('postgres', 'CREATE DATABASE restored');
run_ok('pg_restore of it into a new database of the same server',
	'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), "$dir/full.dump");
is($node->safe_psql('restored', q{SELECT string_agg(role::text, ',' ORDER BY role::text) FROM privacy.masked_role}),
	'support,support_strict', 'the masked roles are restored');
($ret, $out, $err) = $node->psql('restored', q{SELECT email || ' ' || contact_name || ' ' || customer_no FROM telco.customer},
	extra_params => [ '-U', 'support' ]);
is(($ret == 0 ? '' : "failed: $err") . join("\n", scan($out)), '',
	'support reads the restored database masked');
cmp_ok(scalar(scan($node->safe_psql('restored', q{SELECT email || ' ' || contact_name FROM telco.customer}))), '>', 0,
	'the DBA reads the restored database in clear');

$plain->stop;
$node->stop;
done_testing();
