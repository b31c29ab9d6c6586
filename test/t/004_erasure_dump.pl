# After erase_subject, a pg_dump of the database holds none of the
# subject's identifiers, in any form (normalized, as typed, or as the
# pseudonym stored in a protected column), except in rows the erasure
# report lists as kept.  Runs on the telephony data set.
use strict;
use warnings;

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

my $node = PostgreSQL::Test::Cluster->new('erasure');
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
$node->safe_psql('postgres', 'SELECT telco.generate(42, 2)');
# The consent events arrive in a staging table that is replayed into the
# consent register and emptied; identifiers do not stay there.
$node->safe_psql('postgres', 'TRUNCATE telco.consent_import');

# With retention installed, invoices are bookkeeping: kept five years.
my $with_retention = $node->safe_psql('postgres',
	q{SELECT EXISTS (SELECT FROM pg_proc WHERE proname = 'set_retention' AND pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace))});
if ($with_retention eq 't')
{
	$node->safe_psql('postgres',
		q{SELECT privacy.set_retention('telco.invoice', 'issued_at', interval '10 years', keep_at_least => interval '5 years')});
}

# A customer with support tickets whose numbers were never given to anyone
# else (a reassigned number rightly stays in its next holder's rows).
my $customer = $node->safe_psql('postgres', q{
SELECT c.customer_id FROM telco.customer c
 WHERE EXISTS (SELECT FROM telco.support_ticket t WHERE t.customer_id = c.customer_id)
   AND EXISTS (SELECT FROM telco.newsletter_subscriber n WHERE lower(btrim(n.email)) = c.email)
   AND NOT EXISTS (SELECT FROM telco.subscription s JOIN telco.subscription o
                     ON o.msisdn = s.msisdn AND o.customer_id <> s.customer_id
                    WHERE s.customer_id = c.customer_id)
 ORDER BY c.customer_id LIMIT 1});
ok($customer ne '', "a subscriber to erase: customer $customer");

# Every identifier of the subject, and the forms it is stored in.
my @ids = split /\n/, $node->safe_psql('postgres', qq{
SELECT i->>'kind' || '|' || (i->>'value')
  FROM jsonb_array_elements(privacy.export_subject('customer', '$customer')->'identifiers') i});
my %kinds = map { (split /\|/)[0] => 1 } @ids;
ok($kinds{msisdn} && $kinds{email} && $kinds{cvr}, 'the export links numbers, e-mail and CVR to the customer');
my @needles;
for my $id (@ids)
{
	my ($kind, $value) = split /\|/, $id, 2;
	if ($kind eq 'msisdn')
	{
		(my $national = $value) =~ s/^\+45//;
		push @needles, [ $id, 'digits', $national ];
		push @needles, [ "$id (stored pseudonym)", 'exact',
			$node->safe_psql('postgres', qq{SELECT privacy.pseudonymize_msisdn('$value')}) ];
	}
	elsif ($kind eq 'email')
	{
		push @needles, [ $id, 'ci', $value ];
	}
	elsif ($kind eq 'customer')
	{
		push @needles, [ $id, 'customer_id', $value ];
		push @needles, [ "$id (customer number)", 'ci',
			$node->safe_psql('postgres', qq{SELECT customer_no FROM telco.customer WHERE customer_id = $value}) ];
	}
	else
	{
		push @needles, [ $id, 'field', $value ];
	}
}
push @needles, [ 'contact name', 'ci',
	$node->safe_psql('postgres', qq{SELECT contact_name FROM telco.customer WHERE customer_id = $customer}) ];

