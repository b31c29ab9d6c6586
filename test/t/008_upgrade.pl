# ALTER EXTENSION pg_privacy UPDATE to 0.19.0, from 0.1.0, 0.2.0, 0.3.0, 0.4.0, 0.5.0, 0.6.0, 0.7.0, 0.8.0, 0.9.0, 0.10.0, 0.11.0, 0.12.0, 0.13.0, 0.14.0, 0.15.0, 0.16.0, 0.17.0 and 0.18.0
# (the steps chained by PostgreSQL): a database made at the old version
# (under the 0.19.0 library, as after a package upgrade) and filled with
# the telephony data set ends up with exactly the objects, ACLs and
# behaviour of a fresh 0.19.0 install, with its data, catalog, consent
# register, holds and audit chain intact.  The helpers that moved from
# privacy to privacy_internal in 0.3.0 keep their OIDs: the protect,
# consent and restriction triggers of user tables and the extracts'
# views go on using them.  The 0.1.0 audit entries (plain
# SHA-256) verify as the chain's legacy prefix only: never on a fresh
# install, never after a keyed entry.
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

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_privacy'
pg_privacy.key_file = '$keyfile'
});
$node->start;

# --- a database made at 0.1.0 --------------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', q{CREATE EXTENSION pg_privacy VERSION '0.1.0'});
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_privacy'}),
	'0.1.0', 'CREATE EXTENSION pg_privacy VERSION 0.1.0 works with the 0.19.0 library');

for my $f ("$src/test/data/telephony.sql", "$src/test/data/register.sql", "$src/test/data/register_subject.sql")
{
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('old'), '-f', $f ],
		"load $f at 0.1.0");
}
$node->safe_psql('old', 'SELECT telco.generate(42, 1)');
$node->safe_psql('old', q{
SELECT privacy.grant_consent('email', 'ann@example.dk', 'newsletter', source => 'web');
SELECT privacy.grant_consent('msisdn', '+4520123456', 'newsletter', source => 'call');
SELECT privacy.withdraw_consent('msisdn', '+4520123456', 'newsletter', source => 'call');
SELECT privacy.hold('msisdn', '+4530123456', 'litigation');
SELECT privacy.define_purpose('regress_upgrade', 'contract');
CREATE SCHEMA bi;
SELECT privacy.create_pseudonymized_extract('bi.cdr_extract', 'telco.cdr', 'analytics', 'hour');
CREATE TABLE public.mailing (email text NOT NULL);
SELECT privacy.register_table('public.mailing', 'newsletter');
SELECT privacy.register_column('public.mailing', 'email', 'email', identifies => 'email');
SELECT privacy.require_consent('public.mailing', 'email', 'newsletter');
});

# A C function whose arguments changed in 0.2.0 refuses under its 0.1.0
# declaration instead of reading arguments that were never passed.
my ($ret, $out, $err) = $node->psql('old', q{\set VERBOSITY verbose
SELECT privacy._subject_query('SELECT 1', '{}')});
like($err, qr/0A000: function privacy._subject_query removed in 0.2.0; run ALTER EXTENSION pg_privacy UPDATE/,
	'a changed C function refuses under its 0.1.0 declaration');

