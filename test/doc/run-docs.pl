#!/usr/bin/env perl
# Runs every ```sql example of README.md and doc/*.md, in order, as written.
#
#   test/doc/run-docs.pl [--psql PATH] PAGE.md...
#
# Connection: the usual PGHOST, PGPORT and PGUSER (a superuser).
#
# Each page runs in one psql session, as a reader following it would, against
# a fresh database doc_<page> (created here, dropped afterwards) in which
# pg_privacy is created first, unless the page's own examples create it.
# A page may ask for another database with an HTML comment
#   <!-- docs-test: database=postgres -->
# (pg_cron lives in the database cron.database_name names): extensions,
# schemas and roles the page creates there are dropped afterwards.  Roles a
# page creates are dropped after every page, so pages do not depend on each
# other.
#
# A block must run without error.  A block whose first line is
#   -- error: SQLSTATE
# shows a refusal: its (single) statement must fail with exactly that
# SQLSTATE.  Output is not compared: show it in ```text blocks.
#
# Prints "docs <page>: ok (N examples)" or "docs <page>: FAILED ..." per
# page, and "docs: N passed, N failed" at the end; exits non-zero on any
# failure.
use strict;
use warnings;
use File::Basename qw(basename);
use File::Temp qw(tempdir);

my $psql = 'psql';
if (@ARGV >= 2 && $ARGV[0] eq '--psql') { shift @ARGV; $psql = shift @ARGV; }
my @pages = @ARGV;
die "usage: $0 [--psql PATH] PAGE.md...\n" unless @pages;

my $tmp = tempdir(CLEANUP => 1);
my ($passed, $failed) = (0, 0);

sub psql_cmd {
	my ($db, $sql) = @_;
	open(my $fh, '-|', $psql, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		 '-d', $db, '-c', 'SET client_min_messages = warning', '-c', $sql) or die "cannot run $psql: $!";
	local $/;
	my $out = <$fh> // '';
	close($fh);
	die "psql -d $db -c '$sql' failed\n" if $?;
	return [grep { length } split /\n/, $out];
}

