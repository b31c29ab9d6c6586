#!/usr/bin/env bash
# The Debian package of pg_privacy (debian/, pg_buildext).
#
#   test/deb.sh build   `make deb`: install the build dependencies (as root),
#                       copy the tree to $PGP_DEB_WORK/src and run
#                       dpkg-buildpackage there (its build-time installcheck
#                       included); the .deb lands in $PGP_DEB_WORK.
#   test/deb.sh test    unpack the built .deb (dpkg -x, never dpkg -i) into a
#                       private copy of the PostgreSQL 15 installation, start
#                       a cluster of that copy with pg_cron and pg_privacy
#                       preloaded and a random key, and run make installcheck
#                       against it.  make test runs both.
#
# PGP_DEB_WORK defaults to build/deb in the tree (dpkg-buildpackage writes
# its output next to the source directory, so the source is a copy).
set -euo pipefail

MODE=${1:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DW=${PGP_DEB_WORK:-$ROOT/build/deb}
VERSION=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$ROOT/pg_privacy.control")
PKG=postgresql-15-pg-privacy
PACKAGES=(build-essential make gcc dpkg-dev debhelper libssl-dev openssl postgresql-15
          postgresql-server-dev-all postgresql-15-cron)

note() { printf '    %s\n' "$*"; }

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  note "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

do_build() {
  install_packages
  rm -rf "$DW"
  mkdir -p "$DW/src"
  # The tree as it is (uncommitted changes included), without build
  # products, version control or earlier package builds.
  (cd "$ROOT" && tar --exclude=./.git --exclude=./build --exclude='*.o' --exclude='*.so' \
       --exclude='*.bc' --exclude=./results --exclude=./regression.diffs --exclude=./regression.out \
       --exclude=./.build-mode --exclude=./tmp_check --exclude=./log --exclude=./output_iso \
       --exclude="./pg_privacy--$VERSION.sql" --exclude=./test/unit/unit_tests \
       --exclude='./test/fuzz/fuzz_*[!c]' -cf - .) | (cd "$DW/src" && tar xf -)
  # The cluster of the build-time installcheck runs as postgres.
  chmod -R a+rX "$DW"
  (cd "$DW/src" && dpkg-buildpackage -us -uc -b)
  local deb
  deb=$(ls "$DW"/${PKG}_[0-9]*.deb 2>/dev/null | head -n 1)
  [ -n "$deb" ] || { echo "deb: no $PKG package built" >&2; exit 1; }
  echo "deb: built $deb"
}

do_test() {
  local deb R bin port=${PGP_DEB_PORT:-55432} rc
  runas=postgres
  deb=$(ls "$DW"/${PKG}_[0-9]*.deb 2>/dev/null | head -n 1)
  [ -n "$deb" ] || { echo "deb: no $PKG package in $DW: run make deb first" >&2; exit 1; }
  [ "$(id -u)" -eq 0 ] || runas=$(id -un)
  as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$runas" -- "$@"; else "$@"; fi
  }
  # A clean private installation: the system's PostgreSQL 15 without any
  # pg_privacy file, plus the package's files.
  R=$DW/root; bin=$R/usr/lib/postgresql/15/bin
  rm -rf "$R" "$DW/cluster"
  mkdir -p "$R/usr/lib/postgresql" "$R/usr/share/postgresql" "$R/usr/include"
  cp -a /usr/lib/postgresql/15 "$R/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$R/usr/share/postgresql/"
  ln -sfn /usr/include/postgresql "$R/usr/include/postgresql"
  rm -rf "$R"/usr/lib/postgresql/15/lib/pg_privacy* "$R"/usr/lib/postgresql/15/lib/bitcode/pg_privacy* \
         "$R"/usr/share/postgresql/15/extension/pg_privacy*
  dpkg -x "$deb" "$R"
  local so=$R/usr/lib/postgresql/15/lib/pg_privacy.so
  [ -f "$so" ] && [ -f "$R/usr/share/postgresql/15/extension/pg_privacy--$VERSION.sql" ] ||
    { echo "deb: the package lacks the library or the install script of $VERSION" >&2; exit 1; }
  if nm -u "$so" | grep ExceptionalCondition >/dev/null; then
    echo "deb: the packaged library has assertion checks" >&2; exit 1
  fi
  # A cluster of that installation, with a random key.
  local C=$DW/cluster
  mkdir -p "$C/data" "$C/sock" "$C/keys" "$C/check"
  (umask 077; openssl rand -hex 32 > "$C/keys/master.key")
  cp -r "$ROOT/sql" "$ROOT/expected" "$C/check/"
  mkdir -p "$C/check/test"; cp -r "$ROOT/test/isolation" "$C/check/test/"
  chown -R "$runas" "$C"; chmod 700 "$C/keys"
  as_pg "$bin/initdb" -D "$C/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  cat >> "$C/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$C/sock'
shared_preload_libraries = 'pg_cron,pg_privacy'
cron.database_name = 'postgres'
pg_privacy.key_file = '$C/keys/master.key'
fsync = off
jit = off
CONF
  as_pg "$bin/pg_ctl" -D "$C/data" -l "$C/server.log" -w -t 60 start >/dev/null
  trap "as_pg '$bin/pg_ctl' -D '$C/data' -m immediate -w stop >/dev/null 2>&1 || true" EXIT
  local avail
  avail=$(as_pg "$bin/psql" -X -A -t -h "$C/sock" -p "$port" -U postgres -d postgres \
            -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_privacy'")
  [ "$avail" = "$VERSION" ] || { echo "deb: the cluster offers pg_privacy '$avail', not $VERSION" >&2; exit 1; }
  # make installcheck, as documented in the Makefile, from a copy of the
  # suite the cluster's OS user can write to: regress and isolation (the
  # TAP tests start clusters of their own; make test runs them).
  (cd "$C/check" && as_pg make -s -f "$ROOT/Makefile" installcheck PG_CONFIG="$bin/pg_config" \
       PGHOST="$C/sock" PGPORT="$port" PGUSER=postgres TAP_TESTS=) >"$C/installcheck.log" 2>&1 && rc=0 || rc=$?
  cat "$C/installcheck.log"
  [ -f "$C/check/regression.diffs" ] && cat "$C/check/regression.diffs"
  [ "$rc" -eq 0 ] || { echo "deb: installcheck failed" >&2; exit 1; }
  echo "deb: $(basename "$deb") unpacked into a clean installation, installcheck: $(grep -Ec '\.\.\. ok( |$)' "$C/installcheck.log") tests passed"
}

case "$MODE" in
  build) do_build ;;
  test)  do_test ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