# Scan a plain dump: every field of every COPY row.  Returns the hits as
# "table: field".  digits: the field's digits contain the national number
# (typed forms with spaces and prefixes); ci: case-insensitive substring;
# exact/field: the whole field; customer_id: the whole field of a column
# holding customer ids (elsewhere the same digits are other numbers).
sub scan_dump
{
	my ($file, $skip) = @_;
	open(my $in, '<', $file) or die "$file: $!";
	my ($table, @cols, @hits);
	while (my $line = <$in>)
	{
		chomp $line;
		if (!defined $table)
		{
			if ($line =~ /^COPY (\S+) \(([^)]*)\) FROM stdin;$/)
			{
				$table = $1;
				@cols = split /, /, $2;
			}
			next;
		}
		if ($line eq '\.')
		{
			undef $table;
			next;
		}
		my @f = split /\t/, $line, -1;
		next if $skip && $skip->($table, \@cols, \@f);
		for my $i (0 .. $#f)
		{
			for my $n (@needles)
			{
				my ($what, $how, $needle) = @$n;
				next if $needle eq '';
				(my $digits = $f[$i]) =~ s/\D//g;
				my $hit =
					$how eq 'digits' ? index($digits, $needle) >= 0
				  : $how eq 'ci'     ? index(lc $f[$i], lc $needle) >= 0
				  : $how eq 'customer_id' ? ($cols[$i] =~ /customer/ && $f[$i] eq $needle)
				  : $f[$i] eq $needle;
				push @hits, "$table.$cols[$i]: $what" if $hit;
			}
		}
	}
	close($in);
	return @hits;
}

# Before the erasure the dump is full of the subject.
$node->command_ok([ 'pg_dump', '-f', "$dir/before.sql", '-d', $node->connstr('postgres') ], 'pg_dump before');
my @before = scan_dump("$dir/before.sql");
cmp_ok(scalar(@before), '>', 10, 'before the erasure the dump holds the subject ('
	  . scalar(@before) . ' fields)');
ok((grep { /^telco\.cdr_\d{4}_\d\d\.a_number: .*stored pseudonym/ } @before),
	'the scan finds the pseudonymized A-numbers in the CDR partitions');

my $report = $node->safe_psql('postgres',
	qq{SELECT table_name || '|' || action || '|' || rows || '|' || reason FROM privacy.erase_subject('customer', '$customer')});
note "erasure report:\n$report";
my %kept = map { my @r = split /\|/; $r[1] eq 'keep' ? ($r[0] => $r[3]) : () } split /\n/, $report;
like($report, qr/^telco\.cdr\|delete\|/m, 'the CDRs were deleted');
like($report, qr/^telco\.customer\|(delete|keep)\|/m, 'the customer row was handled');
if ($with_retention eq 't')
{
	ok(exists $kept{'telco.invoice'}, 'invoices under the legal minimum are reported as kept: '
		  . ($kept{'telco.invoice'} // ''));
}

$node->command_ok([ 'pg_dump', '-f', "$dir/after.sql", '-d', $node->connstr('postgres') ], 'pg_dump after');
# Rows of tables the report lists as kept are allowed to hold the subject:
# only those rows, found by the subject's customer number.
my %kept_rows = map { $_ => 1 } keys %kept;
my @after = scan_dump(
	"$dir/after.sql",
	sub {
		my ($table, $cols, $f) = @_;
		(my $base = $table) =~ s/_\d{4}_\d\d$//;
		return 0 unless $kept_rows{$table} || $kept_rows{$base};
		my ($ci) = grep { $cols->[$_] eq 'customer_id' } 0 .. $#$cols;
		return defined $ci && $f->[$ci] eq $customer;
	});
is(join("\n", @after), '', 'after the erasure the dump holds none of the subject\'s identifiers outside kept rows');

# The kept rows are restricted, and the audit log has the erasure without
# the identifiers (checked by the scan above, which covers privacy.audit_log).
is($node->safe_psql('postgres', qq{SELECT count(*) > 0 FROM privacy.audit_log WHERE event = 'subject.erase'}),
	't', 'the erasure is in the audit log');
is($node->safe_psql('postgres', qq{SELECT privacy.is_restricted('customer', '$customer')}),
	(%kept ? 't' : 'f'), 'kept rows are restricted, and only then');
is($node->safe_psql('postgres', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'the audit chain verifies');

$node->stop;
done_testing();
