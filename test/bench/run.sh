#!/usr/bin/env bash
# make bench: measured side by side in one run, printed as ratios.
# Runs as the cluster's OS user against the throwaway cluster set up by
# test/run.sh (PGHOST/PGPORT are set).  BENCH_SCALE picks the telephony
# data set's scale (200 = 1M CDRs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
SCALE=${BENCH_SCALE:-200}
DIR=${BENCH_DIR:-$SRC/bench-data}
mkdir -p "$DIR"
rm -f "$DIR/erasures.ledger"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d postgres)

echo "==> loading the telephony data set (scale $SCALE)"
"${PSQL[@]}" -f "$SRC/test/data/telephony.sql" >/dev/null
"${PSQL[@]}" -c "SELECT * FROM telco.generate(42, $SCALE)" -P footer=off
"${PSQL[@]}" -f "$HERE/setup.sql" -v csv="$DIR/cdr.csv" >/dev/null

# BENCH_ONLY=60_subject (a file name's beginning) runs that part alone.
for part in "$HERE"/[0-9]*.sql; do
  case "$(basename "$part")" in "${BENCH_ONLY:-}"*) ;; *) continue ;; esac
  "${PSQL[@]}" -v csv="$DIR/cdr.csv" -v ledger="$DIR/erasures.ledger" -f "$part"
done
