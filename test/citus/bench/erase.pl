# make bench-citus: erase_subject of typical subscribers on Citus, beside
# one server, in one run.  A customer table, a subscription table and CDRs
# (1M rows by default, PGP_CITUS_BENCH_ROWS: 50 a subscriber, 12 monthly
# partitions, the B-number protected); first local on the coordinator,
# then as a reference table, a table distributed by customer and a table
# distributed by A-number (each pair with only its own tables declared: an
# erasure looks for the subject in every declared table).  Ten
# subscribers erased one after the other in one transaction, timed inside
# it and rolled back: erase_subject against the hand-written DELETE/UPDATE
# statements that remove the same rows (the subscriber's CDRs, its number
# scrubbed from others' CDRs, its subscription and customer row).  Best of
# three rounds in one session, after a round that warms it, the two
# variants interleaved.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/..";
use CitusCluster;

my $rows = $ENV{PGP_CITUS_BENCH_ROWS} // 1000000;
my $subs = int($rows / 50);
my ($coord, $w1, $w2) = CitusCluster::start();
sub q1 { return $coord->safe_psql('postgres', $_[0]); }

q1(q{
CREATE SCHEMA b;
SELECT privacy.define_purpose('b_traffic', 'legal_obligation');
SELECT privacy.define_purpose('b_customer', 'contract');
-- the time one statement takes, inside the caller's transaction
CREATE FUNCTION b.ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  EXECUTE q;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
});

