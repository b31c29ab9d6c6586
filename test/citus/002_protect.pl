# protect() on tables Citus manages (make test-citus): the protect trigger
# carries the table's rule, signed under the master key, and Citus copies
# it onto every shard.  Checked on a coordinator and two workers:
#   * rows written through the coordinator (INSERT, COPY, UPDATE) are stored
#     on the shards as the pseudonyms the coordinator computes, and a router
#     query by pseudonym finds them;
#   * a shard moved to the other worker keeps its values (not transformed
#     twice) and its protection;
#   * a reference table's placements, the coordinator's included, too;
#   * a partitioned distributed table, with a partition made later and a
#     row moved between partitions, and a shard split;
#   * the distribution column is never protected (0A000);
#   * a rule changed on a worker, a rule copied onto another table's shard,
#     a worker loading another key, a new owner without the domain, a
#     revoked domain and a renamed table all refuse rows (never a raw or
#     wrongly transformed value), and protect() or grant_domain() sign the
#     rule again;
#   * unprotect() removes the trigger from every shard.
# What the shards hold is read on the shards themselves
# (run_command_on_shards).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use CitusCluster;

my ($coord, $w1, $w2, $keyfile, $dir) = CitusCluster::start();
sub refuses { return CitusCluster::refuses(@_); }
sub q1 { return $coord->safe_psql('postgres', $_[0]); }

# --- a distributed table, protected after it is distributed ------------------

q1(q{
CREATE TABLE telco.calls (id bigint NOT NULL, customer_id bigint NOT NULL, a_number text, b_number text,
                          at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (customer_id, id));
SELECT create_distributed_table('telco.calls', 'customer_id');
SELECT privacy.register_table('telco.calls', 'traffic');
SELECT privacy.register_column('telco.calls', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('telco.calls', 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
});
is(q1(q{SELECT current_setting('citus.enable_unsafe_triggers')}), 'off',
	'triggers are not declared safe in the session');
q1(q{SELECT privacy.protect('telco.calls')});
is(q1(q{SELECT tgnargs FROM pg_trigger WHERE tgrelid = 'telco.calls'::regclass AND tgname = 'zz_pg_privacy_protect'}),
	'2', 'protect() on a distributed table: the trigger carries the signed rule');
is(q1(q{SELECT count(*) FROM run_command_on_shards('telco.calls',
  $$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'zz\_pg\_privacy\_protect%%' AND tgnargs = 2$$)
  WHERE result <> '1'}), '0', '... on every shard');
is(q1(q{SELECT privacy_internal._protection_problem('telco.calls') IS NULL}), 't',
	'... and the protection is in force');

# the raw rows, kept on the coordinator only to compare
q1(q{
CREATE TABLE public.raw_calls AS
SELECT g AS id, g % 97 AS customer_id,
       '+4520' || lpad((g * 7919 % 1000000)::text, 6, '0') AS a_number,
       '+4530' || lpad((g * 104729 % 1000000)::text, 6, '0') AS b_number
  FROM generate_series(1, 1000) g;
INSERT INTO telco.calls (id, customer_id, a_number, b_number) SELECT * FROM public.raw_calls WHERE id <= 500;
});
$coord->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $coord->connstr('postgres'), '-c',
	q{\copy (SELECT * FROM public.raw_calls WHERE id > 500) TO '} . "$dir/calls.csv" . q{' WITH (FORMAT csv)} ],
	'the other half written to a file');
$coord->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $coord->connstr('postgres'), '-c',
	q{\copy telco.calls (id, customer_id, a_number, b_number) FROM '} . "$dir/calls.csv" . q{' WITH (FORMAT csv)} ],
	'... and loaded by COPY through the coordinator');

