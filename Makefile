# pg_privacy: PGXS build, plus the three doors: make demo, make test, make bench.

EXTENSION  = pg_privacy
EXTVERSION := $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = pg_privacy
OBJS = \
	src/pg_privacy.o \
	src/caller.o \
	src/keys.o \
	src/audit.o \
	src/pseudonym.o \
	src/protect.o \
	src/analytics.o \
	src/subject.o \
	src/pgp_crypto.o \
	src/ff1.o \
	src/e164.o \
	src/consent.o \
	src/retention.o \
	src/compat.o

# The install script is assembled from src/sql/*.sql in name order.
SQL_PARTS  = $(sort $(wildcard src/sql/*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
# Released versions' install scripts (kept as shipped) and the upgrade scripts.
DATA = $(wildcard $(EXTENSION)--0.1.0.sql $(EXTENSION)--*--*.sql)
SHLIB_LINK = -lcrypto

# Warnings are errors.  PostgreSQL's headers are not -Wextra clean for
# unused parameters and signedness, so those two stay off.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
# The test build (make test) adds assertion checks.
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

# pg_regress: sql/ + expected/, one file per feature.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
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

$(OBJS): src/pg_privacy.h src/pgp_crypto.h src/e164.h src/pgp_transform.h

.PHONY: demo test bench unit fuzz asan
# The doors: each installs what is missing, builds, installs, runs a
# throwaway cluster and tears it down (see test/run.sh).
demo:
	@bash test/run.sh demo
test:
	@bash test/run.sh test
bench:
	@bash test/run.sh bench
# The regression and isolation suites against an AddressSanitizer/UBSan
# build of the extension (also the last phase of make test).
asan:
	@bash test/run.sh asan

# C unit tests and fuzzing of the pure-C primitives (no server needed).
unit:
	$(MAKE) -C test/unit run
fuzz:
	$(MAKE) -C test/fuzz run