sub quote_ident { my $s = shift; $s =~ s/"/""/g; return qq{"$s"}; }
sub quote_lit   { my $s = shift; $s =~ s/'/''/g; return qq{'$s'}; }

# The ```sql blocks of a page: [line, text, expected SQLSTATE or undef].
sub blocks {
	my ($file) = @_;
	open(my $fh, '<', $file) or die "$file: $!";
	my (@blocks, $in, $fence, $start, @lines, %opt);
	my $n = 0;
	while (my $l = <$fh>) {
		$n++;
		if (!defined $in) {
			if ($l =~ /<!--\s*docs-test:\s*(.*?)\s*-->/) {
				for my $kv (split /\s+/, $1) {
					my ($k, $v) = split /=/, $kv, 2;
					$opt{$k} = $v // 1;
				}
			}
			if ($l =~ /^(\s*)(```+)\s*(\S*)/) {
				$in = lc $3; $fence = $2; $start = $n; @lines = ();
			}
			next;
		}
		# Closing fence (indented fences inside list items are allowed).
		if ($l =~ /^\s*\Q$fence\E\s*$/) {
			if ($in eq 'sql') {
				my $indent = (sort { $a <=> $b }
							  map { /^( *)/; length $1 } grep { /\S/ } @lines)[0] // 0;
				my $text = join '', map { substr($_, $indent > length $_ ? length $_ : $indent) } @lines;
				my $err;
				$err = $1 if $text =~ /\A\s*--\s*error:\s*([0-9A-Z]{5})\b/;
				push @blocks, [$start, $text, $err];
			}
			undef $in;
			next;
		}
		push @lines, $l;
	}
	die "$file: unterminated code block at line $start\n" if defined $in;
	return (\@blocks, \%opt);
}

for my $file (@pages) {
	my $page = basename($file, '.md');
	(my $dbname = lc "doc_$page") =~ s/[^a-z0-9_]/_/g;
	my ($blocks, $opt) = blocks($file);
	my $db = $opt->{database} // $dbname;
	my $own_db = !defined $opt->{database};
	my $creates_ext = grep { $_->[1] =~ /CREATE\s+EXTENSION\s+(IF\s+NOT\s+EXISTS\s+)?pg_privacy\b/i } @$blocks;

	my @roles_before = @{psql_cmd('postgres', 'SELECT rolname FROM pg_roles')};
	my (@schemas_before, @ext_before);
	if ($own_db) {
		psql_cmd('postgres', 'DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)');
		psql_cmd('postgres', 'CREATE DATABASE ' . quote_ident($db));
	} else {
		@schemas_before = @{psql_cmd($db, 'SELECT nspname FROM pg_namespace')};
		@ext_before = @{psql_cmd($db, 'SELECT extname FROM pg_extension')};
	}

	# The script: one session, a marker before each block, a check after
	# each block that must fail.
	my $script = "$tmp/$page.sql";
	open(my $out, '>', $script) or die "$script: $!";
	print $out "\\set ON_ERROR_STOP 1\n";
	print $out "CREATE EXTENSION pg_privacy;\n" unless $creates_ext;
	my $i = 0;
	for my $b (@$blocks) {
		my ($line, $text, $err) = @$b;
		$i++;
		print $out "\\echo '\@\@docs-block $i $line'\n";
		if (defined $err) {
			print $out "\\set ON_ERROR_STOP 0\n\\set LAST_ERROR_SQLSTATE 00000\n";
			print $out $text, "\n";
			print $out "\\set ON_ERROR_STOP 1\n";
			print $out "\\if :ERROR\n",
				"SELECT :'LAST_ERROR_SQLSTATE' = '$err' AS docs_sqlstate_ok \\gset\n",
				"\\if :docs_sqlstate_ok\n\\else\n",
				"\\echo '\@\@docs-fail $i $line: failed with SQLSTATE' :LAST_ERROR_SQLSTATE 'instead of $err'\n",
				"\\q\n\\endif\n",
				"\\else\n",
				"\\echo '\@\@docs-fail $i $line: succeeded, but is marked to fail with $err'\n",
				"\\q\n\\endif\n";
		} else {
			print $out $text, "\n";
		}
	}
	print $out "\\echo '\@\@docs-done'\n";
	close($out);

	my $log = "$tmp/$page.log";
	my $rc = system("$psql -X -v VERBOSITY=default -d " . quote_lit($db) .
					" -f " . quote_lit($script) . " >" . quote_lit($log) . " 2>&1");
	open(my $lh, '<', $log) or die "$log: $!";
	my @log = <$lh>;
	close($lh);

	print @log if $ENV{DOCS_VERBOSE};
	my ($done, $fail, $last) = (0, undef, undef);
	for my $l (@log) {
		$last = [$1, $2] if $l =~ /^\@\@docs-block (\d+) (\d+)/;
		$fail = $1 if !defined $fail && $l =~ /^\@\@docs-fail (.*)/;
		$done = 1 if $l =~ /^\@\@docs-done/;
	}
	if (!$fail && (!$done || $rc != 0)) {
		my @err = grep { /(ERROR|FATAL|error):/ } @log;
		$fail = ($last ? "$last->[0] $last->[1]: " : '') . ($err[-1] // "psql exited with $rc");
		chomp $fail;
	}
	if ($fail) {
		my ($n) = $fail =~ /^(\d+) /;
		my $b = defined $n ? $blocks->[$n - 1] : undef;
		$fail =~ s/^(\d+) (\d+): /example $1 at $file:$2: /;
		print "docs $page: FAILED: $fail\n";
		if ($b) {
			my @l = split /\n/, $b->[1];
			print "    | $_\n" for @l[0 .. ($#l < 5 ? $#l : 5)];
			print "    | ...\n" if @l > 6;
		}
		my @tail = grep { !/^\@\@docs/ } @log;
		print "    > $_" for @tail[($#tail > 8 ? $#tail - 8 : 0) .. $#tail];
		$failed++;
	} else {
		printf "docs %s: ok (%d examples%s)\n", $page, scalar @$blocks,
			(grep { defined $_->[2] } @$blocks)
				? sprintf(', %d of them refusals', scalar grep { defined $_->[2] } @$blocks) : '';
		$passed++;
	}

	# Clean up: the page's database, or what it added to a shared one, and
	# the roles it created.
	my %had = map { $_ => 1 } @roles_before;
	my @new_roles = grep { !$had{$_} } @{psql_cmd('postgres', 'SELECT rolname FROM pg_roles')};
	if ($own_db) {
		psql_cmd('postgres', 'DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)');
	} else {
		my %e = map { $_ => 1 } @ext_before;
		for my $x (grep { !$e{$_} } @{psql_cmd($db, 'SELECT extname FROM pg_extension')}) {
			psql_cmd($db, 'DROP EXTENSION IF EXISTS ' . quote_ident($x) . ' CASCADE');
		}
		my %s = map { $_ => 1 } @schemas_before;
		for my $x (grep { !$s{$_} } @{psql_cmd($db, 'SELECT nspname FROM pg_namespace')}) {
			psql_cmd($db, 'DROP SCHEMA IF EXISTS ' . quote_ident($x) . ' CASCADE');
		}
		for my $r (@new_roles) {
			psql_cmd($db, 'DROP OWNED BY ' . quote_ident($r) . ' CASCADE');
		}
	}
	for my $r (@new_roles) {
		psql_cmd('postgres', 'DROP ROLE IF EXISTS ' . quote_ident($r));
	}
}

print "docs: $passed passed, $failed failed\n";
exit($failed ? 1 : 0);
