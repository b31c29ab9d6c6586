# pg_privacy: PGXS build, plus the three doors: make demo, make test, make bench,
# and the packages: make deb (Debian, see debian/), META.json (PGXN).
#
#   make && make install      the release build: -O2, no assertion checks,
#                             warnings shown but not fatal
#   make PGP_DEVELOPER=1      the developer and CI build: warnings are errors
#                             (make test builds that way, in a copy of the tree
#                             under its work directory, never in src/ here)
#   make installcheck         the key-independent regression suite (sql/,
#                             expected/) against a running server; see below
#   make deb                  build the Debian package under build/deb/

EXTENSION  = pg_privacy
EXTVERSION := $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = pg_privacy
OBJS = \
	src/pg_privacy.o \
	src/owner.o \
	src/caller.o \
	src/keys.o \
	src/audit.o \
	src/pseudonym.o \
	src/protect.o \
	src/rekey.o \
	src/analytics.o \
	src/mask.o \
	src/subject.o \
	src/engine.o \
	src/rights.o \
	src/ledger.o \
	src/pgp_crypto.o \
	src/ff1.o \
	src/e164.o \
	src/identifier.o \
	src/consent.o \
	src/retention.o \
	src/catalog.o \
	src/compat.o \
	src/schema.o \
	src/citus.o

# The install script is assembled from src/sql/*.sql in name order.
SQL_PARTS  = $(sort $(wildcard src/sql/*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
# Kept scripts of earlier versions and the upgrade scripts between versions
# (pg_privacy--0.1.0.sql, pg_privacy--0.1.0--0.2.0.sql, ...): every
# pg_privacy--*.sql at the top level except the one built from src/sql.
DATA = $(filter-out $(DATA_built),$(wildcard $(EXTENSION)--*.sql))
SHLIB_LINK = -lcrypto

# PostgreSQL's headers are not -Wextra clean for unused parameters and
# signedness, so those two stay off.  Warnings are errors only in the
# developer and CI build (PGP_DEVELOPER=1, set by make test): a package
# built with a newer compiler must not fail on a new warning.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
ifeq ($(PGP_DEVELOPER),1)
PG_CFLAGS += -Werror
endif
# The test build (make test) adds assertion checks.  It is made in a copy
# of the tree (test/run.sh), so its objects never reach a release build.
ifeq ($(ASSERTS),1)
PG_CPPFLAGS += -DUSE_ASSERT_CHECKING
endif
# The sanitizer build (make asan, and the last phase of make test): the
# library instrumented with AddressSanitizer (globals) and UBSan; see
# run_asan in test/run.sh for what each checks there.
ifeq ($(SANITIZE),1)
PG_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize=alignment \
	--param=asan-stack=0
SHLIB_LINK += -fsanitize=address,undefined
endif

# pg_regress: sql/ + expected/, one file per feature: `make installcheck`.
# These tests hold under any key, so they pass against any server
# configured for pg_privacy:
#   shared_preload_libraries = 'pg_cron,pg_privacy'
#   cron.database_name = 'postgres'          (or the database pg_cron uses)
#   pg_privacy.key_file = '/absolute/path/to/a/key'   (openssl rand -hex 32,
#                                            mode 0600, owned by postgres)
# and a superuser to connect as (PGUSER, PGHOST, PGPORT as usual).
# installcheck also runs the isolation specs (key-independent too) and the
# TAP tests (test/t: they start clusters of their own from the installed
# binaries, with keys of their own; they need libipc-run-perl; leave them
# out with `make installcheck TAP_TESTS=`).  The
# tests that compare exact pseudonyms, fingerprints, format-preserving
# numbers and keyed references live in test/keyed/ and run under the fixed
# test key (test/keys/regress.key) in make test, or against a server loaded
# with that key: make installcheck-keyed.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
KEYED_REGRESS = $(patsubst test/keyed/sql/%.sql,%,$(sort $(wildcard test/keyed/sql/*.sql)))
# Isolation: test/isolation/specs + test/isolation/expected.
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation
# TAP: test/t/*.pl (PostgreSQL::Test::Cluster).
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

# Prefer the PostgreSQL 15 server tool chain when several are installed.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install installcheck:
	@echo "PostgreSQL server development files are missing." >&2
	@echo "'make demo' and 'make test' install them; or: apt-get install postgresql-server-dev-15" >&2
	@exit 1
endif

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $(SQL_PARTS) > $@

$(OBJS): $(wildcard src/*.h)

.PHONY: demo test bench test-citus bench-citus unit fuzz asan installcheck-keyed deb deb-installcheck check-version
# The doors: each installs what is missing, builds, installs, runs a
# throwaway cluster and tears it down (see test/run.sh).
demo:
	@bash test/run.sh demo
test:
	@bash test/run.sh test
bench:
	@bash test/run.sh bench
# pg_privacy on Citus (never part of make test: Citus is not a Debian
# package); skipped when Citus is not installed.  See README.md, Citus.
test-citus:
	@bash test/citus/run.sh
# The protect trigger's cost on Citus beside one server's (COPY), when
# Citus is installed.
bench-citus:
	@bash test/citus/run.sh bench
# The regression and isolation suites against an AddressSanitizer/UBSan
# build of the extension (also the last phase of make test).
asan:
	@bash test/run.sh asan

# C unit tests and fuzzing of the pure-C primitives (no server needed).
unit:
	$(MAKE) -C test/unit run
fuzz:
	$(MAKE) -C test/fuzz run

# The keyed suite, against a server loaded with test/keys/regress.key.
installcheck-keyed:
	$(pg_regress_installcheck) --inputdir=test/keyed $(REGRESS_OPTS) $(KEYED_REGRESS)

# The version lives in one place, the control file's default_version;
# META.json, CHANGELOG.md and debian/changelog must agree with it.
check-version:
	@bash test/check-version.sh

# The Debian package (debian/, pg_buildext), built from a copy of the tree
# under build/deb/ so that dpkg-buildpackage's output stays inside the
# tree; installs the build dependencies when run as root.
deb:
	@bash test/deb.sh build
# The built package unpacked into a clean private installation, and
# installcheck against a cluster of it with a random key (make test does it).
deb-installcheck:
	@bash test/deb.sh test
