# The search for data subjects while privacy.rekey() converts the rows a
# table held before protect_in_batches(), on the telephony data set: call
# detail records in monthly partitions, numbers held for a period (each
# searched in the partitions of its period), customers linking numbers and
# e-mail addresses, B-numbers mentioning other subjects.  For every
# subscriber number, customer, e-mail address and forty B-numbers, the
# export document and what the erasure would do are the same with the CDRs
# raw, converted halfway (twelve months converted, one up to its
# watermark) and converted to the end; a customer erased during the
# conversion leaves, once it is done, the very rows an erasure after it
# leaves.
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
my $key = key_file($dir, 'a');

my $node = PostgreSQL::Test::Cluster->new('batched_subjects');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$key'
});
$node->start;

# The CDRs generated before the table is protected, then protected in
# batches (register.sql with cdr_batched).
$node->safe_psql('postgres', 'CREATE EXTENSION pg_privacy');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', "$src/test/data/telephony.sql" ],
	'the telephony data set');
$node->safe_psql('postgres', 'SELECT telco.generate(42, 1)');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'cdr_batched=1', '-d', $node->connstr('postgres'),
	'-f', "$src/test/data/register.sql" ], 'declared, the CDRs protected in batches');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	'-f', "$src/test/data/register_subject.sql" ], 'how a subject is found');
is($node->safe_psql('postgres', q{SELECT count(*) > 20 AND bool_and(from_key = 'raw') FROM privacy.rekey_pending}), 't',
	'the monthly partitions are pending from raw');
is($node->safe_psql('postgres', q{SELECT count(*) > 1000 FROM telco.cdr c JOIN telco.subscription s ON s.msisdn = c.a_number}),
	't', '(the CDRs hold their numbers raw)');

# Three copies: raw, halfway, converted.
$node->safe_psql('postgres', 'CREATE DATABASE half TEMPLATE postgres');
$node->safe_psql('postgres', 'CREATE DATABASE conv TEMPLATE postgres');
my ($ret, $out, $err) = $node->psql('conv', 'CALL privacy.rekey()');
is($node->safe_psql('conv', 'SELECT count(*) FROM privacy.rekey_pending'), '0', 'one copy converted') or diag($err);
$node->safe_psql('half', q{SELECT (privacy_internal._rekey_rel(rel, 100000, 100000)).rows
  FROM (SELECT rel FROM privacy.rekey_pending ORDER BY rel::text LIMIT 12) p});
$node->safe_psql('half', q{SELECT (privacy_internal._rekey_rel(rel, 60, 60)).rows
  FROM (SELECT rel FROM privacy.rekey_pending ORDER BY rel::text LIMIT 1) p});
is($node->safe_psql('half', 'SELECT count(*) > 0 AND count(*) FILTER (WHERE watermark IS NOT NULL) = 1 FROM privacy.rekey_pending'), 't',
	'one halfway: twelve months converted, one up to its watermark, the others raw');

# The subjects: every subscriber number, customer and e-mail address, and
# forty B-numbers (other operators' subscribers).
my $subjects = $node->safe_psql('postgres', q{
SELECT string_agg(format('(%L, %L)', k, v), ', ')
  FROM (SELECT DISTINCT 'msisdn' AS k, msisdn AS v FROM telco.subscription
        UNION SELECT 'customer', customer_id::text FROM telco.customer
        UNION SELECT 'email', email FROM telco.customer WHERE email IS NOT NULL
        UNION (SELECT DISTINCT 'msisdn', privacy.lookup_value('msisdn', b_number, 'DK') FROM telco.cdr
                WHERE b_number IS NOT NULL ORDER BY 2 LIMIT 40)) s});

# Per subject: its export document (the rows of each table in a fixed
# order: their physical order changes when they are converted; the time it
# was made left out) and what its erasure would do.
my $per_subject = qq{
SELECT string_agg(s.k || ' ' || s.v || ' ' || md5(((d - 'generated_at' - 'tables') || jsonb_build_object('tables',
          (SELECT jsonb_agg(t || jsonb_build_object(
                    'rows', (SELECT COALESCE(jsonb_agg(r ORDER BY r::text), '[]') FROM jsonb_array_elements(t->'rows') r),
                    'mentions', (SELECT COALESCE(jsonb_agg(r ORDER BY r::text), '[]') FROM jsonb_array_elements(t->'mentions') r))
                  ORDER BY t->>'table') FROM jsonb_array_elements(d->'tables') t)))::text) || ' '
   || (SELECT COALESCE(string_agg(e.table_name || ':' || e.action || ':' || e.rows, ',' ORDER BY e.table_name::text, e.action), '')
         FROM privacy.erase_subject(s.k, s.v, dry_run => true) e), E'\\n' ORDER BY s.k, s.v)
  FROM (VALUES $subjects) s(k, v), LATERAL (SELECT privacy.export_subject(s.k, s.v) AS d) x};
my %found = map { $_ => [ split /\n/, $node->safe_psql($_, $per_subject) ] } qw(postgres half conv);
my $n = scalar @{ $found{conv} };
cmp_ok($n, '>', 250, "$n subjects");
is(scalar(grep { /telco\.cdr:delete:[1-9]/ } @{ $found{conv} }) > 100 ? 'yes' : 'no', 'yes',
	'(most of them with CDRs of their own to find)');
for my $db (qw(postgres half))
{
	my @diff = grep { $found{$db}[$_] ne $found{conv}[$_] } 0 .. $n - 1;
	is(scalar(@diff), 0, ($db eq 'postgres' ? 'raw' : 'halfway') . ': every subject\'s export and erasure the same as once converted')
		or diag("first difference: $found{$db}[$diff[0]] / $found{conv}[$diff[0]]");
}

# A customer erased during the conversion, in the raw copy and the
# halfway one, and after it in the converted one: once the others are
# converted too, the three hold the very same rows.
for my $db (qw(postgres half conv))
{
	($ret, $out, $err) = $node->psql($db, q{SELECT count(*) FROM privacy.erase_subject('customer', '1003')});
	is($ret, 0, "$db: the erasure of customer 1003") or diag($err);
}
for my $db (qw(postgres half))
{
	($ret, $out, $err) = $node->psql($db, 'CALL privacy.rekey()');
	is($node->safe_psql($db, 'SELECT count(*) FROM privacy.rekey_pending'), '0', "$db: converted to the end") or diag($err);
}
my $state = q{SELECT md5(string_agg(c::text, ',' ORDER BY c.cdr_id)) || ' ' || count(*) FROM telco.cdr c};
my $conv_state = $node->safe_psql('conv', $state);
is($node->safe_psql('postgres', $state), $conv_state, 'the CDRs erased during the conversion, then converted, are those converted, then erased');
is($node->safe_psql('half', $state), $conv_state, '... and so are those erased halfway');
is($node->safe_psql('postgres', q{SELECT jsonb_array_length(privacy.export_subject('customer', '1003')->'tables')}), '0',
	'the customer is gone');

done_testing();
