# make bench-citus: the protect trigger's cost on Citus, beside its cost on
# one server, in one run.  COPY of the CDRs (1M rows by default,
# PGP_CITUS_BENCH_ROWS) through the coordinator into a distributed table
# whose A- and B-numbers are protected (msisdn_fpe, signed rule on every
# shard) against the same distributed table unprotected; and the same two
# COPYs into local tables of the coordinator.  Best of three rounds, the
# variants interleaved.  (bench/purge.pl has the purge, bench/erase.pl the
# erasure.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib "$FindBin::Bin/..";
use CitusCluster;

my $rows = $ENV{PGP_CITUS_BENCH_ROWS} // 1000000;
my ($coord, $w1, $w2, $keyfile, $dir) = CitusCluster::start();
my $csv = "$dir/cdr.csv";

$coord->safe_psql('postgres', qq{
CREATE SCHEMA b;
COPY (SELECT g, '+4520' || lpad((g::bigint * 7919 % 1000000)::text, 6, '0'), '+4530' || lpad((g::bigint * 104729 % 1000000)::text, 6, '0'),
             timestamptz '2026-01-01' + g * interval '13 seconds', g % 600, (g % 97) / 10.0, 'DK'
        FROM generate_series(1, $rows) g) TO '$csv' WITH (FORMAT csv);
SELECT privacy.define_purpose('b_traffic', 'legal_obligation');
});
for my $t (qw(dist_plain dist_protected local_plain local_protected))
{
	$coord->safe_psql('postgres', qq{
CREATE TABLE b.$t (cdr_id bigint NOT NULL, a_number text, b_number text, started_at timestamptz,
                   duration_s integer, price numeric(10,4), country text);
});
	$coord->safe_psql('postgres', qq{SELECT create_distributed_table('b.$t', 'cdr_id')}) if $t =~ /^dist/;
	next unless $t =~ /protected/;
	$coord->safe_psql('postgres', qq{
SELECT privacy.register_table('b.$t', 'b_traffic');
SELECT privacy.register_column('b.$t', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('b.$t', 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.protect('b.$t');
});
}

my %best;
for my $round (1 .. 3)
{
	for my $t (qw(dist_plain dist_protected local_plain local_protected))
	{
		$coord->safe_psql('postgres', "TRUNCATE b.$t");
		my $t0 = time;
		$coord->safe_psql('postgres', "COPY b.$t FROM '$csv' WITH (FORMAT csv)");
		my $ms = (time - $t0) * 1000;
		$best{$t} = $ms if !defined $best{$t} || $ms < $best{$t};
	}
}
is($coord->safe_psql('postgres', q{SELECT count(*) FROM b.dist_protected d JOIN b.local_plain p USING (cdr_id)
  WHERE d.a_number = privacy.pseudonymize_msisdn(p.a_number) AND d.b_number = privacy.pseudonymize_msisdn(p.b_number)}),
	$rows, 'every row of the protected distributed table holds the pseudonyms the coordinator computes');

diag('');
diag(sprintf('== COPY of %d CDRs through the coordinator (best of 3 rounds; a coordinator and two workers)', $rows));
diag(sprintf('%-40s %10s %8s', 'table', 'ms', 'ns/row'));
for my $t (qw(dist_plain dist_protected local_plain local_protected))
{
	diag(sprintf('%-40s %10.1f %8.0f', $t, $best{$t}, $best{$t} * 1e6 / $rows));
}
diag(sprintf('%-40s %6.2f', 'distributed: protected / plain COPY', $best{dist_protected} / $best{dist_plain}));
diag(sprintf('%-40s %6.2f', 'one server: protected / plain COPY', $best{local_protected} / $best{local_plain}));

$_->stop for ($coord, $w1, $w2);
done_testing();