# the tables of variant $p (d: distributed, l: local), loaded and declared
sub make_tables
{
	my ($p, $dist) = @_;
	q1(qq{
CREATE TABLE b.${p}cust (customer_no text PRIMARY KEY, email text, name text);
CREATE TABLE b.${p}sub (id bigint NOT NULL, customer_no text NOT NULL, msisdn text NOT NULL, valid_from timestamptz NOT NULL,
                        valid_to timestamptz, PRIMARY KEY (customer_no, id));
CREATE TABLE b.${p}calls (id bigint NOT NULL, a_number text NOT NULL, b_number text, started_at timestamptz NOT NULL,
                          duration_s integer) PARTITION BY RANGE (started_at);
DO \$\$
BEGIN
  FOR i IN 0..11 LOOP
    EXECUTE format('CREATE TABLE b.${p}calls_%s PARTITION OF b.${p}calls FOR VALUES FROM (%L) TO (%L)', i,
                   date_trunc('month', now()) - make_interval(months => 11 - i), date_trunc('month', now()) - make_interval(months => 10 - i));
  END LOOP;
END \$\$;
});
	if ($dist)
	{
		q1(qq{
SELECT create_reference_table('b.${p}cust');
SELECT create_distributed_table('b.${p}sub', 'customer_no');
SELECT create_distributed_table('b.${p}calls', 'a_number');
});
	}
	q1(qq{
SELECT privacy.register_table('b.${p}cust', 'b_customer');
SELECT privacy.register_column('b.${p}cust', 'customer_no', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('b.${p}cust', 'email', 'email', identifies => 'email');
SELECT privacy.register_table('b.${p}sub', 'b_customer');
SELECT privacy.register_column('b.${p}sub', 'customer_no', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('b.${p}sub', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.set_subject_table('b.${p}sub', validity_column => 'msisdn', valid_from => 'valid_from', valid_to => 'valid_to');
SELECT privacy.register_table('b.${p}calls', 'b_traffic');
SELECT privacy.register_column('b.${p}calls', 'a_number', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('b.${p}calls', 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.set_subject_table('b.${p}calls', event_time => 'started_at');
SELECT privacy.protect('b.${p}calls');
INSERT INTO b.${p}cust SELECT 'K' || g, 'k' || g || '\@example.dk', 'Name ' || g FROM generate_series(1, $subs) g;
INSERT INTO b.${p}sub SELECT g, 'K' || g, '+4540' || lpad(g::text, 6, '0'), now() - interval '2 years', NULL FROM generate_series(1, $subs) g;
INSERT INTO b.${p}calls
SELECT n, '+4540' || lpad((n % $subs + 1)::text, 6, '0'), '+4540' || lpad(((n::bigint * 7919) % $subs + 1)::text, 6, '0'),
       now() - (n % 330) * interval '1 day' - (n % 86400) * interval '1 second', n % 600
  FROM generate_series(1, $rows) n;
-- the indexes the lookups use: the engine's (missing_indexes proposes it)
-- and the hand-written statements'
CREATE INDEX ON b.${p}calls (privacy.lookup_value('msisdn', a_number, 'DK'));
CREATE INDEX ON b.${p}calls (a_number);
CREATE INDEX ON b.${p}calls (b_number);
CREATE INDEX ON b.${p}sub (privacy.lookup_value('msisdn', msisdn, 'DK'));
CREATE INDEX ON b.${p}cust (privacy.lookup_value('email', email, 'DK'));
VACUUM ANALYZE b.${p}cust, b.${p}sub, b.${p}calls;
});
}
# The two pairs in turn, each with only its own tables declared: an
# erasure looks for the subject in every declared table.
my (%best, %left);
for my $p (qw(l d))
{
	make_tables($p, $p eq 'd');
	if ($p eq 'd')
	{
		is(q1(q{SELECT count(*) FROM pg_dist_partition WHERE logicalrelid IN ('b.dcust'::regclass, 'b.dsub'::regclass, 'b.dcalls'::regclass)}),
			'3', 'a reference table, a distributed table, a distributed partitioned table');
	}

	# ten subscribers; the hand-written statements that remove what an
	# erasure removes
	my @ids = map { 'K' . (1 + $_ * int($subs / 10)) } 0 .. 9;
	my $arr = join(',', map { "'$_'" } @ids);
	my %sql;
	$sql{engine} = qq{SELECT count(*) FROM unnest(ARRAY[$arr]) c, LATERAL privacy.erase_subject('customer', c) e};
	my @hand;
	for my $c (@ids)
	{
		(my $n = $c) =~ s/^K//;
		my $num = '+4540' . sprintf('%06d', $n);
		push @hand, qq{DELETE FROM b.${p}calls WHERE a_number = '$num'},
		  qq{UPDATE b.${p}calls SET b_number = NULL WHERE b_number = privacy.pseudonymize_msisdn('$num')},
		  qq{DELETE FROM b.${p}sub WHERE customer_no = '$c'}, qq{DELETE FROM b.${p}cust WHERE customer_no = '$c'};
	}
	$sql{hand} = join('; ', @hand);
	(my $lit_e = $sql{engine}) =~ s/'/''/g;
	(my $lit_h = $sql{hand}) =~ s/'/''/g;

	# both remove the same rows
	my $left = qq{SELECT (SELECT count(*) FROM b.${p}calls) || '/' || (SELECT count(*) FROM b.${p}calls WHERE b_number IS NULL) || '/'
	                     || (SELECT count(*) FROM b.${p}sub) || '/' || (SELECT count(*) FROM b.${p}cust)};
	my $e = (split /\n/, q1(qq{BEGIN; SELECT b.ms('$lit_e'); $left; ROLLBACK}))[-1];
	my $h = (split /\n/, q1(qq{BEGIN; SELECT b.ms('$lit_h'); $left; ROLLBACK}))[-1];
	is($e, $h, "$p: erase_subject leaves what the hand-written statements leave (CDRs/scrubbed/subscriptions/customers)");

	# one session for all rounds (the engine builds and plans its
	# statements once per session, as an application's connection does),
	# a round first to warm it; the two interleaved
	my $script = '';
	for my $round (0 .. 3)
	{
		$script .= qq{BEGIN; SELECT '$round|${p}_hand|' || b.ms('$lit_h'); ROLLBACK;\n};
		$script .= qq{BEGIN; SELECT '$round|${p}_engine|' || b.ms('$lit_e'); ROLLBACK;\n};
	}
	for my $line (split /\n/, q1($script))
	{
		my ($round, $v, $ms) = split /\|/, $line;
		next unless defined $ms && $round > 0;
		$best{$v} = $ms if !defined $best{$v} || $ms < $best{$v};
	}
	q1(qq{SELECT privacy.unprotect('b.${p}calls');
	      SELECT privacy.unregister_table(t) FROM unnest(ARRAY['b.${p}cust', 'b.${p}sub', 'b.${p}calls']::regclass[]) t;
	      DROP TABLE b.${p}calls, b.${p}sub, b.${p}cust});
}

diag('');
diag(sprintf('== erase_subject of 10 typical subscribers (%d CDRs, %d subscribers; best of 3 rounds; a coordinator and two workers)',
	$rows, $subs));
diag(sprintf('%-44s %10s', 'variant', 'ms'));
for my $v (qw(d_hand d_engine l_hand l_engine))
{
	diag(sprintf('%-44s %10.1f', $v, $best{$v}));
}
diag(sprintf('%-44s %6.2f', 'distributed: erase_subject / hand DELETE/UPDATE', $best{d_engine} / $best{d_hand}));
diag(sprintf('%-44s %6.2f', 'one server: erase_subject / hand DELETE/UPDATE', $best{l_engine} / $best{l_hand}));

$_->stop for ($coord, $w1, $w2);
done_testing();