# What the shards hold, fetched to the coordinator and compared there.
sub compare
{
	return q1(q{
CREATE TEMP TABLE got AS SELECT id, customer_id, a_number, b_number FROM telco.calls;
SELECT count(*) FILTER (WHERE g.a_number = privacy.pseudonymize_msisdn(r.a_number)
                          AND g.b_number IS NOT DISTINCT FROM privacy.pseudonymize_msisdn(r.b_number)) || '/' ||
       count(*) FILTER (WHERE g.a_number = r.a_number OR g.b_number = r.b_number) || '/' || count(*)
  FROM got g JOIN public.raw_calls r USING (id);
});
}
is(compare(), '1000/0/1000', 'every row on the shards holds the pseudonyms the coordinator computes, no raw number');
is(q1(q{SELECT sum(result::bigint) FROM run_command_on_shards('telco.calls', $$SELECT count(*) FROM %s$$)}),
	'1000', 'the shards hold the 1,000 rows');
my ($raw_a) = q1(q{SELECT a_number FROM public.raw_calls WHERE id = 1});
is(q1(qq{SELECT count(*) FROM run_command_on_shards('telco.calls', \$\$SELECT count(*) FROM %s WHERE a_number = '$raw_a'\$\$)
  WHERE result <> '0'}), '0', 'no shard holds a raw A-number');
is(q1(qq{SELECT count(*) FROM telco.calls WHERE customer_id = 1 AND a_number = privacy.pseudonymize_msisdn('$raw_a')}),
	'1', 'a router query by pseudonym finds the row');

# an UPDATE through the coordinator: the new number transformed, the
# untouched one left as stored
q1(q{UPDATE telco.calls SET b_number = '+4540000001' WHERE customer_id = 1 AND id = 1});
is(q1(qq{SELECT a_number = privacy.pseudonymize_msisdn('$raw_a') AND b_number = privacy.pseudonymize_msisdn('+4540000001')
  FROM telco.calls WHERE customer_id = 1 AND id = 1}), 't', 'an UPDATE transforms the new value and leaves the other as stored');
q1(q{UPDATE public.raw_calls SET b_number = '+4540000001' WHERE id = 1});

# --- a shard move ------------------------------------------------------------

my $before = q1(q{SELECT md5(string_agg(id || a_number || b_number, ',' ORDER BY id)) FROM telco.calls});
my ($shard, $from, $to) = split /\|/, q1(sprintf(q{
SELECT s.shardid, n.nodeport, CASE WHEN n.nodeport = %d THEN %d ELSE %d END
  FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
 WHERE s.shardid = get_shard_id_for_distribution_column('telco.calls', 1)}, $w1->port, $w2->port, $w1->port));
q1(qq{SELECT citus_move_shard_placement($shard, '127.0.0.1', $from, '127.0.0.1', $to, 'block_writes')});
is(q1(qq{SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = $shard}), $to, "shard $shard moved (block_writes)");
is(q1(q{SELECT md5(string_agg(id || a_number || b_number, ',' ORDER BY id)) FROM telco.calls}), $before,
	'... with its rows as they were: nothing transformed twice');
q1(qq{SELECT citus_move_shard_placement($shard, '127.0.0.1', $to, '127.0.0.1', $from, 'force_logical')});
is(q1(qq{SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = $shard}), $from, "... and back (logical replication)");
is(q1(q{SELECT md5(string_agg(id || a_number || b_number, ',' ORDER BY id)) FROM telco.calls}), $before,
	'... still as they were');
q1(q{INSERT INTO telco.calls (id, customer_id, a_number, b_number) VALUES (1001, 1, '+4520999001', NULL);
     INSERT INTO public.raw_calls VALUES (1001, 1, '+4520999001', NULL)});
is(q1(q{SELECT a_number = privacy.pseudonymize_msisdn('+4520999001') FROM telco.calls WHERE customer_id = 1 AND id = 1001}),
	't', 'a row written to the moved shard is transformed');

# --- where protect() refuses on Citus ------------------------------------------

