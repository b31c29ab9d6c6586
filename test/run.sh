#!/usr/bin/env bash
# pg_privacy's doors: `make demo`, `make test`, `make bench` all come here.
#
#   test/run.sh demo    set up, load the telephony data set, run the demo
#   test/run.sh test    set up, run every suite, print "N passed, N failed"
#   test/run.sh bench   set up, run the benchmarks, print ratios
#
# Set-up, the same for each: install missing Debian packages (as root),
# build and install the extension, start a throwaway PostgreSQL 15 cluster
# (own port and socket directory, run as an unprivileged OS user, pg_cron
# and pg_privacy preloaded, a key file of its own), and tear it down on
# exit, failure included.  Each step is idempotent: a second run skips what
# is already there.
set -euo pipefail

MODE=${1:-test}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PGP_PGROOT: run against a private copy of the PostgreSQL 15 installation
# under that directory (made on first use), so that several checkouts can
# build, install and test side by side without overwriting each other's
# installed extension.  PostgreSQL finds its share and lib directories
# relative to its binaries, so the copy works where it lies.
PGROOT=${PGP_PGROOT:-}
PGBIN=$PGROOT/usr/lib/postgresql/15/bin
PGXS_DIR=$PGROOT/usr/lib/postgresql/15/lib/pgxs
export PG_CONFIG=$PGBIN/pg_config
PACKAGES=(make gcc perl clang libclang-rt-14-dev libssl-dev postgresql-15 postgresql-server-dev-15
          postgresql-contrib postgresql-15-cron libipc-run-perl openssl)

case "$MODE" in
  demo)  PORT=54330 ;;
  test)  PORT=54329 ;;
  bench) PORT=54331 ;;
  asan)  PORT=54332 ;;
  *) echo "usage: $0 demo|test|bench|asan" >&2; exit 2 ;;
