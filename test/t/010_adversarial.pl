# Adversarial suite: pg_privacy attacked as a hostile table owner, an
# ordinary login role, and a DBA restoring a backup onto a server with
# another key.  Every test asserts that the attack fails; a test marked
# TODO records an attack that still succeeds (a known finding).
#
#  1. A superuser runs protect(rewrite_existing), export_subject,
#     export_subject_chunks, withdraw_consent (delete cascade),
#     erase_subject, purge and run_purge over a table whose owner planted
#     her code everywhere PostgreSQL lets her: row and statement triggers
#     of every timing, RULEs, a column DEFAULT, an index expression, a
#     domain CHECK and casts of her enum to json, jsonb and text.  Her code
#     records current_user and tries ALTER ROLE ... SUPERUSER: it must only
#     ever run as her, leave no setting behind in the superuser's session,
#     and reach no API entry point; columns retyped to her domains after
#     registration fail closed without running her checks.
#  2. An ordinary login role reaches nothing privileged: no SECURITY
#     DEFINER or entry point for PUBLIC, no keyed value without a grant.
#  3. Exactly once: VALUES, INSERT ... SELECT, COPY (routed too), MERGE,
#     upserts and partition moves, in a function or not, transform once,
#     even when an ordinary trigger writes another protected table in
#     between; a partition attached with rows it never protected, or a
#     child by inheritance, does not pass as protected; odd values are
#     refused and kept out of the log.
#  4. Odd input (NULLs, empty strings, a megabyte of digits, arrays of
#     NULLs, extreme integers) to every function: errors, never a crash.
#  5. Restore onto a server with a different key file: keyed work
#     (pseudonymize, reidentify_msisdn, protected writes, holds, export,
#     erase_subject, purge and run_purge of a partitioned table under a
#     legal hold) fails closed with 55000 and drops no held partition;
#     has_consent (consent is not keyed) answers right;
#     after accept_key_change(old fingerprint) it proceeds; a row written
#     under the old key is not re-identified to another number: refused
#     until rekey converts it, then re-identified right.
#  6. A key file swapped under an open session and reloaded: the next
#     keyed call of that session fails closed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = PostgreSQL::Test::Utils::tempdir();

sub write_key
{
	my ($path, $hex) = @_;
	open(my $fh, '>', $path) or die "cannot write $path: $!";
	print $fh $hex, "\n";
	close($fh);
	chmod(0600, $path) or die "chmod $path: $!";
}

sub random_hex
{
	return join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32);
}

my $hex_a = random_hex();
my $hex_b = random_hex();
$hex_b = random_hex() while $hex_b eq $hex_a;
write_key("$dir/a.key", $hex_a);
write_key("$dir/b.key", $hex_b);
write_key("$dir/live.key", $hex_a);

my $node = PostgreSQL::Test::Cluster->new('adversarial');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$dir/live.key'
log_statement = none
});
$node->start;

