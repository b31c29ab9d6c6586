#!/usr/bin/env bash
# make test-citus: pg_privacy on a Citus coordinator and two workers.
# make bench-citus (this script with the argument bench): test/citus/bench.
#
# Citus is not a Debian package, so it is never a dependency of make test.
# This door runs when a PostgreSQL 15 installation with Citus is found:
# PGP_CITUS_PGROOT names a PostgreSQL root (a directory holding
# usr/lib/postgresql/15, as made by test/run.sh's PGP_PGROOT) into which
# Citus was installed; without it the system's PostgreSQL 15 is tried.
# Without Citus it says so and exits 0.  See README.md (Citus) for how to
# build Citus from its source.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PGROOT=${PGP_CITUS_PGROOT:-}
INSTALL=$PGROOT/usr/lib/postgresql/15
PG_CONFIG=$INSTALL/bin/pg_config
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ ! -x "$PG_CONFIG" ] || [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
  say "test-citus: skipped: Citus is not installed in ${INSTALL} (see README.md, Citus)"
  exit 0
fi
say "Citus $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$("$PG_CONFIG" --sharedir)/extension/citus.control") in $INSTALL"

WORK=${PGP_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/pg_privacy-citus.XXXXXX")}
RUNAS=postgres
[ "$(id -u)" -eq 0 ] || RUNAS=$(id -un)
mkdir -p "$WORK"; rm -rf "$WORK/tmp_check"
say "building and installing pg_privacy into $INSTALL"
rm -rf "$WORK/src"; mkdir -p "$WORK/src"
(cd "$ROOT" && tar --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - .) | tar -xf - -C "$WORK/src"
make -C "$WORK/src" -s PG_CONFIG="$PG_CONFIG" PGP_DEVELOPER=1 clean all >/dev/null
make -C "$WORK/src" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
chown -R "$RUNAS" "$WORK"

say "coordinator and two workers"
log=$WORK/citus.log
as_run() { if [ "$(id -u)" -eq 0 ]; then su "$RUNAS" -s /bin/bash -c "$(printf '%q ' "$@")"; else "$@"; fi; }
rc=0
TESTS=("$WORK"/src/test/citus/*.pl)
[ "${1:-test}" = bench ] && TESTS=("$WORK"/src/test/citus/bench/*.pl)
as_run env PATH="$INSTALL/bin:$PATH" TESTDIR="$WORK" PG_REGRESS="$INSTALL/lib/pgxs/src/test/regress/pg_regress" PGP_SRC="$WORK/src" PGP_CITUS_INSTALL="$INSTALL" \
  PGP_CITUS_BENCH_ROWS="${PGP_CITUS_BENCH_ROWS:-1000000}" \
  PERL5LIB="$INSTALL/lib/pgxs/src/test/perl" prove -v "${TESTS[@]}" >"$log" 2>&1 || rc=$?
p=$(grep -Ec '^ok [0-9]+' "$log" || true)
f=$(grep -Ec '^not ok [0-9]+' "$log" || true)
if { [ "$rc" -ne 0 ] || [ "$p" -eq 0 ]; } && [ "$f" -eq 0 ]; then f=1; fi
if [ "${1:-test}" = bench ]; then
  grep -E '^# ' "$log" | grep -vE 'Running|Checking port|Found port|No postmaster|Postmaster PID' | sed 's/^# //' || true
  echo "bench-citus: $p passed, $f failed (log: $log)"
else
  grep -E '^(not ok|#)' "$log" | head -n 40 || true
  echo "test-citus: $p passed, $f failed (log: $log)"
fi
[ "$f" -eq 0 ]
