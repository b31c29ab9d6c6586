# make bench-citus: the retention purge on Citus, beside the same purge on
# one server, in one run.  CDRs (1M rows by default, PGP_CITUS_BENCH_ROWS)
# partitioned by month over 24 months, 12 of them expired: CALL
# privacy.run_purge() (one partition dropped per batch, each batch its own
# transaction) against DROP TABLE of the same 12 partitions by hand; on a
# table distributed by A-number (the DROP reaching every shard on both
# workers) and on a local table of the coordinator.  Best of three rounds,
# the variants interleaved; each round loads the tables afresh (not timed).
# (The policy keeps 11 months aligned to the month: the 12 oldest
# partitions are wholly expired.)
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
sub q1 { return $coord->safe_psql('postgres', $_[0]); }

# 24 months ending with the current one; rows spread evenly over them
q1(qq{
CREATE SCHEMA b;
SELECT privacy.define_purpose('b_traffic', 'legal_obligation');
COPY (SELECT g, '+4520' || lpad((g::bigint * 7919 % 1000000)::text, 6, '0'), '+4530' || lpad((g::bigint * 104729 % 1000000)::text, 6, '0'),
             date_trunc('month', now()) - interval '23 months' + (g::bigint * 700 / $rows) * interval '1 day' + interval '1 hour', g % 600
        FROM generate_series(1, $rows) g) TO '$csv' WITH (FORMAT csv);
});

# (name, distributed?, run_purge?)
my @variants = ([ 'dist_purge', 1, 1 ], [ 'dist_drop', 1, 0 ], [ 'local_purge', 0, 1 ], [ 'local_drop', 0, 0 ]);

sub make_table
{
	my ($t, $dist, $purge) = @_;
	q1(qq{
CREATE TABLE b.$t (cdr_id bigint NOT NULL, a_number text NOT NULL, b_number text, started_at timestamptz NOT NULL,
                   duration_s integer) PARTITION BY RANGE (started_at);
DO \$\$
DECLARE m timestamptz;
BEGIN
  FOR i IN 0..23 LOOP
    m := date_trunc('month', now()) - make_interval(months => 23 - i);
    EXECUTE format('CREATE TABLE b.%s_p%s PARTITION OF b.$t FOR VALUES FROM (%L) TO (%L)', '$t', lpad(i::text, 2, '0'), m, m + interval '1 month');
  END LOOP;
END \$\$;
});
	q1(qq{SELECT create_distributed_table('b.$t', 'a_number')}) if $dist;
	q1(qq{COPY b.$t FROM '$csv' WITH (FORMAT csv)});
	q1(qq{VACUUM ANALYZE b.$t});
	return unless $purge;
	q1(qq{
SELECT privacy.register_table('b.$t', 'b_traffic');
SELECT privacy.register_column('b.$t', 'a_number', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('b.$t', 'b_number', 'phone', identifies => 'msisdn', link => 'mention');
SELECT privacy.set_retention('b.$t', 'started_at', '11 months', align => 'month');
});
}

my (%best, %left);
for my $round (1 .. 3)
{
	for my $v (@variants)
	{
		my ($t, $dist, $purge) = @$v;
		make_table(@$v);
		my $sql = $purge
		  ? 'CALL privacy.run_purge(10000)'
		  : 'DROP TABLE ' . join(', ', map { sprintf('b.%s_p%02d', $t, $_) } 0 .. 11);
		my $t0 = time;
		q1($sql);
		my $ms = (time - $t0) * 1000;
		$best{$t} = $ms if !defined $best{$t} || $ms < $best{$t};
		$left{$t} = q1(qq{SELECT count(*) FROM b.$t}) . '/' . q1(qq{SELECT count(*) FROM pg_inherits WHERE inhparent = 'b.$t'::regclass});
		if ($purge)
		{
			q1(qq{SELECT privacy.unregister_table('b.$t')});
		}
		q1(qq{DROP TABLE b.$t});
	}
}
is($left{dist_purge}, $left{dist_drop}, 'distributed: run_purge leaves what the hand DROP leaves (rows/partitions)');
is($left{local_purge}, $left{local_drop}, 'one server: the same');
like($left{dist_purge}, qr{/12$}, '12 of 24 partitions left');

diag('');
diag(sprintf('== run_purge of 12 of 24 monthly partitions, %d CDRs (best of 3 rounds; a coordinator and two workers)', $rows));
diag(sprintf('%-44s %10s', 'variant', 'ms'));
for my $v (@variants)
{
	diag(sprintf('%-44s %10.1f', $v->[0], $best{ $v->[0] }));
}
diag(sprintf('%-44s %6.2f', 'distributed: run_purge / hand DROP', $best{dist_purge} / $best{dist_drop}));
diag(sprintf('%-44s %6.2f', 'one server: run_purge / hand DROP', $best{local_purge} / $best{local_drop}));

$_->stop for ($coord, $w1, $w2);
done_testing();