# psql that returns (stdout, stderr) and never dies
sub try_sql
{
	my ($n, $db, $sql, @extra) = @_;
	my ($out, $err) = ('', '');
	$n->psql($db, $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-v', 'VERBOSITY=verbose', @extra ]);
	return ($out, $err);
}

# ---------------------------------------------------------------------------
# 1. A hostile table owner's code, run by a superuser's pg_privacy calls
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE hostile');
$node->safe_psql('hostile', q{
CREATE EXTENSION pg_privacy;
CREATE ROLE regress_mallory LOGIN;
CREATE SCHEMA m AUTHORIZATION regress_mallory;
GRANT EXECUTE ON FUNCTION privacy.register_table(regclass, text),
  privacy.register_column(regclass, name, text, text, text, text, text),
  privacy.set_subject_table(regclass, name, name, name, name, name[], text) TO regress_mallory;
SELECT privacy.define_purpose('regress_adv', 'contract');
SELECT privacy.define_purpose('regress_adv_mkt', 'consent');
SELECT privacy.grant_domain('default', 'regress_mallory');
-- where her code reports who it ran as
CREATE TABLE public.spylog (what text, cu name, su name, super boolean);
GRANT INSERT ON public.spylog TO PUBLIC;
});
$node->safe_psql('hostile', q{
SET ROLE regress_mallory;
CREATE FUNCTION m.spy(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.spylog VALUES (what, current_user, session_user,
    (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user));
  BEGIN
    EXECUTE 'ALTER ROLE regress_mallory SUPERUSER';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  RETURN true;
END $$;
CREATE FUNCTION m.ispy(t text) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN PERFORM m.spy('index'); RETURN t; END $$;
CREATE FUNCTION m.tspy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM m.spy(TG_NAME);
  IF TG_LEVEL = 'ROW' THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  RETURN NULL;
END $$;
-- and tries to leave settings behind in the session that ran her code
CREATE FUNCTION m.gspy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM m.spy('guc');
  PERFORM pg_catalog.set_config('search_path', 'm, public', false);
  PERFORM pg_catalog.set_config('pg_privacy.default_country', 'SE', false);
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE DOMAIN m.dnote AS text CHECK (m.spy('domain_check'));
CREATE TYPE m.mood AS ENUM ('calm', 'angry');
CREATE FUNCTION m.mood_json(m.mood) RETURNS json LANGUAGE sql
  AS $$ SELECT pg_catalog.to_json(m.spy('cast_json')) $$;
CREATE FUNCTION m.mood_jsonb(m.mood) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT pg_catalog.to_jsonb(m.spy('cast_jsonb')) $$;
CREATE FUNCTION m.mood_text(m.mood) RETURNS text LANGUAGE sql
  AS $$ SELECT m.spy('cast_text')::text $$;
CREATE CAST (m.mood AS json) WITH FUNCTION m.mood_json(m.mood);
CREATE CAST (m.mood AS jsonb) WITH FUNCTION m.mood_jsonb(m.mood);
CREATE CAST (m.mood AS text) WITH FUNCTION m.mood_text(m.mood);
CREATE TABLE m.cdr (
  id int PRIMARY KEY,
  msisdn text,
  started timestamptz NOT NULL,
  mood m.mood DEFAULT 'calm',
  note m.dnote DEFAULT 'n',
  dflt text DEFAULT (m.spy('default'))::text
);
CREATE INDEX cdr_spy ON m.cdr (m.ispy(msisdn));
CREATE RULE r_upd AS ON UPDATE TO m.cdr DO ALSO SELECT m.spy('rule_update');
CREATE RULE r_del AS ON DELETE TO m.cdr DO ALSO SELECT m.spy('rule_delete');
CREATE TRIGGER a_br BEFORE INSERT OR UPDATE OR DELETE ON m.cdr FOR EACH ROW EXECUTE FUNCTION m.tspy();
CREATE TRIGGER a_bs BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON m.cdr FOR EACH STATEMENT EXECUTE FUNCTION m.tspy();
CREATE TRIGGER z_ar AFTER INSERT OR UPDATE OR DELETE ON m.cdr FOR EACH ROW EXECUTE FUNCTION m.tspy();
CREATE TRIGGER z_as AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON m.cdr FOR EACH STATEMENT EXECUTE FUNCTION m.tspy();
CREATE TRIGGER z_bd BEFORE DELETE ON m.cdr FOR EACH ROW EXECUTE FUNCTION m.tspy();
CREATE TRIGGER a_guc BEFORE UPDATE OR DELETE ON m.cdr FOR EACH ROW EXECUTE FUNCTION m.gspy();
INSERT INTO m.cdr (id, msisdn, started) VALUES
  (1, '+4520556677', now() - interval '3 years'),
  (2, '+4520556677', now()),
  (3, '+4520556688', now() - interval '3 years'),
  (4, '+4520556699', now()),
  (5, '+4520550001', now() - interval '3 years'),
  (6, '+4520550002', now() - interval '3 years');
SELECT privacy.register_table('m.cdr', 'regress_adv');
SELECT privacy.register_column('m.cdr', 'msisdn', 'phone', 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.set_subject_table('m.cdr', event_time => 'started');
});

my %spied;
# Run one superuser operation; her code may run, but only as her.
sub superuser_runs
{
	my ($label, $sql) = @_;
	$node->safe_psql('hostile', 'DELETE FROM public.spylog');
	my ($out, $err) = try_sql($node, 'hostile', "$sql;\n"
		  . q{SELECT 'settings:' || current_setting('search_path') || '|' || current_setting('pg_privacy.default_country')
});
	unlike($err, qr/ERROR/, "$label: the superuser's call succeeds") or diag($err);
	like($out, qr/^settings:"\$user", public\|DK$/m,
		"$label: the owner's code left no setting behind in the superuser's session");
	is($node->safe_psql('hostile', q{
		SELECT count(*) FROM public.spylog WHERE cu <> 'regress_mallory' OR super}),
		'0', "$label: the owner's code never ran as another role");
	is($node->safe_psql('hostile', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_mallory'}),
		'f', "$label: the owner is not a superuser");
	$spied{$_} = 1 for split /\n/, $node->safe_psql('hostile', 'SELECT DISTINCT what FROM public.spylog');
}

superuser_runs('protect(rewrite_existing)', q{SELECT privacy.protect('m.cdr', true)});
superuser_runs('export_subject', q{SELECT privacy.export_subject('msisdn', '+4520556677') IS NOT NULL});
superuser_runs('export_subject_chunks',
	q{SELECT count(*) FROM privacy.export_subject_chunks('msisdn', '+4520556677')});
superuser_runs('restrict_subject', q{SELECT privacy.restrict_subject('msisdn', '+4520556699', 'dispute')});
{
	# the owner's own write fires the restriction trigger: her cast, domain
	# check and rules run in her statement, as her
	$node->safe_psql('hostile', 'DELETE FROM public.spylog');
	my ($out, $err) = try_sql($node, 'hostile',
		q{SET ROLE regress_mallory; UPDATE m.cdr SET note = 'x', mood = 'angry' WHERE id = 2});
	unlike($err, qr/ERROR/, 'restriction trigger: the owner updates an unrestricted row');
	($out, $err) = try_sql($node, 'hostile',
		q{SET ROLE regress_mallory; UPDATE m.cdr SET note = 'x' WHERE id = 4});
	like($err, qr/restricted/, 'restriction trigger: the restricted row is refused');
	is($node->safe_psql('hostile',
		q{SELECT count(*) FROM public.spylog WHERE cu <> 'regress_mallory' OR super}),
		'0', 'restriction trigger: the owner\'s code ran as her only');
}
superuser_runs('unrestrict_subject', q{SELECT privacy.unrestrict_subject('msisdn', '+4520556699')});
$node->safe_psql('hostile', q{
SELECT privacy.require_consent('m.cdr', 'msisdn', 'regress_adv_mkt', 'delete', kind => 'msisdn');
SELECT privacy.grant_consent('msisdn', '+4520556688', 'regress_adv_mkt');
});
superuser_runs('withdraw_consent (delete cascade)',
	q{SELECT privacy.withdraw_consent('msisdn', '+4520556688', 'regress_adv_mkt')});
is($node->safe_psql('hostile', 'SELECT count(*) FROM m.cdr WHERE id = 3'), '0',
	'withdraw_consent: the cascade deleted the subject\'s row');
$node->safe_psql('hostile', q{SELECT privacy.unrequire_consent('m.cdr', 'msisdn', 'regress_adv_mkt')});
superuser_runs('erase_subject', q{SELECT count(*) FROM privacy.erase_subject('msisdn', '+4520556677')});
is($node->safe_psql('hostile', 'SELECT count(*) FROM m.cdr WHERE id IN (1, 2)'), '0',
	'erase_subject: the subject\'s rows are gone');
$node->safe_psql('hostile', q{SELECT privacy.set_retention('m.cdr', 'started', '1 year', 'anonymize')});
superuser_runs('purge (anonymize)', q{SELECT * FROM privacy.purge(false, 'm.cdr')});
is($node->safe_psql('hostile', 'SELECT count(*) FROM m.cdr WHERE id IN (5, 6) AND msisdn IS NULL'), '2',
	'purge: the expired rows were anonymized');
$node->safe_psql('hostile', q{SELECT privacy.drop_retention('m.cdr');
	SELECT privacy.set_retention('m.cdr', 'started', '1 year', 'delete')});
superuser_runs('run_purge (delete)', q{CALL privacy.run_purge()});
is($node->safe_psql('hostile', 'SELECT count(*) FROM m.cdr WHERE id IN (5, 6)'), '0',
	'run_purge: the expired rows were deleted');
# the attacks were real: her code did run inside our operations
ok($spied{$_}, "her $_ ran during the superuser's operations")
	for qw(a_br a_bs z_ar z_as z_bd rule_update rule_delete index cast_json guc);
is($node->safe_psql('hostile', q{SELECT count(*) FROM privacy.audit_log WHERE event LIKE 'retention.purge_failed'}),
	'0', 'no purge of her table failed');

# Column types changed to her domains after registration: every path
# fails closed, none evaluates her domain checks.
$node->safe_psql('hostile', q{
SET ROLE regress_mallory;
CREATE DOMAIN m.dts AS timestamptz CHECK (m.spy('dts_check'));
CREATE DOMAIN m.dtext AS text CHECK (m.spy('dtext_check'));
CREATE TABLE m.e (id int, msisdn text, started timestamptz);
INSERT INTO m.e VALUES (1, '+4520556677', now() - interval '3 years'), (2, '+4520556688', now() - interval '3 years');
SELECT privacy.register_table('m.e', 'regress_adv');
SELECT privacy.register_column('m.e', 'msisdn', 'phone', 'msisdn');
SELECT privacy.set_subject_table('m.e', event_time => 'started');
RESET ROLE;
SELECT privacy.set_retention('m.e', 'started', '1 year');
SET ROLE regress_mallory;
ALTER TABLE m.e ALTER COLUMN started TYPE m.dts;
ALTER TABLE m.e ALTER COLUMN msisdn TYPE m.dtext;
RESET ROLE;
DELETE FROM public.spylog;
});
for my $call (
	q{SELECT * FROM privacy.purge(false, 'm.e')},
	q{CALL privacy.run_purge()},
	q{SELECT privacy.export_subject('msisdn', '+4520556677')},
	q{SELECT * FROM privacy.erase_subject('msisdn', '+4520556677')},
	q{SELECT privacy.restrict_subject('msisdn', '+4520556688', 'x')})
{
	my ($out, $err) = try_sql($node, 'hostile', $call);
	ok($err =~ /ERROR|WARNING:.*purge of m\.e failed/ || $out =~ /failed/,
		"after a type change to her domain, fails closed: $call");
}
is($node->safe_psql('hostile', 'SELECT count(*) FROM m.e'), '2', 'no row of the changed table was touched');
is($node->safe_psql('hostile', q{SELECT count(*) FROM public.spylog WHERE cu <> 'regress_mallory' OR super}), '0',
	'her domain checks never ran as another role');
is($node->safe_psql('hostile', q{SELECT count(*) FROM public.spylog WHERE what LIKE 'dt%'}), '0',
	'her domain checks never ran at all');
like($node->safe_psql('hostile', q{SELECT string_agg(problem, '; ') FROM privacy.catalog_problems WHERE table_name = 'm.e'::regclass}),
	qr/identifier column has type m\.dtext/, 'the changed identifier column is reported');
$node->safe_psql('hostile', q{SELECT privacy.drop_retention('m.e'); SELECT privacy.unregister_table('m.e')});

# Her code calling the API from inside our maintenance is refused.
$node->safe_psql('hostile', q{
SET ROLE regress_mallory;
CREATE TABLE m.other (id int, msisdn text, started timestamptz);
INSERT INTO m.other VALUES (1, '+4520556600', now() - interval '3 years');
CREATE FUNCTION m.grab() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM privacy.grant_domain('default', 'regress_mallory');
  PERFORM privacy.revoke_domain('default', 'regress_mallory');
  RETURN OLD;
END $$;
CREATE TRIGGER a_grab BEFORE DELETE ON m.other FOR EACH ROW EXECUTE FUNCTION m.grab();
SELECT privacy.register_table('m.other', 'regress_adv');
RESET ROLE;
SELECT privacy.set_retention('m.other', 'started', '1 year');
});
{
	my ($out, $err) = try_sql($node, 'hostile', q{SELECT table_name, action FROM privacy.purge(false, 'm.other')});
	is($node->safe_psql('hostile', 'SELECT count(*) FROM m.other'), '1',
		'an API call from her trigger inside a purge does not run: her purge fails');
	is($node->safe_psql('hostile', q{SELECT count(*) FROM privacy.audit_log
		 WHERE event IN ('domain.grant', 'domain.revoke') AND role = 'postgres' AND actor <> 'postgres'}),
		'0', 'no domain change was audited in the superuser\'s name from her trigger');
}

# ---------------------------------------------------------------------------
# 2. An ordinary login role
# ---------------------------------------------------------------------------
$node->safe_psql('hostile', 'CREATE ROLE regress_nobody LOGIN');
is($node->safe_psql('hostile', q{
	SELECT string_agg(p.oid::regprocedure::text, ', ')
	  FROM pg_proc p
	 WHERE p.pronamespace = 'privacy_internal'::regnamespace
	   AND (p.prosecdef OR 'pg_privacy.definer=api' = ANY (p.proconfig))
	   AND has_function_privilege('regress_nobody', p.oid, 'EXECUTE')}),
	'', 'no SECURITY DEFINER function or entry point is executable by a role without grants');
is($node->safe_psql('hostile', q{
	SELECT string_agg(p.oid::regprocedure::text, ', ')
	  FROM pg_proc p
	 WHERE p.pronamespace = 'privacy_internal'::regnamespace AND p.proname LIKE '\_%'
	   AND p.provolatile = 'v' AND p.prorettype <> 'trigger'::regtype
	   AND has_function_privilege('regress_nobody', p.oid, 'EXECUTE')}),
	'', 'no volatile internal helper is executable by a role without grants');
for my $call (
	q{SELECT privacy.pseudonymize('+4520556677')},
	q{SELECT privacy.pseudonymize_msisdn('+4520556677')},
	q{SELECT privacy.pseudonymize_email('a@example.dk')},
	q{SELECT privacy.reidentify_msisdn('+4520556677')},
	q{SELECT privacy_internal._msisdn_decrypt('+4520556677', 'default')},
	q{SELECT privacy_internal._audit_ref('msisdn', '+4520556677')},
	q{SELECT privacy_internal._subject_ref('msisdn', '+4520556677')},
	q{SELECT privacy_internal._retention_fpe_norm('+4520556677', 'default')},
	q{SELECT privacy_internal._restriction_refs('msisdn', '+4520556677')},
	q{SELECT privacy_internal._audit('forged', 'x', '{}')},
	q{SELECT privacy_internal._consent_subject('msisdn', '+4520556677', 'regress_adv_mkt')},
	q{SELECT privacy.has_consent('msisdn', '+4520556677', 'regress_adv_mkt')},
	q{SELECT privacy.grant_domain('default', 'regress_nobody')},
	q{SELECT privacy.accept_key_change(privacy.key_fingerprint())},
	q{SELECT privacy.key_fingerprint()},
	q{INSERT INTO privacy.audit_log (id) VALUES (1)},
	q{UPDATE privacy.key_state SET fingerprint = fingerprint},
	q{SELECT * FROM privacy.legal_hold},
	q{CALL privacy.run_purge()},
	q{SELECT * FROM privacy.purge(true)},
	q{SELECT privacy.erase_subject('msisdn', '+4520556677')},
	q{SELECT privacy.export_subject('msisdn', '+4520556677')})
{
	my ($out, $err) = try_sql($node, 'hostile', $call, '-U', 'regress_nobody');
	like($err, qr/ERROR:\s+42501/, "a role without grants is refused: $call");
}
# A superuser's session SET ROLE to the owner acts with the owner's rights.
{
	$node->safe_psql('hostile', q{
		CREATE TABLE public.dba (id int, msisdn text);
		SELECT privacy.register_table('public.dba', 'regress_adv');
		SELECT privacy.register_column('public.dba', 'msisdn', 'phone', 'msisdn', protect => 'msisdn_fpe');
		SELECT privacy.protect('public.dba');
		GRANT EXECUTE ON FUNCTION privacy.unprotect(regclass) TO regress_mallory;});
	my ($out, $err) = try_sql($node, 'hostile',
		q{SET ROLE regress_mallory; SELECT privacy.unprotect('public.dba')});
	like($err, qr/ERROR:\s+42501/, 'SET ROLE to the owner in a superuser\'s session: no superuser\'s rights for the API');
	is($node->safe_psql('hostile', q{SELECT protected FROM privacy.protected_tables WHERE table_name = 'public.dba'::regclass}),
		't', 'the DBA\'s table stays protected');
}
# A protect trigger of her own, attached by hand to a table of a role with
# no domain grant, makes no pseudonym.
$node->safe_psql('hostile', q{
CREATE SCHEMA n AUTHORIZATION regress_nobody;
GRANT EXECUTE ON FUNCTION privacy.register_table(regclass, text),
  privacy.register_column(regclass, name, text, text, text, text, text) TO regress_nobody;
});
{
	my ($out, $err) = try_sql($node, 'hostile', q{
		CREATE TABLE n.t (msisdn text);
		SELECT privacy.register_table('n.t', 'regress_adv');
		SELECT privacy.register_column('n.t', 'msisdn', 'phone', 'msisdn', protect => 'msisdn_fpe');
		CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON n.t
		  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger();
		INSERT INTO n.t VALUES ('+4520556677');
		SELECT msisdn FROM n.t;}, '-U', 'regress_nobody');
	like($err, qr/ERROR/, 'a hand-made protect trigger without a domain grant is refused');
	unlike($out, qr/^\+45(?!20556677)\d{8}$/m, 'and yields no pseudonym');
}

# ---------------------------------------------------------------------------
# 3. Exactly once
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE once');
$node->safe_psql('once', q{
CREATE EXTENSION pg_privacy;
CREATE ROLE regress_app LOGIN;
CREATE SCHEMA o AUTHORIZATION regress_app;
GRANT EXECUTE ON FUNCTION privacy.register_table(regclass, text),
  privacy.register_column(regclass, name, text, text, text, text, text),
  privacy.protect(regclass, boolean) TO regress_app;
SELECT privacy.define_purpose('regress_once', 'contract');
SELECT privacy.grant_domain('default', 'regress_app');
SET ROLE regress_app;
-- a protected history table, written by ordinary triggers of the others
CREATE TABLE o.hist (id int, msisdn text);
SELECT privacy.register_table('o.hist', 'regress_once');
SELECT privacy.register_column('o.hist', 'msisdn', 'phone', 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('o.hist');
CREATE FUNCTION o.keep_old() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO o.hist VALUES (OLD.id, '+4520000099'); RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END; END $$;
CREATE TABLE o.sub (id int PRIMARY KEY, msisdn text);
SELECT privacy.register_table('o.sub', 'regress_once');
SELECT privacy.register_column('o.sub', 'msisdn', 'phone', 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('o.sub');
CREATE TABLE o.cdr (id int, msisdn text, p int, PRIMARY KEY (id, p)) PARTITION BY LIST (p);
CREATE TABLE o.cdr1 PARTITION OF o.cdr FOR VALUES IN (1);
CREATE TABLE o.cdr2 PARTITION OF o.cdr FOR VALUES IN (2);
SELECT privacy.register_table('o.cdr', 'regress_once');
SELECT privacy.register_column('o.cdr', 'msisdn', 'phone', 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('o.cdr');
-- plain paths first: multi-row VALUES, INSERT ... SELECT, COPY, upsert, move
INSERT INTO o.sub VALUES (1, '+4520556601'), (2, '20 55 66 02');
INSERT INTO o.sub SELECT 3, '+45 2055 6603';
INSERT INTO o.sub VALUES (1, '+4520556611') ON CONFLICT (id) DO UPDATE SET msisdn = EXCLUDED.msisdn;
INSERT INTO o.cdr VALUES (1, '+4520556677', 1), (2, '+4520556678', 1);
UPDATE o.cdr SET p = 2 WHERE id = 1;
});
{
	my ($out, $err) = ('', '');
	$node->psql('once', "SET ROLE regress_app;\nCOPY o.sub FROM STDIN;\n4\t004520556604\n\\.\n",
		stdout => \$out, stderr => \$err);
	is($err, '', 'COPY into a protected table');
}
is($node->safe_psql('once', q{SELECT string_agg(id || '=' || privacy.reidentify_msisdn(msisdn), ',' ORDER BY id) FROM o.sub}),
	'1=+4520556611,2=+4520556602,3=+4520556603,4=+4520556604',
	'VALUES, INSERT ... SELECT, COPY and upsert store each value once, normalized');
is($node->safe_psql('once', q{SELECT string_agg(id || '=' || privacy.reidentify_msisdn(msisdn), ',' ORDER BY id) FROM o.cdr}),
	'1=+4520556677,2=+4520556678', 'a partition move stores the value once');

$node->safe_psql('once', q{
SET ROLE regress_app;
CREATE TRIGGER a_keep BEFORE UPDATE ON o.sub FOR EACH ROW EXECUTE FUNCTION o.keep_old();
CREATE TRIGGER a_keep BEFORE DELETE ON o.cdr FOR EACH ROW EXECUTE FUNCTION o.keep_old();
});
{
	my ($out, $err) = try_sql($node, 'once', q{SET ROLE regress_app;
		INSERT INTO o.sub VALUES (2, '+4520556622') ON CONFLICT (id) DO UPDATE SET msisdn = EXCLUDED.msisdn});
	($out, $err) = try_sql($node, 'once', q{SET ROLE regress_app; UPDATE o.cdr SET p = 1 WHERE id = 1});
	# (a protect firing in a nested statement between the two firings of an
	# upsert or a move used to defeat the exactly-once memo)
	like($node->safe_psql('once', q{SELECT id || '=' || coalesce(privacy.reidentify_msisdn(msisdn), 'null') FROM o.sub WHERE id = 2}),
		qr/^2=\+4520556622$/,
		'upsert with a history trigger writing a protected table: transformed once (or refused)');
	like($node->safe_psql('once', q{SELECT id || '=' || coalesce(privacy.reidentify_msisdn(msisdn), 'null') FROM o.cdr WHERE id = 1}),
		qr/^1=\+4520556677$/,
		'partition move with a BEFORE DELETE trigger writing a protected table: transformed once (or refused)');
	# the same one level down, in a function, and for several rows at once
	($out, $err) = try_sql($node, 'once', q{SET ROLE regress_app;
		DO $$ BEGIN
		  INSERT INTO o.sub VALUES (2, '+4520556632'), (3, '+4520556633'), (7, '+4520556637')
		    ON CONFLICT (id) DO UPDATE SET msisdn = EXCLUDED.msisdn;
		  UPDATE o.cdr SET p = 2 WHERE id IN (1, 2);
		END $$});
	is($err, '', 'multi-row upsert and moves inside a function');
	is($node->safe_psql('once', q{SELECT string_agg(id || '=' || privacy.reidentify_msisdn(msisdn), ',' ORDER BY id) FROM o.sub WHERE id IN (2, 3, 7)}),
		'2=+4520556632,3=+4520556633,7=+4520556637', 'a multi-row upsert in a function stores each value once');
	is($node->safe_psql('once', q{SELECT string_agg(id || '=' || privacy.reidentify_msisdn(msisdn) || '@' || p, ',' ORDER BY id) FROM o.cdr}),
		'1=+4520556677@2,2=+4520556678@2', 'moves in a function store each value once');
	is($node->safe_psql('once', q{SELECT count(*) FROM o.hist WHERE privacy.reidentify_msisdn(msisdn) = '+4520000099'}),
		$node->safe_psql('once', 'SELECT count(*) FROM o.hist'), 'the history rows written in between are protected once too');
}
{
	# MERGE inserting and updating in one statement, with the history
	# trigger; COPY routed into partitions
	my ($out, $err) = try_sql($node, 'once', q{SET ROLE regress_app;
		MERGE INTO o.sub t
		USING (VALUES (1, '+4520556641'), (8, '+4520556648')) s(id, msisdn) ON t.id = s.id
		WHEN MATCHED THEN UPDATE SET msisdn = s.msisdn
		WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.msisdn)});
	is($err, '', 'MERGE into a protected table');
	is($node->safe_psql('once', q{SELECT string_agg(id || '=' || privacy.reidentify_msisdn(msisdn), ',' ORDER BY id) FROM o.sub WHERE id IN (1, 8)}),
		'1=+4520556641,8=+4520556648', 'MERGE stores each value once');
	$node->psql('once', "SET ROLE regress_app;\nCOPY o.cdr FROM STDIN;\n5\t20556655\t1\n6\t+4520556656\t2\n\\.\n",
		stdout => \$out, stderr => \$err);
	is($err, '', 'COPY routed into partitions');
	is($node->safe_psql('once', q{SELECT string_agg(id || '=' || privacy.reidentify_msisdn(msisdn), ',' ORDER BY id) FROM o.cdr WHERE id IN (5, 6)}),
		'5=+4520556655,6=+4520556656', 'COPY into partitions stores each value once, normalized');
}
{
	# a table holding raw numbers attached as a partition of a protected
	# table: refused for its owner; a superuser may (a partition detached
	# from the table), warned and logged
	my ($out, $err) = try_sql($node, 'once', q{SET ROLE regress_app;
		CREATE TABLE o.cdr3 (id int NOT NULL, msisdn text, p int NOT NULL);
		INSERT INTO o.cdr3 VALUES (9, '+4520556677', 3);
		ALTER TABLE o.cdr ATTACH PARTITION o.cdr3 FOR VALUES IN (3);});
	like($err, qr/ERROR:\s+55000: cannot attach partition o\.cdr3 with rows to a protected table/,
		'attaching a partition of raw rows to a protected table is refused');
	is($node->safe_psql('once', q{SELECT count(*) FROM o.cdr WHERE p = 3}), '0', 'no raw row joined the table');
	($out, $err) = try_sql($node, 'once', q{SET ROLE regress_app;
		CREATE TABLE o.cdr4 (id int NOT NULL, msisdn text, p int NOT NULL);
		ALTER TABLE o.cdr ATTACH PARTITION o.cdr4 FOR VALUES IN (4);
		INSERT INTO o.cdr VALUES (10, '+4520556610', 4);});
	is($err, '', 'an empty partition is attached and written through the protect trigger');
	is($node->safe_psql('once', q{SELECT privacy.reidentify_msisdn(msisdn) FROM o.cdr WHERE id = 10}),
		'+4520556610', 'its rows are protected once');
	($out, $err) = try_sql($node, 'once', q{ALTER TABLE o.cdr DETACH PARTITION o.cdr4;
		ALTER TABLE o.cdr ATTACH PARTITION o.cdr4 FOR VALUES IN (4);});
	like($err, qr/WARNING:.*partition o\.cdr4 attached to a protected table holds rows/,
		'a superuser reattaching a detached partition is warned');
	is($node->safe_psql('once', q{SELECT privacy.reidentify_msisdn(msisdn) FROM o.cdr WHERE id = 10}),
		'+4520556610', 'the reattached rows are as they were');
}
{
	# children by inheritance get no protect trigger: a protected table with
	# one is not protected (reported, purge and erasure refuse it), and the
	# owner cannot make an existing table of raw rows one
	my ($out, $err) = try_sql($node, 'once', q{SET ROLE regress_app;
		CREATE TABLE o.raw2 (id int NOT NULL, msisdn text);
		INSERT INTO o.raw2 VALUES (11, '+4520556611');
		ALTER TABLE o.raw2 INHERIT o.sub;});
	like($err, qr/ERROR:\s+55000: cannot switch off the protection of table o\.sub/,
		'ALTER TABLE ... INHERIT a protected table is refused');
	($out, $err) = try_sql($node, 'once', q{SET ROLE regress_app;
		CREATE TABLE o.kid () INHERITS (o.sub);});
	like($err, qr/ERROR:\s+55000: cannot switch off the protection of table o\.sub/,
		'CREATE TABLE ... INHERITS a protected table is refused');
	# a superuser acting directly may, warned, and it is reported
	($out, $err) = try_sql($node, 'once', q{CREATE TABLE o.kid () INHERITS (o.sub);
		INSERT INTO o.kid VALUES (12, '+4520556612');});
	like($err, qr/WARNING:.*protection of table o\.sub is not in force/,
		'a superuser creating a child by inheritance is warned');
	is($node->safe_psql('once', q{SELECT problem FROM privacy.catalog_problems WHERE table_name = 'o.sub'::regclass}),
		'protection is not in force: table o.kid inherits from o.sub: rows written to it are not protected',
		'a child by inheritance of a protected table is reported');
	is($node->safe_psql('once', q{SELECT protected FROM privacy.protected_tables WHERE table_name = 'o.sub'::regclass}),
		'f', 'and the table is not reported protected');
	$node->safe_psql('once', 'DROP TABLE o.kid, o.raw2');
	is($node->safe_psql('once', q{SELECT protected FROM privacy.protected_tables WHERE table_name = 'o.sub'::regclass}),
		't', 'without the child the protection is in force again');
}

# ---------------------------------------------------------------------------
# 4. Odd input to every function: never a crash
# ---------------------------------------------------------------------------
{
	my ($out, $err) = try_sql($node, 'once', q{
BEGIN;
SET LOCAL statement_timeout = '120s';
CREATE TEMP TABLE odd_calls (fn text, outcome text);
DO $d$
DECLARE r record; i int; a text; args text[]; variant int; t text;
BEGIN
  FOR r IN SELECT p.oid, p.oid::regprocedure::text AS sig, p.pronargs, p.proargtypes
             FROM pg_proc p
            WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace) AND p.prokind = 'f' AND p.pronargs > 0
              AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
            ORDER BY 2 LOOP
    FOR variant IN 0..4 LOOP
      args := '{}';
      FOR i IN 0 .. r.pronargs - 1 LOOP
        t := format_type(r.proargtypes[i], NULL);
        a := CASE variant
          WHEN 0 THEN 'NULL'
          WHEN 1 THEN CASE WHEN t LIKE '%[]' THEN 'ARRAY[NULL]' WHEN t IN ('text', 'name') THEN '''''' ELSE 'NULL' END
          WHEN 2 THEN CASE WHEN t LIKE '%[]' THEN '''{}''' WHEN t IN ('text', 'name') THEN 'repeat(''9'', 1000000)'
                           WHEN t = 'integer' THEN '-2147483648' WHEN t = 'bigint' THEN '-1' ELSE 'NULL' END
          WHEN 3 THEN CASE WHEN t LIKE '%[]' THEN 'ARRAY[NULL, NULL]' WHEN t IN ('text', 'name') THEN '''+'' || repeat(''1'', 40)'
                           WHEN t = 'integer' THEN '2147483647' WHEN t = 'regclass' THEN '''pg_class'''
                           WHEN t = 'jsonb' THEN '''{"a": null}''' WHEN t = 'bytea' THEN '''\x''' ELSE 'NULL' END
          ELSE CASE WHEN t LIKE '%[]' THEN 'ARRAY['''']' WHEN t IN ('text', 'name') THEN '''é +45 x@'''
                    WHEN t = 'jsonb' THEN '''[]''' WHEN t = 'integer' THEN '0' ELSE 'NULL' END
        END;
        args := args || (a || '::' || t);
      END LOOP;
      BEGIN
        EXECUTE format('SELECT count(*) FROM (SELECT %s(%s)) s', r.oid::regproc, array_to_string(args, ', '));
        INSERT INTO odd_calls VALUES (r.sig, 'ok');
      EXCEPTION WHEN OTHERS THEN
        INSERT INTO odd_calls VALUES (r.sig, 'error ' || SQLSTATE);
      END;
    END LOOP;
  END LOOP;
END $d$;
SELECT count(*) > 500, count(*) FILTER (WHERE outcome LIKE 'error XX%') FROM odd_calls;
ROLLBACK;});
	is($out, 't|0', 'odd input to every function: errors or results, no internal error') or diag($err);
	is($node->safe_psql('once', 'SELECT 1'), '1', 'the server survived the odd input');
}

# Odd values written to protected columns: refused, the statement with
# the value kept out of the server log, the server up.
{
	my $log_offset = -s $node->logfile;
	for my $v (q{''}, q{'+'}, q{repeat('9', 1000000)}, q{'٢٠٥٥٦٦٧٧'}, q{'+45 2055 667７'})
	{
		my ($out, $err) = try_sql($node, 'once', "SET ROLE regress_app; INSERT INTO o.sub VALUES (99, $v)");
		like($err, qr/ERROR:\s+22/, "an odd value written to a protected column is refused: " . substr($v, 0, 30));
	}
	my ($out, $err) = try_sql($node, 'once', q{SET ROLE regress_app; INSERT INTO o.sub VALUES (98, 'oddity-4520556677')});
	like($err, qr/ERROR/, 'a marked odd value is refused');
	my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile, $log_offset);
	unlike($log, qr/oddity-4520556677|٢٠٥٥٦٦٧٧/, 'no odd value reached the server log');
	is($node->safe_psql('once', 'SELECT count(*) FROM o.sub WHERE id IN (98, 99)'), '0', 'and none was stored');
}

# ---------------------------------------------------------------------------
# 5. Restore onto a server with another key
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE ROLE regress_owner LOGIN; CREATE DATABASE src OWNER regress_owner');
$node->safe_psql('src', q{
CREATE EXTENSION pg_privacy;
GRANT EXECUTE ON FUNCTION privacy.register_table(regclass, text),
  privacy.register_column(regclass, name, text, text, text, text, text),
  privacy.protect(regclass, boolean),
  privacy.set_subject_table(regclass, name, name, name, name, name[], text) TO regress_owner;
SELECT privacy.define_purpose('traffic', 'legal_obligation');
SELECT privacy.define_purpose('marketing', 'consent');
SELECT privacy.grant_domain('default', 'regress_owner');
SET ROLE regress_owner;
CREATE SCHEMA telco;
CREATE TABLE telco.cdr (id int, a_number text, started timestamptz NOT NULL) PARTITION BY RANGE (started);
CREATE TABLE telco.cdr_old PARTITION OF telco.cdr FOR VALUES FROM ('2020-01-01') TO ('2020-02-01');
CREATE TABLE telco.cdr_old2 PARTITION OF telco.cdr FOR VALUES FROM ('2020-02-01') TO ('2020-03-01');
CREATE TABLE telco.cdr_new PARTITION OF telco.cdr FOR VALUES FROM ('2020-03-01') TO ('2100-01-01');
SELECT privacy.register_table('telco.cdr', 'traffic');
SELECT privacy.register_column('telco.cdr', 'a_number', 'phone', 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('telco.cdr');
SELECT privacy.set_subject_table('telco.cdr', event_time => 'started');
INSERT INTO telco.cdr VALUES (1, '+4520123456', '2020-01-10'), (2, '+4520123457', '2020-01-11'),
                             (3, '+4520123456', now()), (4, '+4520123400', '2020-02-10');
RESET ROLE;
SELECT privacy.set_retention('telco.cdr', 'started', '1 year');
SELECT privacy.hold('msisdn', '+4520123456', 'litigation');
SELECT privacy.grant_consent('msisdn', '+4520123457', 'marketing');
});
my $fp_a = $node->safe_psql('src', 'SELECT fingerprint FROM privacy.key_state');
like($fp_a, qr/^pgp1:[0-9a-f]{16}$/, 'the source database recorded its key');
my $pseudo_a = $node->safe_psql('src', q{SELECT a_number FROM telco.cdr WHERE id = 1});
my $dump = "$dir/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump of the source');

# Under its own key the source purges: the held partition stays, the
# expired one without a held number goes.
$node->safe_psql('src', 'CALL privacy.run_purge()');
is($node->safe_psql('src', q{SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'telco.cdr'::regclass}),
	'cdr_new,cdr_old', 'under its key, run_purge keeps the held partition and drops the other expired one');

my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init;
$restored->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$dir/b.key'
log_statement = none
});
$restored->start;
$restored->safe_psql('postgres', 'CREATE ROLE regress_owner LOGIN; CREATE DATABASE dst OWNER regress_owner');
$restored->command_ok([ 'pg_restore', '--exit-on-error', '-d', $restored->connstr('dst'), $dump ],
	'full pg_restore onto a server with another key file');
my $fp_b = $restored->safe_psql('dst', 'SELECT privacy.key_fingerprint()');
isnt($fp_b, $fp_a, 'the new server has another key');
is($restored->safe_psql('dst', 'SELECT fingerprint FROM privacy.key_state'), $fp_a,
	'the restored database remembers the key of its data, not the loaded one');

my %keyed = (
	'pseudonymize' => q{SELECT privacy.pseudonymize('+4520123456')},
	'pseudonymize_msisdn' => q{SELECT privacy.pseudonymize_msisdn('+4520123456')},
	'reidentify_msisdn' => q{SELECT privacy.reidentify_msisdn(a_number) FROM telco.cdr WHERE id = 1},
	'protected insert' => q{INSERT INTO telco.cdr VALUES (4, '+4520123458', now())},
	'grant_consent' => q{SELECT privacy.grant_consent('msisdn', '+4520123459', 'marketing')},
	'erase_subject' => q{SELECT * FROM privacy.erase_subject('msisdn', '+4520123457')},
	'export_subject' => q{SELECT privacy.export_subject('msisdn', '+4520123456')},
	'hold' => q{SELECT privacy.hold('msisdn', '+4520123457', 'another')},
);
for my $what (sort keys %keyed)
{
	my ($out, $err) = try_sql($restored, 'dst', $keyed{$what});
	like($err, qr/ERROR:\s+55000: pg_privacy master key does not match this database/,
		"under another key, $what fails closed with 55000");
	like($err, qr/\Q$fp_a\E.*\Q$fp_b\E/s, "  ... naming both fingerprints ($what)") if $err =~ /55000/;
}
{
	my ($out, $err) = try_sql($restored, 'dst', q{SELECT table_name, action, rows, partitions FROM privacy.purge(false, 'telco.cdr')});
	like($err, qr/ERROR:\s+55000: pg_privacy master key does not match/, 'under another key, purge fails closed with 55000');
	($out, $err) = try_sql($restored, 'dst', q{CALL privacy.run_purge()});
	like($err, qr/ERROR:\s+55000: pg_privacy master key does not match/, 'under another key, run_purge fails closed with 55000');
	is($restored->safe_psql('dst', q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'telco.cdr'::regclass}), '3',
		'under another key, purge and run_purge drop no partition, held or not');
	is($restored->safe_psql('dst', 'SELECT count(*) FROM telco.cdr'), '4', 'and delete no row');
}
# Consent is not keyed: under another key has_consent gives the right answer.
is($restored->safe_psql('dst', q{SELECT privacy.has_consent('msisdn', '+4520123457', 'marketing')}
		. q{::text || privacy.has_consent('msisdn', '+4520123456', 'marketing')::text}),
	'truefalse', 'under another key, has_consent answers from the restored consent, not wrongly');
is($restored->safe_psql('dst', 'SELECT count(*) FROM privacy.consent_state'),
	$node->safe_psql('src', 'SELECT count(*) FROM privacy.consent_state'), 'no consent was changed under the wrong key');
{
	my ($out, $err) = try_sql($restored, 'dst', q{SELECT privacy.accept_key_change('pgp1:0123456789abcdef')});
	like($err, qr/ERROR:\s+22023/, 'accept_key_change refuses a fingerprint that is not the database\'s');
	($out, $err) = try_sql($restored, 'dst', qq{SELECT privacy.accept_key_change('$fp_a')}, '-U', 'regress_owner');
	like($err, qr/ERROR:\s+42501/, 'accept_key_change is the DBA\'s');
}
{
	# A legal hold covers the protected a_number: under the new key its
	# rows would no longer be recognized, so the change is refused ...
	my ($out, $err) = try_sql($restored, 'dst', qq{SELECT privacy.accept_key_change('$fp_a')});
	like($err, qr/ERROR:\s+55000: cannot accept a new key while legal holds cover protected columns/,
		'accept_key_change refuses while a legal hold covers protected columns');
	like($err, qr/holds => 'release'/, '  ... and names the explicit way out');
	is($restored->safe_psql('dst', 'SELECT fingerprint FROM privacy.key_state'), $fp_a,
		'the refused change changed nothing');
	($out, $err) = try_sql($restored, 'dst', qq{SELECT privacy.accept_key_change('$fp_a', holds => 'maybe')});
	like($err, qr/ERROR:\s+22023: invalid holds option/, 'accept_key_change refuses an unknown holds option');
}
# ... unless the DBA releases the holds with the change, explicitly.
is($restored->safe_psql('dst', qq{SELECT privacy.accept_key_change('$fp_a', holds => 'release')}), $fp_b,
	'accept_key_change(old fingerprint, holds => release) declares the new key');
is($restored->safe_psql('dst', q{SELECT count(*) FROM privacy.audit_log WHERE event = 'key.change'}), '1',
	'the key change is audited');
is($restored->safe_psql('dst', q{SELECT detail->>'holds_released' FROM privacy.audit_log WHERE event = 'key.change'}), '1',
	'the key change records the holds it released');
is($restored->safe_psql('dst', q{SELECT count(*) FROM privacy.legal_hold WHERE released_at IS NULL}), '0',
	'no hold is silently left unmatched');
is($restored->safe_psql('dst', q{SELECT privacy.pseudonymize_msisdn('+4520123456') <> } . "'$pseudo_a'"), 't',
	'keyed work proceeds under the declared key (existing pseudonyms are not converted)');
{
	my ($out, $err) = try_sql($restored, 'dst', q{CALL privacy.run_purge()});
	unlike($err, qr/55000/, 'run_purge proceeds after the key change');
	is($restored->safe_psql('dst', q{SELECT count(*) FROM pg_class WHERE oid = to_regclass('telco.cdr_old2')}), '0',
		'after the key change the expired partition without a hold is dropped');
	# (the CDRs are pending under the replaced key: reidentify_msisdn refuses)
	my ($o, $e) = try_sql($restored, 'dst', q{SELECT privacy.reidentify_msisdn(a_number) FROM telco.cdr WHERE id = 3});
	ok($o eq '+4520123456' || $e =~ /ERROR/,
		'after the key change a row written under the old key re-identifies right or fails, never to another number');
}
# With the replaced key listed after the new one, rekey converts the CDRs'
# numbers: the row then re-identifies right under the new key.
$restored->safe_psql('postgres', qq{ALTER SYSTEM SET pg_privacy.key_file = '$dir/b.key, $dir/a.key'});
$restored->reload;
$restored->poll_query_until('dst', q{SELECT current_setting('pg_privacy.key_file') LIKE '%a.key'})
  or die 'the key setting was not reloaded';
$restored->safe_psql('dst', 'CALL privacy.rekey()');
is($restored->safe_psql('dst', q{SELECT privacy.reidentify_msisdn(a_number) FROM telco.cdr WHERE id = 3}), '+4520123456',
	'after rekey a row written under the replaced key re-identifies right under the new key');
is($restored->safe_psql('dst', 'SELECT count(*) FROM privacy.rekey_pending'), '0', '(nothing left under the replaced key)');

# ---------------------------------------------------------------------------
# 6. A key file swapped under an open session, then reloaded
# ---------------------------------------------------------------------------
{
	my $bg = $node->background_psql('src', on_error_stop => 0);
	my $p1 = $bg->query(q{SELECT privacy.pseudonymize('+4520123456')});
	like($p1, qr/^[A-Za-z0-9_-]{22}$/, 'the open session pseudonymizes under its key');
	# another key under the same file name
	write_key("$dir/live.key", $hex_b);
	$node->reload;
	# the session is idle: it takes the reload before its next statement
	my $ok = 0;
	for (1 .. 50)
	{
		$bg->{stderr} = '';
		my $p2 = $bg->query(q{SELECT privacy.pseudonymize('+4520123456')});
		if ($bg->{stderr} =~ /55000|does not match/) { $ok = 1; last; }
		last if $p2 ne '' && $p2 ne $p1;	# silently another pseudonym: a failure
		select(undef, undef, undef, 0.1);
	}
	ok($ok, 'after the key file is swapped and reloaded, the open session\'s keyed call fails closed');
	$bg->{stderr} = '';
	$bg->query(q{SELECT privacy.reidentify_msisdn(a_number) FROM telco.cdr WHERE id = 1});
	like($bg->{stderr}, qr/55000|does not match/, 'and so does its re-identification');
	$bg->{stderr} = '';
	$bg->query(q{INSERT INTO telco.cdr VALUES (5, '+4520123450', now())});
	like($bg->{stderr}, qr/55000|does not match/, 'and its protected write');

	# a key file at another path, reloaded: the same
	write_key("$dir/live.key", $hex_a);
	$node->append_conf('postgresql.conf', qq{pg_privacy.key_file = '$dir/b.key'\n});
	$node->reload;
	$ok = 0;
	for (1 .. 50)
	{
		$bg->{stderr} = '';
		$bg->query(q{SELECT privacy.pseudonymize('+4520123456')});
		if ($bg->{stderr} =~ /55000|does not match/) { $ok = 1; last; }
		select(undef, undef, undef, 0.1);
	}
	ok($ok, 'after key_file is pointed at another key and reloaded, the open session fails closed');
	# back to the right key: the same session works again
	$node->append_conf('postgresql.conf', qq{pg_privacy.key_file = '$dir/live.key'\n});
	$node->reload;
	my $p3 = '';
	for (1 .. 50)
	{
		$bg->{stderr} = '';
		$p3 = $bg->query(q{SELECT privacy.pseudonymize('+4520123456')});
		last if $bg->{stderr} eq '' && $p3 ne '';
		select(undef, undef, undef, 0.1);
	}
	is($p3, $p1, 'with the right key back, the session pseudonymizes as before');
	$bg->quit;
}

$node->stop;
$restored->stop;
done_testing();
