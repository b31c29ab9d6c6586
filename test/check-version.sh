#!/usr/bin/env bash
# The version of pg_privacy lives in one place: default_version in
# pg_privacy.control.  META.json (PGXN) cannot read it, nor can
# CHANGELOG.md or debian/changelog, so this check (make check-version, and
# a step of make test) fails unless they all agree with it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

control=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" pg_privacy.control)
[ -n "$control" ] || { echo "version: no default_version in pg_privacy.control" >&2; exit 1; }

# META.json: the distribution's version and the extension's in provides.
read -r meta meta_ext < <(perl -MJSON::PP -0777 -ne '
  my $m = JSON::PP->new->decode($_);
  print(($m->{version} // "none"), " ", ($m->{provides}{pg_privacy}{version} // "none"), "\n");' META.json)
# CHANGELOG.md: the first "## x.y.z" heading.
changelog=$(sed -n 's/^## \([0-9][0-9.]*\).*/\1/p' CHANGELOG.md | head -n 1)
# debian/changelog: the top entry, without a Debian revision.
debian=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)
debian=${debian%%-*}

bad=0
check() {
  if [ "$2" != "$control" ]; then
    echo "version: $1 says $2, pg_privacy.control says $control" >&2
    bad=1
  fi
}
check "META.json version" "$meta"
check "META.json provides.pg_privacy.version" "$meta_ext"
check "CHANGELOG.md's top entry" "${changelog:-none}"
check "debian/changelog's top entry" "${debian:-none}"
# The install script of the version is built from src/sql; the upgrade
# scripts lead to it.
for f in pg_privacy--*--*.sql; do
  [ -e "$f" ] || continue
  to=${f#pg_privacy--*--}; to=${to%.sql}
  if [ "$(printf '%s\n%s\n' "$to" "$control" | sort -V | tail -n 1)" != "$control" ]; then
    echo "version: upgrade script $f leads past $control" >&2
    bad=1
  fi
done
[ "$bad" = 0 ] || exit 1
echo "version: $control in pg_privacy.control, META.json, CHANGELOG.md and debian/changelog"