my %q = (
	data => q{SELECT md5(string_agg(concat_ws('|', cdr_id, a_number, b_number, country), ',' ORDER BY cdr_id))
	            FROM telco.cdr},
	catalog => q{SELECT string_agg(concat_ws('|', table_name, column_name, category, identifies, link, protect,
	                                         purpose, legal_basis), ',' ORDER BY table_name::text, column_name)
	               FROM privacy.personal_data},
	consent => q{SELECT string_agg(concat_ws('|', kind, value, purpose, granted, event_id, at), ','
	                               ORDER BY kind, value, purpose) FROM privacy.consent_state},
	events => q{SELECT count(*) || ':' || max(id) FROM privacy.consent_event},
	holds => q{SELECT string_agg(concat_ws('|', id, kind, value, reason, released_at), ',' ORDER BY id)
	             FROM privacy.legal_hold},
	# the entries 0.1.0 wrote (the update appends one after them)
	audit => q{SELECT md5(string_agg(concat_ws('|', id, at, actor, role, event, object, detail, prev_hash, hash), ','
	                                 ORDER BY id)) FROM privacy.audit_log
	            WHERE id <= (SELECT max(id) FROM privacy.audit_log WHERE event <> 'extension.update')},
	# a view published at 0.1.0
	extract => q{SELECT md5(string_agg(e::text, ',' ORDER BY e::text)) FROM bi.cdr_extract e},
	# calls found from the subscriptions through the keyed lookup
	lookup => q{SELECT count(*) FROM telco.subscription s
	              JOIN telco.cdr c ON c.a_number = privacy.pseudonymize_msisdn(s.msisdn)},
);
# The functions the triggers of user tables run (by OID), and the views
# that call pg_privacy's functions.
$q{triggers} = q{SELECT string_agg(concat_ws('|', t.tgrelid::regclass, t.tgname, t.tgfoid), ',' ORDER BY t.tgrelid::regclass::text, t.tgname)
                   FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                  WHERE NOT t.tgisinternal
                    AND c.relnamespace NOT IN ('privacy'::regnamespace, 'pg_catalog'::regnamespace)};
my %before = map { $_ => $node->safe_psql('old', $q{$_}) } keys %q;
my $legacy_entries = $node->safe_psql('old', 'SELECT count(*) FROM privacy.audit_log');
ok($legacy_entries > 40, "0.1.0 wrote $legacy_entries audit entries");
is($node->safe_psql('old', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'the 0.1.0 chain verifies at 0.1.0');

# --- the update -----------------------------------------------------------

$node->safe_psql('old', 'ALTER EXTENSION pg_privacy UPDATE');
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_privacy'}),
	'0.19.0', 'ALTER EXTENSION pg_privacy UPDATE goes from 0.1.0 to 0.19.0 (through 0.2.0, 0.3.0, 0.4.0, 0.5.0, 0.6.0, 0.7.0, 0.8.0, 0.9.0, 0.10.0, 0.11.0, 0.12.0, 0.13.0, 0.14.0, 0.15.0, 0.16.0, 0.17.0 and 0.18.0)');

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_privacy');

# --- the same objects as a fresh install -------------------------------------