my $err = refuses($coord, q{
CREATE TABLE telco.calls_by_number (a_number text, at timestamptz);
SELECT create_distributed_table('telco.calls_by_number', 'a_number');
SELECT privacy.register_table('telco.calls_by_number', 'traffic');
SELECT privacy.register_column('telco.calls_by_number', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.calls_by_number')}, '0A000', 'protecting the distribution column is refused');
like($err, qr/it is the distribution column.*HINT:.*pseudonymize_msisdn/s, '... saying why and what to do instead');
refuses($coord, q{SELECT privacy.protect('telco.calls', rewrite_existing => true)}, '0A000',
	'rewrite_existing on a protected Citus table is refused: never transformed twice');
$err = refuses($coord, q{
CREATE TABLE telco.calls_empty (LIKE telco.calls);
SELECT create_distributed_table('telco.calls_empty', 'customer_id');
SELECT privacy.register_table('telco.calls_empty', 'traffic');
SELECT privacy.register_column('telco.calls_empty', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.calls_empty', rewrite_existing => true)}, '0A000',
	'rewrite_existing on a Citus table is refused (0A000)');
like($err, qr/INSERT \.\.\. SELECT/, '... saying how to load rows instead');

# --- a partitioned distributed table -------------------------------------------

q1(q{
CREATE TABLE telco.calls_parted (id bigint NOT NULL, customer_id bigint NOT NULL, a_number text, at timestamptz NOT NULL)
  PARTITION BY RANGE (at);
CREATE TABLE telco.calls_parted_2026 PARTITION OF telco.calls_parted FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT create_distributed_table('telco.calls_parted', 'customer_id');
SELECT privacy.register_table('telco.calls_parted', 'traffic');
SELECT privacy.register_column('telco.calls_parted', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.calls_parted');
INSERT INTO telco.calls_parted VALUES (1, 1, '+4520600001', '2026-05-01');
-- a partition created after protect(): Citus makes and attaches its shards
CREATE TABLE telco.calls_parted_2027 PARTITION OF telco.calls_parted FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
INSERT INTO telco.calls_parted VALUES (2, 1, '+4520600002', '2027-05-01'), (3, 2, '+4520600003', '2027-06-01');
-- a row moved to another partition by its time
UPDATE telco.calls_parted SET at = '2027-02-01' WHERE id = 1;
});
is(q1(q{SELECT string_agg((a_number = privacy.pseudonymize_msisdn('+452060000' || id))::text, ',' ORDER BY id) FROM telco.calls_parted}),
	'true,true,true', 'a partitioned distributed table: rows in its partitions, a partition made later and a row moved between partitions hold their pseudonyms');
is(q1(q{SELECT count(*) FROM run_command_on_shards('telco.calls_parted_2027',
  $$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'zz\_pg\_privacy\_protect%%' AND tgnargs = 2$$)
  WHERE result <> '1'}), '0', '... the shards of the partition made later carry the rule');
is(q1(q{SELECT privacy_internal._protection_problem('telco.calls_parted') IS NULL}), 't', '... and its protection is in force');
# a distributed table attached as a partition: refused (its rows on the
# shards cannot be checked); a partition made with PARTITION OF is the way
$err = refuses($coord, q{
CREATE TABLE telco.calls_parted_2028 (id bigint NOT NULL, customer_id bigint NOT NULL, a_number text, at timestamptz NOT NULL);
SELECT create_distributed_table('telco.calls_parted_2028', 'customer_id', colocate_with => 'telco.calls_parted');
INSERT INTO telco.calls_parted_2028 VALUES (9, 1, '+4520600009', '2028-05-01');
ALTER TABLE telco.calls_parted ATTACH PARTITION telco.calls_parted_2028 FOR VALUES FROM ('2028-01-01') TO ('2029-01-01')},
	'0A000', 'a distributed table is not attached as a partition of a protected table');
like($err, qr/cannot attach table calls_parted_2028, which Citus manages, to a protected table.*HINT:.*PARTITION OF/s,
	'... saying why and what to do instead');
q1(q{
CREATE TABLE telco.calls_parted_2029 PARTITION OF telco.calls_parted FOR VALUES FROM ('2029-01-01') TO ('2030-01-01');
INSERT INTO telco.calls_parted VALUES (4, 2, '+4520600004', '2029-05-01');
});
is(q1(q{SELECT a_number = privacy.pseudonymize_msisdn('+4520600004') FROM telco.calls_parted WHERE id = 4}),
	't', '... and rows written to a partition made with PARTITION OF are transformed');

# --- a shard split ---------------------------------------------------------------

my $before_split = q1(q{SELECT md5(string_agg(id || a_number || coalesce(b_number, ''), ',' ORDER BY id)) FROM telco.calls});
my ($sp, $lo, $hi) = split /\|/, q1(q{SELECT shardid, shardminvalue, shardmaxvalue FROM pg_dist_shard
  WHERE shardid = get_shard_id_for_distribution_column('telco.calls', 1)});
my $mid = int(($lo + $hi) / 2);
q1(qq{SELECT citus_split_shard_by_split_points($sp, ARRAY['$mid'],
  ARRAY[(SELECT nodeid FROM pg_dist_node WHERE nodeport = } . $w1->port . q{), (SELECT nodeid FROM pg_dist_node WHERE nodeport = } . $w2->port . q{)], 'block_writes')});
is(q1(q{SELECT md5(string_agg(id || a_number || coalesce(b_number, ''), ',' ORDER BY id)) FROM telco.calls}), $before_split,
	'a shard split copies the rows as they were: nothing transformed twice');
q1(q{INSERT INTO telco.calls (id, customer_id, a_number) VALUES (1002, 1, '+4520999002');
     INSERT INTO public.raw_calls VALUES (1002, 1, '+4520999002', NULL)});
is(q1(q{SELECT a_number = privacy.pseudonymize_msisdn('+4520999002') FROM telco.calls WHERE customer_id = 1 AND id = 1002}),
	't', '... and a row written to a split shard is transformed');

# --- a reference table ---------------------------------------------------------

q1(q{
CREATE TABLE telco.contact_ref (id int PRIMARY KEY, msisdn text);
SELECT create_reference_table('telco.contact_ref');
SELECT privacy.register_table('telco.contact_ref', 'traffic');
SELECT privacy.register_column('telco.contact_ref', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.contact_ref');
INSERT INTO telco.contact_ref VALUES (1, '+4520555001'), (2, '+4520555002');
});
is(q1(q{SELECT count(DISTINCT result) || '/' || count(*) FROM run_command_on_placements('telco.contact_ref',
  $$SELECT string_agg(msisdn, ',' ORDER BY id) FROM %s$$)}), '1/3',
	'a reference table: its three placements (the coordinator\'s too) hold the same values');
is(q1(q{SELECT string_agg((msisdn = privacy.pseudonymize_msisdn('+452055500' || id))::text, ',' ORDER BY id) FROM telco.contact_ref}),
	'true,true', '... the pseudonyms');

# --- what the shards' triggers refuse ---------------------------------------------

# the shard of customer 2 and the worker that has it
my ($s2, $port2) = split /\|/, q1(q{
SELECT s.shardid, n.nodeport FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
 WHERE s.shardid = get_shard_id_for_distribution_column('telco.calls', 2)});
my $wk = $port2 == $w1->port ? $w1 : $w2;
my $other = $port2 == $w1->port ? $w2 : $w1;
# (Citus names the trigger on a shard after the shard)
my $args = qq{FROM pg_trigger WHERE tgrelid = 'telco.calls_$s2'::regclass AND tgname = 'zz_pg_privacy_protect_$s2'};
my $rule = $wk->safe_psql('postgres', qq{SELECT (string_to_array(encode(tgargs, 'escape'), '\\000'))[1] $args});
my $mac = $wk->safe_psql('postgres', qq{SELECT (string_to_array(encode(tgargs, 'escape'), '\\000'))[2] $args});
like($rule, qr/"table": "calls"/, 'the rule on the shard names its table');
like($mac, qr/^[0-9a-f]{64}$/, '... and carries its signature');

# a rule changed on the worker: the B-number left out
(my $weak = $rule) =~ s/, \["b_number"[^\]]*\]//;
isnt($weak, $rule, 'a rule without the B-number');
$wk->safe_psql('postgres', qq{
DROP TRIGGER zz_pg_privacy_protect_$s2 ON telco.calls_$s2;
CREATE TRIGGER zz_pg_privacy_protect_$s2 BEFORE INSERT OR UPDATE ON telco.calls_$s2
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger('$weak', '$mac');
});
$err = refuses($coord, q{INSERT INTO telco.calls (id, customer_id, a_number, b_number) VALUES (2001, 2, '+4520111001', '+4530111001')},
	'55000', 'a rule changed on a worker refuses the row');
like($err, qr/not signed with this node's key/, '... its signature does not hold');
q1(q{SELECT privacy.protect('telco.calls')});
q1(q{INSERT INTO telco.calls (id, customer_id, a_number, b_number) VALUES (2001, 2, '+4520111001', '+4530111001');
     INSERT INTO public.raw_calls VALUES (2001, 2, '+4520111001', '+4530111001')});
is(q1(q{SELECT b_number = privacy.pseudonymize_msisdn('+4530111001') FROM telco.calls WHERE customer_id = 2 AND id = 2001}),
	't', 'protect() again signs the rule anew on every shard: the row is transformed');

# the rule copied onto the shard of another table
q1(q{
CREATE TABLE telco.notes (id bigint, customer_id bigint NOT NULL, a_number text, b_number text);
SELECT create_distributed_table('telco.notes', 'customer_id', colocate_with => 'telco.calls');
});
my $ns2 = q1(q{SELECT get_shard_id_for_distribution_column('telco.notes', 2)});
my $rule2 = $wk->safe_psql('postgres', qq{SELECT (string_to_array(encode(tgargs, 'escape'), '\\000'))[1] $args});
my $mac2 = $wk->safe_psql('postgres', qq{SELECT (string_to_array(encode(tgargs, 'escape'), '\\000'))[2] $args});
$wk->safe_psql('postgres', qq{
CREATE TRIGGER zz_pg_privacy_protect_$ns2 BEFORE INSERT OR UPDATE ON telco.notes_$ns2
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(\$r\$$rule2\$r\$, '$mac2');
});
$err = refuses($coord, q{INSERT INTO telco.notes VALUES (1, 2, '+4520111002', NULL)}, '55000',
	'a signed rule copied onto the shard of another table refuses the row');
like($err, qr/carries the protect rule of table telco\.calls, not of its own table telco\.notes/, '... naming both');

# a second trigger carrying the rule on the real shard would transform twice
$wk->safe_psql('postgres', qq{
CREATE TRIGGER zzz_again BEFORE INSERT OR UPDATE ON telco.calls_$s2
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(\$r\$$rule2\$r\$, '$mac2');
});
$err = refuses($coord, q{INSERT INTO telco.calls (id, customer_id, a_number) VALUES (2010, 2, '+4520111010')}, '55000',
	'a second trigger carrying the rule on a shard refuses the row, never transforms it twice');
like($err, qr/is carried by trigger "zzz_again", not by "zz_pg_privacy_protect_$s2"/, '... naming the trigger');
$wk->safe_psql('postgres', qq{DROP TRIGGER zzz_again ON telco.calls_$s2});

# a table named like a shard on a node that holds no placement of it (the
# coordinator), with the rule copied: no shard
my $s_other = q1(q{SELECT get_shard_id_for_distribution_column('telco.calls', 5)});
q1(qq{
SET citus.enable_manual_changes_to_shards = on;
CREATE TABLE telco.calls_$s_other (id bigint, customer_id bigint, a_number text, b_number text, at timestamptz);
CREATE TRIGGER zz_pg_privacy_protect_$s_other BEFORE INSERT OR UPDATE ON telco.calls_$s_other
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(\$r\$$rule2\$r\$, '$mac2');
}) unless q1(qq{SELECT count(*) FROM pg_dist_placement WHERE shardid = $s_other AND groupid = 0}) ne '0';
$err = refuses($coord, qq{SET citus.enable_manual_changes_to_shards = on;
INSERT INTO telco.calls_$s_other VALUES (1, 5, '+4520111011', NULL, now())}, '55000',
	'a table named like a shard on a node without its placement is no shard: the row is refused');
like($err, qr/is not a shard of it/, '... saying so');
q1(qq{SET citus.enable_manual_changes_to_shards = on; DROP TABLE telco.calls_$s_other});

# a worker that loads another key
my $key2 = CitusCluster::key_file($dir, 'other.key');
$wk->safe_psql('postgres', qq{ALTER SYSTEM SET pg_privacy.key_file = '$key2'});
$wk->reload;
refuses($coord, q{INSERT INTO telco.calls (id, customer_id, a_number) VALUES (2002, 2, '+4520111003')}, '55000',
	'a worker loading another key than the coordinator refuses the row');
is(q1(q{SELECT count(*) FROM telco.calls WHERE customer_id = 2 AND id = 2002}), '0', '... and stores nothing');
$wk->safe_psql('postgres', qq{ALTER SYSTEM SET pg_privacy.key_file = '$keyfile'});
$wk->reload;
q1(q{INSERT INTO telco.calls (id, customer_id, a_number) VALUES (2002, 2, '+4520111003');
     INSERT INTO public.raw_calls VALUES (2002, 2, '+4520111003', NULL)});
is(q1(q{SELECT a_number = privacy.pseudonymize_msisdn('+4520111003') FROM telco.calls WHERE customer_id = 2 AND id = 2002}),
	't', '... and accepts it again under the coordinator\'s key');

# A key change while a Citus table has msisdn_fpe columns: refused, nothing
# changed (the shards' pseudonyms cannot be converted by rekey).
my $fp_coord = q1(q{SELECT fingerprint FROM privacy.key_state});
$coord->safe_psql('postgres', qq{ALTER SYSTEM SET pg_privacy.key_file = '$key2, $keyfile'});
$coord->reload;
$coord->poll_query_until('postgres', qq{SELECT current_setting('pg_privacy.key_file') LIKE '%, %'})
  or die 'the key setting was not reloaded';
$err = refuses($coord, qq{SELECT privacy.accept_key_change('$fp_coord')}, '0A000',
	'a key change is refused while a Citus table has an msisdn_fpe column');
like($err, qr/cannot change the key while table telco\.\w+, which Citus manages, has a column protected by msisdn_fpe/, '... naming the table');
is(q1(q{SELECT fingerprint FROM privacy.key_state}), $fp_coord, '... and the database keeps its key');
is(q1(q{SELECT count(*) FROM privacy.rekey_pending}), '0', '... with nothing pending');
$coord->safe_psql('postgres', qq{ALTER SYSTEM SET pg_privacy.key_file = '$keyfile'});
$coord->reload;
$coord->poll_query_until('postgres', qq{SELECT current_setting('pg_privacy.key_file') NOT LIKE '%, %'})
  or die 'the key setting was not reloaded';

# a new owner, without the domain
q1(q{CREATE ROLE traffic_owner; ALTER TABLE telco.calls OWNER TO traffic_owner});
$err = refuses($coord, q{INSERT INTO telco.calls (id, customer_id, a_number) VALUES (2003, 2, '+4520111004')}, '55000',
	'after a change of owner the shards refuse rows');
like($err, qr/owned by role "traffic_owner", its protect rule by role "postgres"/, '... naming both owners');
my $stale = q{SELECT count(*) FROM privacy.health() h WHERE h.area = 'catalog' AND h.status = 'error'
  AND h.detail LIKE 'telco.calls: the protect rule on its shards is not the one the catalog gives now%'};
is(q1($stale), '1', 'health() reports the stale rule');
refuses($coord, q{SELECT privacy.protect('telco.calls')}, '42501',
	'protect() again refuses an owner without the domain');
q1(q{SELECT privacy.grant_domain('default', 'traffic_owner')});
q1(q{INSERT INTO telco.calls (id, customer_id, a_number) VALUES (2003, 2, '+4520111004');
     INSERT INTO public.raw_calls VALUES (2003, 2, '+4520111004', NULL)});
is(q1(q{SELECT a_number = privacy.pseudonymize_msisdn('+4520111004') FROM telco.calls WHERE customer_id = 2 AND id = 2003}),
	't', 'grant_domain signs the rule again: the new owner\'s rows are transformed');
q1(q{SELECT privacy.revoke_domain('default', 'traffic_owner')});
$err = refuses($coord, q{INSERT INTO telco.calls (id, customer_id, a_number) VALUES (2004, 2, '+4520111005')}, '42501',
	'revoke_domain reaches the shards: rows refused');
like($err, qr/may not produce pseudonyms of domain "default"/, '... saying why');
q1(q{SELECT privacy.grant_domain('default', 'traffic_owner')});

# the owner puts an older rule back through the coordinator (read from
# pg_trigger before the revocation): refused, only protect() writes a rule;
# and on a shard placed on the coordinator (a reference table's), a change
# by hand may neither drop nor disable the shard's trigger
q1(q{
CREATE TABLE telco.owned_ref (id int PRIMARY KEY, msisdn text);
ALTER TABLE telco.owned_ref OWNER TO traffic_owner;
SELECT create_reference_table('telco.owned_ref');
SELECT privacy.register_table('telco.owned_ref', 'traffic');
SELECT privacy.register_column('telco.owned_ref', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.owned_ref');
GRANT EXECUTE ON FUNCTION privacy.unprotect(regclass) TO traffic_owner;
GRANT USAGE ON SCHEMA telco TO traffic_owner;
});
my $oargs = q{FROM pg_trigger WHERE tgrelid = 'telco.owned_ref'::regclass AND tgname = 'zz_pg_privacy_protect'};
my $orule = q1(qq{SELECT (string_to_array(encode(tgargs, 'escape'), '\\000'))[1] $oargs});
my $omac = q1(qq{SELECT (string_to_array(encode(tgargs, 'escape'), '\\000'))[2] $oargs});
my $oshard = q1(q{SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'telco.owned_ref'::regclass});
$err = refuses($coord, qq{SET ROLE traffic_owner;
ALTER TABLE telco.owned_ref_$oshard DISABLE TRIGGER zz_pg_privacy_protect_$oshard}, '55000',
	'the owner may not disable the protect trigger of a shard on the coordinator by hand');
like($err, qr/its protect trigger was disabled/i, '... saying so');
$err = refuses($coord, qq{SET ROLE traffic_owner; SET citus.enable_manual_changes_to_shards = on;
DROP TRIGGER zz_pg_privacy_protect_$oshard ON telco.owned_ref_$oshard}, '55000',
	'... nor drop it');
like($err, qr/cannot drop the protect trigger of shard/, '... saying so');
for my $w ($w1, $w2)
{
	refuses($w, qq{SET ROLE traffic_owner; ALTER TABLE telco.owned_ref_$oshard DISABLE TRIGGER zz_pg_privacy_protect_$oshard},
		'55000', 'on worker ' . $w->port . ', the owner may not disable a shard\'s protect trigger either');
	refuses($w, qq{SET ROLE traffic_owner; DROP TRIGGER zz_pg_privacy_protect_$oshard ON telco.owned_ref_$oshard},
		'55000', '... nor drop it');
}
$err = refuses($coord, qq{SET ROLE traffic_owner; SELECT privacy.unprotect('telco.owned_ref');
SET citus.enable_unsafe_triggers = on;
CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON telco.owned_ref
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(\$r\$$orule\$r\$, '$omac')}, '55000',
	'the owner may not put a signed rule back on her table through the coordinator');
like($err, qr/a protect trigger with a rule was created/i, '... saying why');
is(q1(q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'telco.owned_ref'::regclass AND tgnargs > 0}) . '/' .
   q1(q{SELECT count(*) FROM run_command_on_placements('telco.owned_ref',
     $$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgnargs > 0$$) WHERE result <> '0'}),
	'0/0', '... no placement carries it (her unprotect() stands, and is audited)');

# a renamed table: its shards are renamed, the rule names the old name
q1(q{ALTER TABLE telco.calls RENAME TO calls_archive});
$err = refuses($coord, q{INSERT INTO telco.calls_archive (id, customer_id, a_number) VALUES (2005, 2, '+4520111006')}, '55000',
	'after a rename the shards refuse rows until the rule is signed again');
like($err, qr/renamed since it was protected/, '... saying why');
q1(q{SELECT privacy.protect('telco.calls_archive')});
q1(q{INSERT INTO telco.calls_archive (id, customer_id, a_number) VALUES (2005, 2, '+4520111006');
     INSERT INTO public.raw_calls VALUES (2005, 2, '+4520111006', NULL)});
is(q1(q{SELECT a_number = privacy.pseudonymize_msisdn('+4520111006') FROM telco.calls_archive WHERE customer_id = 2 AND id = 2005}),
	't', '... and accept them after protect()');
q1(q{ALTER TABLE telco.calls_archive RENAME TO calls; SELECT privacy.protect('telco.calls')});

# a protected column declared later: the rule is signed again with it
q1(q{ALTER TABLE telco.calls ADD COLUMN callback text;
     SELECT privacy.register_column('telco.calls', 'callback', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
     INSERT INTO telco.calls (id, customer_id, a_number, callback) VALUES (2006, 2, '+4520111007', '+4520111008');
     INSERT INTO public.raw_calls VALUES (2006, 2, '+4520111007', NULL)});
is(q1(q{SELECT callback = privacy.pseudonymize_msisdn('+4520111008') FROM telco.calls WHERE customer_id = 2 AND id = 2006}),
	't', 'a protected column declared after protect() is transformed on the shards at once');

# a protected column cannot be renamed: the rule names it
$err = refuses($coord, q{ALTER TABLE telco.calls RENAME COLUMN callback TO callback_number}, '0A000',
	'renaming a protected column of a protected Citus table is refused');
like($err, qr/cannot rename protected column "callback"/, '... saying which');

# the rule keeps its default country when a grant signs it again from a
# session with another one
q1(q{SET pg_privacy.default_country = 'SE'; SELECT privacy.grant_domain('default', 'traffic_owner')});
q1(q{INSERT INTO telco.calls (id, customer_id, a_number) VALUES (2007, 2, '20 11 10 09');
     INSERT INTO public.raw_calls VALUES (2007, 2, '+4520111009', NULL)});
is(q1(q{SELECT a_number = privacy.pseudonymize_msisdn('+4520111009') FROM telco.calls WHERE customer_id = 2 AND id = 2007}),
	't', 'a national number is read in the default country the table was protected under');

# the whole table once more, after all of that
is(compare(), '1008/0/1008', 'every row still holds its pseudonyms, none transformed twice, no raw number');

is(q1($stale), '0', 'health() reports no stale rule once protect() signed it again');

# --- a table Citus no longer manages -----------------------------------------------

q1(q{SET citus.enable_unsafe_triggers = on; SELECT undistribute_table('telco.contact_ref')});
is(q1(q{SELECT string_agg((msisdn = privacy.pseudonymize_msisdn('+452055500' || id))::text, ',' ORDER BY id) FROM telco.contact_ref}),
	'true,true', 'undistribute_table copies the rows as they were');
$err = refuses($coord, q{INSERT INTO telco.contact_ref VALUES (3, '+4520555003')}, '55000',
	'... and the local table refuses rows while its trigger carries a rule for shards');
like($err, qr/is not a shard of it/, '... saying why');
q1(q{
SELECT privacy.register_table('telco.contact_ref', 'traffic');
SELECT privacy.register_column('telco.contact_ref', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.contact_ref');
INSERT INTO telco.contact_ref VALUES (3, '+4520555003');
});
is(q1(q{SELECT (msisdn = privacy.pseudonymize_msisdn('+4520555003')) || ' ' || (SELECT tgnargs FROM pg_trigger
  WHERE tgrelid = 'telco.contact_ref'::regclass AND tgname = 'zz_pg_privacy_protect') FROM telco.contact_ref WHERE id = 3}),
	'true 0', 'protect() gives it the local trigger again, and its rows are transformed');

# --- unprotect ----------------------------------------------------------------------

q1(q{SELECT privacy.unprotect('telco.calls')});
is(q1(q{SELECT count(*) FROM run_command_on_shards('telco.calls',
  $$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'zz\_pg\_privacy\_protect%%'$$)
  WHERE result <> '0'}), '0', 'unprotect() removes the trigger from every shard');

$_->stop for ($coord, $w1, $w2);
done_testing();