esac
# PGP_PORT and PGP_WORKDIR let two runs share one machine.
PORT=${PGP_PORT:-$PORT}
# Each run has a work directory of its own (cluster, socket, logs), so two
# runs on one machine never share one; PGP_WORKDIR names it instead.  It is
# removed after a successful run and kept after a failure, for its logs.
WORK=${PGP_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/pg_privacy-$MODE.XXXXXX")}
SOCK=$WORK/sock
export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres

say()  { printf '\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }

# --- set-up -----------------------------------------------------------------

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    note "packages: all present"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The OS user that runs the cluster: never root.
RUNAS=postgres
if [ "$(id -u)" -ne 0 ]; then RUNAS=$(id -un); fi
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$RUNAS" -- env PATH="$PGBIN:$PATH" "$@"
  else env PATH="$PGBIN:$PATH" "$@"; fi
}

private_pg() {
  [ -n "$PGROOT" ] || return 0
  [ -x "$PGBIN/postgres" ] && return 0
  note "private PostgreSQL copy in $PGROOT"
  mkdir -p "$PGROOT/usr/lib/postgresql" "$PGROOT/usr/share/postgresql" "$PGROOT/usr/include"
  ln -sfn /usr/include/postgresql "$PGROOT/usr/include/postgresql"
  cp -a /usr/lib/postgresql/15 "$PGROOT/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$PGROOT/usr/share/postgresql/"
}

# A copy of the source tree (no objects, no built install script) in $1:
# test builds (assertions, sanitizers) are made there, so that their objects
# never reach a release build made in the tree.
copy_tree() {
  local dest=$1 ver extra=() f
  ver=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$ROOT/pg_privacy.control")
  # the kept install scripts of earlier versions and the upgrade scripts
  for f in "$ROOT"/pg_privacy--*.sql; do
    [ -e "$f" ] && [ "$(basename "$f")" != "pg_privacy--$ver.sql" ] && extra+=("$(basename "$f")")
  done
  mkdir -p "$dest"
  (cd "$ROOT" && tar --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - \
       Makefile pg_privacy.control src "${extra[@]}") | (cd "$dest" && tar xf -)
}

# make test builds the assertion-enabled developer build (warnings are
# errors) in $WORK/build, a copy of the tree; demo and bench build the
# release build in the tree, as the README's make && make install does.
build_install() {
  say "building and installing pg_privacy"
  private_pg
  # Trees built by an earlier make test in place hold assertion objects.
  if [ "$(cat "$ROOT/.build-mode" 2>/dev/null)" = test ]; then
    make -s -C "$ROOT" clean >/dev/null 2>&1 || true
  fi
  rm -f "$ROOT/.build-mode"
  if [ "$MODE" = test ]; then
    rm -rf "$WORK/build"
    copy_tree "$WORK/build"
    make -s -C "$WORK/build" ASSERTS=1 PGP_DEVELOPER=1 >/dev/null
    make -s -C "$WORK/build" ASSERTS=1 PGP_DEVELOPER=1 install >/dev/null
    check_release_tree
  else
    make -s -C "$ROOT" >/dev/null
    make -s -C "$ROOT" install >/dev/null
  fi
}

# After make test, `make` in the tree builds a release library: the test
# build's objects carry assertion checks (a reference to
# ExceptionalCondition), none in the tree does, and make in the tree would
# not compile with -DUSE_ASSERT_CHECKING.  Counted once, in do_test.
RELEASE_TREE_OK=1
check_release_tree() {
  local f bad=()
  if ! nm -u "$WORK/build/pg_privacy.so" | grep ExceptionalCondition >/dev/null; then
    bad+=("the test build has no assertion checks")
  fi
  for f in "$ROOT"/src/*.o "$ROOT"/pg_privacy.so; do
    [ -e "$f" ] || continue
    nm -u "$f" 2>/dev/null | grep ExceptionalCondition >/dev/null && bad+=("$f has assertion checks")
  done
  if make -n -C "$ROOT" 2>/dev/null | grep USE_ASSERT_CHECKING >/dev/null; then
    bad+=("make in the tree would build with assertion checks")
  fi
  if [ ${#bad[@]} -gt 0 ]; then
    printf '    release tree: %s\n' "${bad[@]}"
    RELEASE_TREE_OK=0
  fi
}

CLUSTER_UP=0
ASAN_UP=0
# set once the summary is printed last (with the server log before it), so
# that the end of the output says what failed
SUMMARY_SHOWN=0
stop_cluster() {
  if [ "$CLUSTER_UP" = 1 ]; then
    as_pg pg_ctl -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
    CLUSTER_UP=0
  fi
  if [ "$ASAN_UP" = 1 ]; then
    as_pg "$WORK/asan/root/usr/lib/postgresql/15/bin/pg_ctl" -D "$WORK/asan/data" -m immediate -w stop >/dev/null 2>&1 || true
    ASAN_UP=0
  fi
}
cleanup() {
  local rc=$?
  stop_cluster
  if [ "$rc" -ne 0 ] && [ "$SUMMARY_SHOWN" = 0 ] && [ -f "$WORK/server.log" ]; then
    echo "--- last lines of the server log ($WORK/server.log) ---" >&2
    tail -n 20 "$WORK/server.log" >&2 || true
  fi
  if [ "$rc" -eq 0 ] && [ "${PGP_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_cluster() {
  say "starting a throwaway cluster on port $PORT ($WORK)"
  if [ -f "$WORK/data/postmaster.pid" ]; then
    as_pg pg_ctl -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  mkdir -p "$WORK/data" "$SOCK" "$WORK/keys" "$WORK/src" "$WORK/ledger"
  # A key of this run's own, outside the data directory, mode 0600.  The
  # test door uses the fixed test key so expected outputs hold exact values.
  if [ "$MODE" = test ] || [ "$MODE" = asan ]; then
    install -m 600 "$ROOT/test/keys/regress.key" "$WORK/keys/master.key"
  else
    (umask 077; openssl rand -hex 32 > "$WORK/keys/master.key")
  fi
  # The suites run from a copy the cluster's OS user can read and write.
  cp -r "$ROOT/sql" "$ROOT/expected" "$ROOT/test" "$WORK/src/"
  chown -R "$RUNAS" "$WORK"
  chmod 700 "$WORK/keys" "$WORK/ledger"
  as_pg initdb -D "$WORK/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  cat >> "$WORK/data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$SOCK'
shared_preload_libraries = 'pg_cron,pg_privacy'
cron.database_name = 'postgres'
cron.use_background_workers = on
pg_privacy.key_file = '$WORK/keys/master.key'
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = '8GB'
checkpoint_timeout = '30min'
jit = off
max_parallel_workers_per_gather = 0
shared_buffers = '1GB'
work_mem = '64MB'
maintenance_work_mem = '512MB'
log_min_messages = warning
EOF
  # The suites and the demo run with an erasure ledger, as a DBA should;
  # make bench measures erase_subject without it and with it apart.
  if [ "$MODE" != bench ]; then
    echo "pg_privacy.erasure_ledger_file = '$WORK/ledger/erasures.ledger'" >> "$WORK/data/postgresql.conf"
  fi
  as_pg pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w -t 60 start >/dev/null
  CLUSTER_UP=1
}

setup() {
  local t0=$SECONDS
  say "set-up"
  install_packages
  build_install
  start_cluster
  note "set-up took $((SECONDS - t0)) s"
}

# --- test -------------------------------------------------------------------

PASSED=0
FAILED=0
FAILURES=()

# pg_regress-style output: "test name ... ok" / "FAILED" / "failed".
count_regress() {
  local suite=$1 log=$2 rc=$3 p f
  p=$(grep -Ec '\.\.\. ok( |$)' "$log" || true)
  f=$(grep -Eic '\.\.\. failed' "$log" || true)
  # A runner that failed without naming a failed test (no server, bad
  # option) still counts as a failure.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; tail -n 20 "$log"; fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  [ "$f" -eq 0 ] || FAILURES+=("$suite: $(grep -Ei '\.\.\. failed' "$log" | sed -E 's/^[^a-z0-9_]*//; s/ +\.\.\..*//' | head -n 5 | tr '\n' ' ' || true)see $(dirname "$log")/regression.diffs")
  note "$suite: $p passed, $f failed"
}

run_unit() {
  say "C unit tests"
  local log=$WORK/unit.log p f
  if make -s -C "$ROOT/test/unit" run >"$log" 2>&1; then :; fi
  p=$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$log" | tail -1)
  if [ -z "$p" ]; then p=0; f=1; tail -n 20 "$log"; fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  [ "$f" -eq 0 ] || FAILURES+=("unit: see $log")
  note "unit: $p passed, $f failed"
}

run_fuzz() {
  say "fuzzing (${FUZZ_SECONDS:-20} s per target)"
  local log=$WORK/fuzz.log
  if make -s -C "$ROOT/test/fuzz" run FUZZ_SECONDS="${FUZZ_SECONDS:-20}" >"$log" 2>&1; then
    PASSED=$((PASSED + 1)); note "fuzz: no crash"
  else
    FAILED=$((FAILED + 1)); FAILURES+=("fuzz: see $log"); tail -n 30 "$log"
  fi
}

run_regress() {
  say "pg_regress"
  local dir=$WORK/src log=$WORK/regress/out.log tests rc
  mkdir -p "$WORK/regress"; chown "$RUNAS" "$WORK/regress"
  tests=$(cd "$dir/sql" && ls *.sql | sed 's/\.sql$//' | sort | tr '\n' ' ')
  as_pg "$PGXS_DIR/src/test/regress/pg_regress" \
      --inputdir="$dir" --outputdir="$WORK/regress" --bindir="$PGBIN" \
      --host="$SOCK" --port="$PORT" --user=postgres --dbname=contrib_regression \
      $tests >"$log" 2>&1 && rc=0 || rc=$?
  count_regress regress "$log" "$rc"
  run_keyed "$PGBIN" "$PGXS_DIR" "$SOCK" "$PORT" "$WORK/keyed" keyed
}

# The keyed suite (test/keyed/): exact pseudonyms, format-preserving numbers
# and the fingerprint under the fixed test key, which this cluster loads.
# sql/ (make installcheck) holds only what passes under any key.
run_keyed() {
  local bin=$1 pgxs=$2 sock=$3 port=$4 out=$5 name=$6 tests rc
  mkdir -p "$out"; chown "$RUNAS" "$out"
  tests=$(cd "$WORK/src/test/keyed/sql" && ls *.sql | sed 's/\.sql$//' | sort | tr '\n' ' ')
  as_pg "$pgxs/src/test/regress/pg_regress" \
      --inputdir="$WORK/src/test/keyed" --outputdir="$out" --bindir="$bin" \
      --host="$sock" --port="$port" --user=postgres --dbname=keyed_regression \
      $tests >"$out/out.log" 2>&1 && rc=0 || rc=$?
  count_regress "$name" "$out/out.log" "$rc"
}

run_isolation() {
  local specs
  specs=$(cd "$WORK/src/test/isolation/specs" 2>/dev/null && ls *.spec 2>/dev/null | sed 's/\.spec$//' | sort | tr '\n' ' ' || true)
  [ -n "$specs" ] || return 0
  say "isolation"
  local log=$WORK/isolation/out.log rc
  mkdir -p "$WORK/isolation"; chown "$RUNAS" "$WORK/isolation"
  as_pg "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
      --inputdir="$WORK/src/test/isolation" --outputdir="$WORK/isolation" --bindir="$PGBIN" \
      --host="$SOCK" --port="$PORT" --user=postgres --dbname=isolation_regression \
      $specs >"$log" 2>&1 && rc=0 || rc=$?
  count_regress isolation "$log" "$rc"
}

run_tap() {
  local t files
  files=$(ls "$WORK/src/test/t/"*.pl 2>/dev/null || true)
  [ -n "$files" ] || return 0
  say "TAP"
  mkdir -p "$WORK/tap"; chown "$RUNAS" "$WORK/tap"
  for t in $files; do
    local name log p f total
    name=$(basename "$t" .pl)
    log=$WORK/tap/$name.log
    if as_pg env TESTDIR="$WORK/tap" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
         PGP_SRC="$WORK/src" PERL5LIB="$PGXS_DIR/src/test/perl" \
         prove -v "$t" >"$log" 2>&1; then
      p=$(grep -Ec '^ok [0-9]+' "$log" || true); f=0
    else
      p=$(grep -Ec '^ok [0-9]+' "$log" || true)
      f=$(grep -Ec '^not ok [0-9]+' "$log" || true)
      [ "$f" -gt 0 ] || f=1
      FAILURES+=("tap $name: $(grep -E '^not ok' "$log" | head -n 3 | tr '\n' ';' || true) see $log")
      grep -E '^(not ok|#)' "$log" | head -n 30 || true
    fi
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
    note "tap $name: $p passed, $f failed"
  done
}

# The documentation's examples: every ```sql block of README.md and doc/*.md
# runs, in order, as written (test/doc/run-docs.pl); one result per page.
run_docs() {
  say "documentation examples"
  local log=$WORK/docs.log p f rc
  perl "$ROOT/test/doc/run-docs.pl" --psql "$PGBIN/psql" "$ROOT/README.md" "$ROOT"/doc/*.md \
      >"$log" 2>&1 && rc=0 || rc=$?
  p=$(grep -Ec '^docs [^ ]+: ok' "$log" || true)
  f=$(grep -Ec '^docs [^ ]+: FAILED' "$log" || true)
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$f" -gt 0 ]; then
    FAILURES+=("docs: see $log")
    grep -vE '^docs [^ ]+: ok' "$log" | head -n 40 || true
  fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  note "docs: $p passed, $f failed"
}

# The sanitizer phase: a copy of the source tree built with
# AddressSanitizer and UBSan, installed into a private copy of the
# PostgreSQL installation (the system-wide install is never touched), a
# second cluster loading that build, and the regression and isolation
# suites run against it.  Any sanitizer report fails the phase.
#
# The sanitizer runtimes come in with the library, not preloaded into the
# server: Debian's postgres binary deadlocks at start-up under a preloaded
# ASan runtime (in bindtextdomain).  Loaded late, ASan cannot follow the
# longjmp of PostgreSQL's error handling, so stack instrumentation is off
# (it would report stale redzones): ASan checks global and static buffers,
# UBSan checks undefined behaviour (overflow, shifts, bounds of arrays of
# known size, misuse of null pointers).  Heap memory is PostgreSQL's own
# allocator and out of ASan's sight; the fuzzers cover the pure-C parsers
# and crypto with full ASan.
run_asan() {
  say "sanitizers: regress and isolation against an ASan/UBSan build"
  local A=$WORK/asan root bin rc aport
  root=$A/root; bin=$root/usr/lib/postgresql/15/bin; aport=$((PORT + 100))
  mkdir -p "$A/src" "$root/usr/lib/postgresql" "$root/usr/share/postgresql" "$root/usr/include"
  cp -a "$PGROOT/usr/lib/postgresql/15" "$root/usr/lib/postgresql/"
  cp -a "$PGROOT/usr/share/postgresql/15" "$root/usr/share/postgresql/"
  ln -sfn /usr/include/postgresql "$root/usr/include/postgresql"
  copy_tree "$A/src"
  if ! { make -s -C "$A/src" PG_CONFIG="$bin/pg_config" SANITIZE=1 ASSERTS=1 PGP_DEVELOPER=1 &&
         make -s -C "$A/src" PG_CONFIG="$bin/pg_config" SANITIZE=1 ASSERTS=1 PGP_DEVELOPER=1 install; } >"$A/build.log" 2>&1; then
    FAILED=$((FAILED + 1)); FAILURES+=("asan build: see $A/build.log"); tail -n 20 "$A/build.log"; return 0
  fi
  mkdir -p "$A/data" "$A/sock" "$A/regress" "$A/isolation" "$A/reports" "$A/ledger"
  chown -R "$RUNAS" "$A"
  chmod 700 "$A/ledger"
  as_pg "$bin/initdb" -D "$A/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  cat >> "$A/data/postgresql.conf" <<EOF
port = $aport
listen_addresses = ''
unix_socket_directories = '$A/sock'
shared_preload_libraries = 'pg_cron,pg_privacy'
cron.database_name = 'postgres'
cron.use_background_workers = on
pg_privacy.key_file = '$WORK/keys/master.key'
pg_privacy.erasure_ledger_file = '$A/ledger/erasures.ledger'
fsync = off
jit = off
max_parallel_workers_per_gather = 0
log_min_messages = warning
EOF
  as_pg env ASAN_OPTIONS="verify_asan_link_order=0:detect_leaks=0:abort_on_error=1:log_path=$A/reports/asan" \
      UBSAN_OPTIONS="print_stacktrace=1:log_path=$A/reports/ubsan" \
      "$bin/pg_ctl" -D "$A/data" -l "$A/server.log" -w -t 120 start >/dev/null
  ASAN_UP=1
  as_pg "$root/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress" \
      --inputdir="$WORK/src" --outputdir="$A/regress" --bindir="$bin" \
      --host="$A/sock" --port="$aport" --user=postgres --dbname=contrib_regression \
      $(cd "$WORK/src/sql" && ls *.sql | sed 's/\.sql$//' | sort | tr '\n' ' ') >"$A/regress.log" 2>&1 && rc=0 || rc=$?
  count_regress "asan regress" "$A/regress.log" "$rc"
  run_keyed "$bin" "$root/usr/lib/postgresql/15/lib/pgxs" "$A/sock" "$aport" "$A/keyed" "asan keyed"
  as_pg "$root/usr/lib/postgresql/15/lib/pgxs/src/test/isolation/pg_isolation_regress" \
      --inputdir="$WORK/src/test/isolation" --outputdir="$A/isolation" --bindir="$bin" \
      --host="$A/sock" --port="$aport" --user=postgres --dbname=isolation_regression \
      $(cd "$WORK/src/test/isolation/specs" && ls *.spec | sed 's/\.spec$//' | sort | tr '\n' ' ') >"$A/isolation.log" 2>&1 && rc=0 || rc=$?
  count_regress "asan isolation" "$A/isolation.log" "$rc"
  as_pg "$bin/pg_ctl" -D "$A/data" -m fast -w stop >/dev/null 2>&1 || true
  ASAN_UP=0
  if [ -n "$(ls -A "$A/reports")" ] || grep -qE 'AddressSanitizer|runtime error:' "$A/server.log"; then
    FAILED=$((FAILED + 1)); FAILURES+=("sanitizers: see $A/reports and $A/server.log")
    cat "$A"/reports/* 2>/dev/null | head -n 40
    note "sanitizers: reports found"
  else
    PASSED=$((PASSED + 1)); note "sanitizers: no report"
  fi
}

do_asan() {
  setup
  run_asan
  echo
  [ ${#FAILURES[@]} -eq 0 ] || printf 'failed: %s\n' "${FAILURES[@]}"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

# One line of the count: the tree is left ready for a release build.
run_release_tree() {
  if [ "$RELEASE_TREE_OK" = 1 ]; then
    PASSED=$((PASSED + 1)); note "release tree: no assertion objects, make builds a release library"
  else
    FAILED=$((FAILED + 1)); FAILURES+=("release tree: assertion objects where a release build picks them up")
  fi
}

# The version lives in the control file; META.json, CHANGELOG.md and
# debian/changelog must agree with it.
run_version_check() {
  local log=$WORK/version.log
  if bash "$ROOT/test/check-version.sh" >"$log" 2>&1; then
    PASSED=$((PASSED + 1)); note "$(tail -n 1 "$log")"
  else
    FAILED=$((FAILED + 1)); FAILURES+=("version: see $log"); cat "$log"
  fi
}

# The Debian package: built as `make deb` builds it (its own build-time
# installcheck included), unpacked into a private copy of the PostgreSQL
# installation (never installed system-wide), and make installcheck run
# against a cluster of that copy with a random key.
run_deb() {
  say "Debian package: make deb, then installcheck of the unpacked package"
  local log=$WORK/deb.log
  if PGPORT=$((PORT + 200)) PGP_DEB_WORK="$WORK/deb" bash "$ROOT/test/deb.sh" build >"$log" 2>&1 &&
     PGP_DEB_WORK="$WORK/deb" PGP_DEB_PORT=$((PORT + 201)) bash "$ROOT/test/deb.sh" test >>"$log" 2>&1; then
    PASSED=$((PASSED + 1)); note "$(grep -E '^deb: ' "$log" | tail -n 1)"
  else
    FAILED=$((FAILED + 1)); FAILURES+=("deb: see $log"); tail -n 40 "$log"
  fi
}

do_test() {
  local t0=$SECONDS
  setup
  run_release_tree
  run_version_check
  run_unit
  run_regress
  run_isolation
  run_tap
  run_docs
  run_fuzz
  run_asan
  run_deb
  echo
  if [ ${#FAILURES[@]} -gt 0 ]; then
    # on standard error too, last, where a CI that keeps the end of it
    # shows what failed
    {
      if [ -f "$WORK/server.log" ]; then
        echo "--- last lines of the server log ($WORK/server.log) ---"
        tail -n 20 "$WORK/server.log" || true
        echo "---"
      fi
      printf 'failed: %s\n' "${FAILURES[@]}"
    } | tee /dev/stderr
  fi
  note "make test took $((SECONDS - t0)) s"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ] || echo "$PASSED passed, $FAILED failed" >&2
  SUMMARY_SHOWN=1
  [ "$FAILED" -eq 0 ]
}

# --- demo and bench ---------------------------------------------------------

do_demo() {
  local t0=$SECONDS
  setup
  as_pg env PGHOST="$SOCK" PGPORT="$PORT" PGUSER=postgres DEMO_SCALE="${DEMO_SCALE:-20}" \
    bash "$WORK/src/test/demo.sh"
  note "make demo took $((SECONDS - t0)) s"
}

do_bench() {
  setup
  # The no-op C function the per-row figures are compared with.
  make -s -C "$ROOT/test/bench/floor" >/dev/null
  make -s -C "$ROOT/test/bench/floor" install >/dev/null
  mkdir -p "$WORK/bench"; chown "$RUNAS" "$WORK/bench"
  as_pg env PGHOST="$SOCK" PGPORT="$PORT" PGUSER=postgres BENCH_DIR="$WORK/bench" \
    BENCH_SCALE="${BENCH_SCALE:-200}" BENCH_ONLY="${BENCH_ONLY:-}" bash "$WORK/src/test/bench/run.sh"
}

case "$MODE" in
  test)  do_test ;;
  asan)  do_asan ;;
  demo)  do_demo ;;
  bench) do_bench ;;
esac