# Objects of the extension, described without OIDs.
my $members = q{
  SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS obj, d.classid, d.objid
    FROM pg_catalog.pg_depend d
   WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
     AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pg_privacy')};
my %schema = (
	'extension members' => qq{SELECT string_agg(obj, E'\\n' ORDER BY obj) FROM ($members) m},
	'functions' => q{
	  SELECT string_agg(concat_ws(' | ', p.oid::regprocedure, pg_catalog.pg_get_function_result(p.oid),
	                              pg_catalog.pg_get_function_arguments(p.oid), p.prokind, l.lanname,
	                              p.prosecdef, p.proconfig, p.provolatile, p.proisstrict, p.proparallel,
	                              p.proleakproof, p.procost, p.prorows, p.proacl,
	                              CASE WHEN l.lanname = 'c' THEN p.prosrc ELSE md5(p.prosrc) END,
	                              pg_catalog.obj_description(p.oid, 'pg_proc')),
	                    E'\n' ORDER BY p.oid::regprocedure::text)
	    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
	   WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)},
	'relations' => q{
	  SELECT string_agg(concat_ws(' | ', c.oid::regclass, c.relkind, c.relacl, c.relrowsecurity, c.relforcerowsecurity,
	                              c.reloptions, c.relpersistence, pg_catalog.obj_description(c.oid, 'pg_class'),
	                              CASE WHEN c.relkind = 'v' THEN pg_catalog.pg_get_viewdef(c.oid) END),
	                    E'\n' ORDER BY c.oid::regclass::text)
	    FROM pg_catalog.pg_class c WHERE c.relnamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)},
	'columns' => q{
	  SELECT string_agg(concat_ws(' | ', c.oid::regclass, a.attnum, a.attname,
	                              pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attcollation,
	                              a.attidentity, a.attgenerated, a.attacl,
	                              pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)),
	                    E'\n' ORDER BY c.oid::regclass::text, a.attnum)
	    FROM pg_catalog.pg_class c
	    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	   WHERE c.relnamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)},
	'constraints and indexes' => q{
	  SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	    SELECT concat_ws(' | ', conrelid::regclass, conname, pg_catalog.pg_get_constraintdef(oid)) AS x
	      FROM pg_catalog.pg_constraint WHERE connamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)
	    UNION ALL
	    SELECT concat_ws(' | ', indexrelid::regclass, pg_catalog.pg_get_indexdef(indexrelid))
	      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
	     WHERE c.relnamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)) s},
	'triggers' => q{
	  SELECT string_agg(concat_ws(' | ', pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled), E'\n'
	                    ORDER BY t.tgrelid::regclass::text, t.tgname)
	    FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
	   WHERE c.relnamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace) AND NOT t.tgisinternal},
	'event triggers' => q{
	  SELECT string_agg(concat_ws(' | ', evtname, evtevent, evtfoid::regprocedure, evtenabled, evttags), E'\n'
	                    ORDER BY evtname)
	    FROM pg_catalog.pg_event_trigger},
	'types' => q{
	  SELECT string_agg(concat_ws(' | ', t.typnamespace::regnamespace, t.typname, t.typtype,
	                              (SELECT string_agg(a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod),
	                                                 ', ' ORDER BY a.attnum)
	                                 FROM pg_catalog.pg_attribute a
	                                WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)),
	                    E'\n' ORDER BY t.typnamespace::regnamespace::text, t.typname)
	    FROM pg_catalog.pg_type t
	   WHERE t.typnamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)},
	'schemas' => q{
	  SELECT string_agg(concat_ws(' | ', n.nspname, n.nspowner::regrole, n.nspacl,
	                              pg_catalog.obj_description(n.oid, 'pg_namespace')), E'\n' ORDER BY n.nspname)
	    FROM pg_catalog.pg_namespace n WHERE n.nspname IN ('privacy', 'privacy_internal')},
	'initial privileges' => qq{
	  SELECT string_agg(concat_ws(' | ', pg_catalog.pg_describe_object(i.classoid, i.objoid, i.objsubid),
	                              i.privtype, i.initprivs), E'\\n'
	                    ORDER BY pg_catalog.pg_describe_object(i.classoid, i.objoid, i.objsubid))
	    FROM pg_catalog.pg_init_privs i
	   WHERE (i.classoid, i.objoid) IN (SELECT classid, objid FROM ($members) m)},
	'dumped configuration' => q{
	  SELECT string_agg(c::regclass || ' ' || coalesce(w, ''), E'\n' ORDER BY c::regclass::text)
	    FROM pg_catalog.pg_extension e,
	         unnest(e.extconfig, e.extcondition) AS u(c, w)
	   WHERE e.extname = 'pg_privacy'},
);
sub same_as_fresh
{
	my ($db, $from) = @_;
	for my $what (sort keys %schema)
	{
		my $fresh = $node->safe_psql('fresh', $schema{$what});
		isnt($fresh, '', "fresh install: $what listed");
		is($node->safe_psql($db, $schema{$what}), $fresh,
			"database updated from $from: the same $what as a fresh install");
	}
}
same_as_fresh('old', '0.1.0');
is($node->safe_psql('fresh', q{SELECT count(*) FROM pg_proc WHERE pronamespace = 'privacy'::regnamespace AND proname LIKE '\_%'}),
	'0', 'fresh install: no internal helper in the API schema');

# --- the data, intact -------------------------------------------------------

