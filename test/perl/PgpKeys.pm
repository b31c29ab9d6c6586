# Helpers of the TAP tests that change pg_privacy's master key: key files,
# the key_file setting reloaded, and a statement expected to fail.
package PgpKeys;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(key_file set_keys fails);

# A new key file (64 random hex digits) named $name in directory $dir,
# mode 0600 unless given.
sub key_file
{
	my ($dir, $name, $mode) = @_;
	my $f = "$dir/$name.key";
	open(my $fh, '>', $f) or die "cannot write $f: $!";
	print $fh join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32), "\n";
	close($fh);
	chmod($mode // 0600, $f);
	return $f;
}

# pg_privacy.key_file of $node set to $value (ALTER SYSTEM), reloaded, and
# waited for.
sub set_keys
{
	my ($node, $value) = @_;
	$node->safe_psql('postgres', qq{ALTER SYSTEM SET pg_privacy.key_file = '$value'});
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	$node->poll_query_until('postgres', qq{SELECT current_setting('pg_privacy.key_file') = '$value'})
	  or die "the key setting was not reloaded";
}

# (sqlstate, stderr) of a statement expected to fail, in database $db
# (postgres by default).
sub fails
{
	my ($node, $sql, $db) = @_;
	my ($ret, $out, $err) = $node->psql($db // 'postgres', $sql, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	my ($state) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ($state // "rc=$ret", $err);
}

1;
