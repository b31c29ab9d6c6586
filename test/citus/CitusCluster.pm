# A Citus cluster for make test-citus: a coordinator and two workers on
# loopback, with Citus and pg_privacy preloaded, every node loading the
# same master key, and the telephony data set's schema and declarations
# loaded on the coordinator.
package CitusCluster;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# A fresh key file (0600) in dir; its path.
sub key_file
{
	my ($dir, $name) = @_;
	my $path = "$dir/$name";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32), "\n";
	close($fh);
	chmod(0600, $path);
	return $path;
}

# (coordinator, worker1, worker2, key file); the data set loaded with
# generate(42, $scale) when $scale is given.
sub start
{
	my (%opt) = @_;
	my $src = $ENV{PGP_SRC} // '.';
	my $install = $ENV{PGP_CITUS_INSTALL} or die "PGP_CITUS_INSTALL is not set";
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $keyfile = key_file($dir, 'master.key');
	my @nodes;
	for my $name (qw(coordinator worker1 worker2))
	{
		my $n = PostgreSQL::Test::Cluster->new($name, install_path => $install);
		$n->init;
		$n->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus,pg_privacy'
pg_privacy.key_file = '$keyfile'
listen_addresses = '127.0.0.1'
wal_level = logical
max_connections = 60
max_worker_processes = 24
max_wal_senders = 10
max_replication_slots = 10
citus.log_remote_commands = off
});
		$n->start;
		$n->safe_psql('postgres', 'CREATE EXTENSION citus');
		push @nodes, $n;
	}
	my ($coord, $w1, $w2) = @nodes;
	$coord->safe_psql('postgres', sprintf(q{SELECT citus_set_coordinator_host('127.0.0.1', %d)}, $coord->port));
	for my $w ($w1, $w2)
	{
		$coord->safe_psql('postgres', sprintf(q{SELECT citus_add_node('127.0.0.1', %d)}, $w->port));
	}
	is($coord->safe_psql('postgres', 'SELECT count(*) FROM citus_get_active_worker_nodes()'), '2',
		'a coordinator and two workers');
	$coord->safe_psql('postgres', 'CREATE EXTENSION pg_privacy');
	for my $f ("$src/test/data/telephony.sql", "$src/test/data/register.sql")
	{
		$coord->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $coord->connstr('postgres'), '-f', $f ],
			"load $f");
	}
	$coord->safe_psql('postgres', "SELECT telco.generate(42, $opt{scale})") if defined $opt{scale};
	return ($coord, $w1, $w2, $keyfile, $dir);
}

# Expect a statement to fail with the SQLSTATE; returns the message.
sub refuses
{
	my ($node, $sql, $state, $name) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	my ($got) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	is($got // "rc=$ret", $state, $name) or diag($err);
	return $err;
}

1;