for my $what (sort keys %q)
{
	is($node->safe_psql('old', $q{$what}), $before{$what}, "$what unchanged by the update");
}
is($node->safe_psql('old', q{SELECT string_agg(DISTINCT t.tgfoid::regprocedure::text, ',')
	FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	WHERE NOT t.tgisinternal AND c.relnamespace NOT IN ('privacy'::regnamespace, 'pg_catalog'::regnamespace)}),
	'privacy_internal._consent_trigger(),privacy_internal._protect_trigger()',
	'the triggers of user tables run the moved functions');
is($node->safe_psql('old', q{SELECT privacy.has_consent('email', 'ann@example.dk', 'newsletter')}
	. q{ || ' ' || privacy.has_consent('msisdn', '+4520123456', 'newsletter')}),
	'true false', 'consent state answers as before');

# --- behaviour ----------------------------------------------------------------

is($node->safe_psql('old', 'SELECT privacy.verify_audit_log() IS NULL'), 't',
	'the chain verifies after the update: 0.1.0 entries, then keyed ones');
is($node->safe_psql('old', q{SELECT count(*) FILTER (WHERE key_fingerprint IS NULL) || ' '
	|| (SELECT last_id FROM privacy.audit_legacy) FROM privacy.audit_log}),
	"$legacy_entries $legacy_entries", '0.1.0 entries are kept as they were, up to the recorded legacy head');
is($node->safe_psql('old', q{SELECT event || ' ' || (key_fingerprint = privacy.key_fingerprint())
	|| ' ' || (prev_hash = (SELECT last_hash FROM privacy.audit_legacy))
	FROM privacy.audit_log WHERE id = (SELECT last_id + 1 FROM privacy.audit_legacy)}),
	'extension.update true true', 'the update seals the legacy chain with a keyed entry');

is($node->safe_psql('old', q{SELECT fingerprint = privacy.key_fingerprint() FROM privacy.key_state}), 't',
	'the update records the fingerprint of the key the 0.1.0 data was made with');

# protect still works, with the pseudonyms of a fresh install
my $pseudonym = $node->safe_psql('fresh', q{SELECT privacy.pseudonymize_msisdn('+4520999888')});
is($node->safe_psql('old', q{INSERT INTO telco.cdr (a_number, b_number, started_at, duration_s, price, country, call_type)
	VALUES ('+4520999888', '+4530123456', (SELECT max(started_at) FROM telco.cdr), 10, 1, 'DK', 'voice')
	RETURNING a_number}), $pseudonym, 'the protect trigger stores the pseudonym a fresh install makes');
ok($before{lookup} > 1000, "pseudonyms stored at 0.1.0 are found by the keyed lookup ($before{lookup} calls)");
is($node->safe_psql('old', q{SELECT count(*) FROM privacy.catalog_problems}), '0', 'catalog_problems is empty');
is($node->safe_psql('old', q{SELECT string_agg(table_name || ' ' || protected, ',') FROM privacy.protected_tables}),
	'telco.cdr true', 'the protection of telco.cdr is in force');
ok($node->safe_psql('old', q{SELECT privacy.export_subject('email', 'ann@example.dk') IS NOT NULL}) eq 't',
	'export_subject works after the update');
# a consent requirement made at 0.1.0 is still enforced
$node->safe_psql('old', q{INSERT INTO public.mailing VALUES ('ann@example.dk'), ('Ann@Example.dk ')});
($ret, $out, $err) = $node->psql('old', q{INSERT INTO public.mailing VALUES ('bob@example.dk')});
ok($ret != 0 && $err =~ /no consent for purpose "newsletter"/, 'a consent requirement made at 0.1.0 still refuses a subject without consent');
is($node->safe_psql('old', 'SELECT count(*) FROM public.mailing'), '2', 'rows of consenting subjects are written');

# a view published at 0.1.0 can be taken back at 0.19.0
$node->safe_psql('old', q{SELECT privacy.unpublish('bi.cdr_extract')});
is($node->safe_psql('old', q{SELECT count(*) || ' ' || (to_regclass('bi.cdr_extract') IS NULL) FROM privacy.published}),
	'0 true', 'a view published at 0.1.0 is unpublished at 0.19.0');
$node->safe_psql('old', q{SELECT privacy.define_purpose('regress_upgrade_2', 'contract')});
is($node->safe_psql('old', 'SELECT privacy.verify_audit_log() IS NULL'), 't', 'new entries chain on');
if ($node->safe_psql('old', q{SELECT to_regprocedure('privacy.health()') IS NOT NULL}) eq 't')
{
	is($node->safe_psql('old', q{SELECT count(*) FROM privacy.health() WHERE area ~ 'catalog|protect' AND status = 'error'}),
		'0', 'health: no catalog or protection error');
}

# --- legacy entries: only as the prefix, never forged -----------------------

# The plain SHA-256 of 0.1.0, recomputed by whoever edits the table: the
# newest entry rewritten as a legacy entry, head row updated.
my $downgrade = q{
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE privacy.audit_log SET key_fingerprint = NULL, event = 'forged',
       hash = privacy_internal._audit_legacy_digest(prev_hash, id, at, actor, role, 'forged', object, detail)
 WHERE id = (SELECT max(id) FROM privacy.audit_log);
UPDATE privacy.audit_head SET last_hash = (SELECT hash FROM privacy.audit_log ORDER BY id DESC LIMIT 1);
SELECT privacy.verify_audit_log() = (SELECT max(id) FROM privacy.audit_log);
ROLLBACK;
};
is($node->safe_psql('old', $downgrade), 't',
	'updated database: a legacy-style entry after keyed ones does not verify');
$node->safe_psql('fresh', q{SELECT privacy.define_purpose('regress_upgrade', 'contract')});
is($node->safe_psql('fresh', $downgrade), 't',
	'fresh install: a legacy-style entry does not verify');
is($node->safe_psql('fresh', 'SELECT count(*) FROM privacy.audit_legacy'), '0',
	'a fresh install records no legacy head');
# a legacy entry changed (and its plain hash recomputed): the keyed entry
# after the legacy head no longer links
is($node->safe_psql('old', q{
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE privacy.audit_log SET event = 'forged',
       hash = privacy_internal._audit_legacy_digest(prev_hash, id, at, actor, role, 'forged', object, detail)
 WHERE id = (SELECT last_id FROM privacy.audit_legacy);
SELECT privacy.verify_audit_log() = (SELECT last_id FROM privacy.audit_legacy);
ROLLBACK;
}), 't', 'a rewritten legacy entry is found');
# the recorded legacy head removed: no entry may be legacy any more
is($node->safe_psql('old', q{
BEGIN;
DELETE FROM privacy.audit_legacy;
SELECT privacy.verify_audit_log() = (SELECT min(id) FROM privacy.audit_log);
ROLLBACK;
}), 't', 'without the recorded legacy head, legacy entries do not verify');

# --- a database made at 0.2.0 -------------------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE mid');
$node->safe_psql('mid', q{CREATE EXTENSION pg_privacy VERSION '0.2.0'});
is($node->safe_psql('mid', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_privacy'}),
	'0.2.0', 'CREATE EXTENSION pg_privacy VERSION 0.2.0 works with the 0.19.0 library');
for my $f ("$src/test/data/telephony.sql", "$src/test/data/register.sql", "$src/test/data/register_subject.sql")
{
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('mid'), '-f', $f ],
		"load $f at 0.2.0");
}
$node->safe_psql('mid', 'SELECT telco.generate(42, 1)');
$node->safe_psql('mid', q{
SELECT privacy.grant_consent('email', 'ann@example.dk', 'newsletter', source => 'web');
SELECT privacy.hold('msisdn', '+4530123456', 'litigation');
CREATE SCHEMA bi;
SELECT privacy.create_pseudonymized_extract('bi.cdr_extract', 'telco.cdr', 'analytics', 'hour');
CREATE TABLE public.mailing (email text NOT NULL);
SELECT privacy.register_table('public.mailing', 'newsletter');
SELECT privacy.register_column('public.mailing', 'email', 'email', identifies => 'email');
SELECT privacy.require_consent('public.mailing', 'email', 'newsletter');
});
my $restricted = $node->safe_psql('mid', q{SELECT msisdn FROM telco.subscription ORDER BY msisdn LIMIT 1});
$node->safe_psql('mid', qq{SELECT privacy.restrict_subject('msisdn', '$restricted', 'accuracy contested')});
is($node->safe_psql('mid', q{SELECT count(*) > 0 FROM pg_trigger WHERE tgname = 'zx_pg_privacy_restrict'}), 't',
	'0.2.0: the restriction installed its triggers');
my %mid_before = map { $_ => $node->safe_psql('mid', $q{$_}) } qw(data catalog consent holds extract lookup triggers);
my $extract_before = $node->safe_psql('mid', q{SELECT count(*) FROM bi.cdr_extract});

$node->safe_psql('mid', 'ALTER EXTENSION pg_privacy UPDATE');
is($node->safe_psql('mid', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_privacy'}),
	'0.19.0', 'ALTER EXTENSION pg_privacy UPDATE goes from 0.2.0 to 0.19.0 (through 0.3.0, 0.4.0, 0.5.0, 0.6.0, 0.7.0, 0.8.0, 0.9.0, 0.10.0, 0.11.0, 0.12.0, 0.13.0, 0.14.0, 0.15.0, 0.16.0, 0.17.0 and 0.18.0)');
same_as_fresh('mid', '0.2.0');
for my $what (sort keys %mid_before)
{
	is($node->safe_psql('mid', $q{$what}), $mid_before{$what}, "0.2.0 -> 0.19.0: $what unchanged by the update");
}
is($node->safe_psql('mid', q{SELECT string_agg(DISTINCT t.tgfoid::regprocedure::text, ',')
	FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	WHERE NOT t.tgisinternal AND c.relnamespace NOT IN ('privacy'::regnamespace, 'pg_catalog'::regnamespace)}),
	'privacy_internal._consent_trigger(),privacy_internal._protect_trigger(),privacy_internal._restrict_trigger()',
	'0.2.0 -> 0.19.0: the protect, consent and restriction triggers run the moved functions');
is($node->safe_psql('mid', q{INSERT INTO telco.cdr (a_number, b_number, started_at, duration_s, price, country, call_type)
	VALUES ('+4520999888', '+4530123456', (SELECT max(started_at) FROM telco.cdr), 10, 1, 'DK', 'voice')
	RETURNING a_number}), $pseudonym, '0.2.0 -> 0.19.0: the protect trigger still stores the pseudonym');
is($node->safe_psql('mid', q{SELECT string_agg(table_name || ' ' || protected, ',') FROM privacy.protected_tables}),
	'telco.cdr true', '0.2.0 -> 0.19.0: the protection of telco.cdr is in force');
is($node->safe_psql('mid', q{SELECT count(*) FROM privacy.catalog_problems}), '0',
	'0.2.0 -> 0.19.0: catalog_problems is empty');
($ret, $out, $err) = $node->psql('mid', qq{UPDATE telco.subscription SET msisdn = msisdn WHERE msisdn = '$restricted'});
ok($ret != 0 && $err =~ /restrict/i, '0.2.0 -> 0.19.0: the restriction trigger still refuses an update of a restricted subject');
is($node->safe_psql('mid', q{SELECT count(*) FROM bi.cdr_extract}), $extract_before + 1,
	'0.2.0 -> 0.19.0: an extract published at 0.2.0 reads through the moved helpers, the new row too');
$node->safe_psql('mid', q{INSERT INTO public.mailing VALUES ('ann@example.dk')});
($ret, $out, $err) = $node->psql('mid', q{INSERT INTO public.mailing VALUES ('bob@example.dk')});
ok($ret != 0 && $err =~ /no consent for purpose "newsletter"/,
	'0.2.0 -> 0.19.0: a consent requirement made at 0.2.0 still refuses a subject without consent');
ok($node->safe_psql('mid', q{SELECT privacy.export_subject('email', 'ann@example.dk') IS NOT NULL}) eq 't',
	'0.2.0 -> 0.19.0: export_subject works after the update');
is($node->safe_psql('mid', 'SELECT privacy.verify_audit_log() IS NULL'), 't', '0.2.0 -> 0.19.0: the audit chain verifies');
$node->safe_psql('mid', q{SELECT privacy.define_purpose('regress_upgrade_3', 'contract')});
is($node->safe_psql('mid', 'SELECT privacy.verify_audit_log() IS NULL'), 't', '0.2.0 -> 0.19.0: new entries chain on');
# an ordinary role reaches the internal schema's names only, never creates there
$node->safe_psql('mid', 'CREATE ROLE regress_upgrade_mallory');
($ret, $out, $err) = $node->psql('mid', q{SET ROLE regress_upgrade_mallory;
CREATE FUNCTION privacy_internal._protect_trigger_x() RETURNS int LANGUAGE sql AS 'SELECT 1'});
like($err, qr/permission denied for schema privacy_internal/, '0.2.0 -> 0.19.0: no role but the owner creates in privacy_internal');

# --- databases made at 0.3.0 to 0.18.0 --------------------------

# A database made at $old with the telephony data set and a hold.  In one
# session and one transaction (so that the consent receipts' issue time is
# the same): the $old engine keeps the statements it built, the update
# runs, and the 0.19.0 engine builds its own (the kept ones are forgotten)
# and gives the same export document, consent receipts included.
sub made_at
{
	my ($db, $old) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{CREATE EXTENSION pg_privacy VERSION '$old'});
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_privacy'}),
		$old, "CREATE EXTENSION pg_privacy VERSION $old works with the 0.19.0 library");
	for my $f ("$src/test/data/telephony.sql", "$src/test/data/register.sql", "$src/test/data/register_subject.sql")
	{
		$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db), '-f', $f ],
			"load $f at $old");
	}
	$node->safe_psql($db, 'SELECT telco.generate(42, 1)');
	$node->safe_psql($db, q{SELECT privacy.hold('msisdn', '+4530123456', 'litigation')});
	# (up to 0.8.0, its audit entries noted for the server log by
	# _audit_anchor, which the 0.19.0 library keeps for it and checks as before)
	if ((split /\./, $old)[1] <= 8)
	{
		my ($aret, $aout, $aerr) = $node->psql($db, q{SELECT privacy_internal._audit_anchor(1, '\x00', 'x')});
		like($aerr, qr/not an audit chain head/, "$old: _audit_anchor refuses a malformed head");
		($aret, $aout, $aerr) = $node->psql($db, q{SELECT privacy_internal._audit_anchor(NULL, sha256('x'), 'x')});
		like($aerr, qr/audit entry field "id" must not be null/, "$old: _audit_anchor refuses a NULL id");
	}
	# the customer's number and address with consent events (two purposes,
	# a withdrawal), so that the receipts are compared too
	my $customer = $node->safe_psql($db, q{SELECT min(customer_id) FROM telco.subscription});
	$node->safe_psql($db, qq{
SELECT privacy.define_purpose('upgrade_sms', 'consent');
SELECT privacy.define_purpose('upgrade_mail', 'consent');
SELECT privacy.grant_consent('msisdn', s.msisdn, 'upgrade_sms', 'shop', 'n-1', '2025-01-01')
  FROM telco.subscription s WHERE s.customer_id = $customer;
SELECT privacy.withdraw_consent('msisdn', s.msisdn, 'upgrade_sms', 'sms stop', '2025-03-01')
  FROM telco.subscription s WHERE s.customer_id = $customer;
SELECT privacy.grant_consent('email', c.email, 'upgrade_mail', 'web', 'n-2', '2025-02-01')
  FROM telco.customer c WHERE c.customer_id = $customer;
SELECT privacy.grant_consent('msisdn', s.msisdn, 'upgrade_mail', 'web', 'n-2', '2025-02-02')
  FROM telco.subscription s WHERE s.customer_id = $customer;});
	is($node->safe_psql($db, qq{SELECT jsonb_array_length(privacy.export_subject('customer', '$customer') -> 'consent') > 0}),
		't', "$old: the subject compared has consent receipts");
	# another customer restricted at $old: after the update, its restriction
	# names the key it was made with, and still holds
	my $restricted = $node->safe_psql($db, q{SELECT max(customer_id) FROM telco.subscription});
	$node->safe_psql($db, qq{SELECT privacy.restrict_subject('customer', '$restricted', 'accuracy contested')});
	# before the update, the library checks restrictions as $old did
	my ($pr, $po, $pe) = $node->psql($db, qq{UPDATE telco.customer SET email = email WHERE customer_id = $restricted});
	like($pe, qr/cannot update a row of a data subject whose processing is restricted/,
		"$old: under the new library, the restricted customer's row cannot be updated before the update");
	is($node->safe_psql($db, qq{UPDATE telco.customer SET email = email WHERE customer_id = $customer RETURNING true}),
		't', "$old: under the new library, another customer's row can be updated before the update");
	if ($old eq '0.9.0')
	{
		# the erasure tries the deletion of a referenced row in a
		# subtransaction until the update brings _subject_fk_checks
		is($node->safe_psql($db, qq{SELECT count(*) > 0 FROM privacy.erase_subject('customer', '$customer', dry_run => true) e
		                            WHERE e.table_name = 'telco.customer'::regclass AND e.action = 'delete'}),
			't', "$old: under the new library, erase_subject deletes a referenced customer's row before the update");
	}
	my %before = map { $_ => $node->safe_psql($db, $q{$_}) } qw(data catalog holds lookup triggers);
	my $doc = q{(SELECT privacy.export_subject('customer', '} . $customer . q{') - 'generated_at' AS d)};
	my $out = $node->safe_psql($db, qq{
BEGIN;
CREATE TEMP TABLE before_update AS SELECT * FROM $doc x;
ALTER EXTENSION pg_privacy UPDATE;
SELECT (SELECT d FROM before_update) = (SELECT d FROM $doc y);
COMMIT;
BEGIN;
SELECT count(*) > 0 FROM privacy.erase_subject('customer', '$customer') e WHERE e.action = 'delete';
ROLLBACK;
});
	is($out, "t\nt", "$old -> 0.19.0: in the session that updated, export_subject gives the document $old gave, and erase_subject deletes");
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_privacy'}),
		'0.19.0', "ALTER EXTENSION pg_privacy UPDATE goes from $old to 0.19.0");
	same_as_fresh($db, $old);
	for my $what (sort keys %before)
	{
		is($node->safe_psql($db, $q{$what}), $before{$what}, "$old -> 0.19.0: $what unchanged by the update");
	}
	is($node->safe_psql($db, 'SELECT privacy.verify_audit_log() IS NULL'), 't', "$old -> 0.19.0: the audit chain verifies");
	is($node->safe_psql($db, qq{SELECT bool_and(key_fingerprint = privacy.key_fingerprint()) || ' ' || privacy.is_restricted('customer', '$restricted')
	                              FROM privacy.restriction}),
		'true true', "$old -> 0.19.0: the restriction made at $old names the database's key, and holds");
	my ($r, $o, $e) = $node->psql($db, qq{UPDATE telco.customer SET email = email WHERE customer_id = $restricted});
	like($e, qr/cannot update a row of a data subject whose processing is restricted/,
		"$old -> 0.19.0: the restricted customer's row still cannot be updated");
}

made_at('v3', '0.3.0');
made_at('v4', '0.4.0');
made_at('v5', '0.5.0');
made_at('v6', '0.6.0');
made_at('v7', '0.7.0');
made_at('v8', '0.8.0');
made_at('v9', '0.9.0');
made_at('v10', '0.10.0');
made_at('v11', '0.11.0');
made_at('v12', '0.12.0');
made_at('v13', '0.13.0');
made_at('v14', '0.14.0');
made_at('v15', '0.15.0');
made_at('v16', '0.16.0');
made_at('v17', '0.17.0');
made_at('v18', '0.18.0');

done_testing();
