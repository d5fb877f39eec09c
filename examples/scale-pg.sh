#!/usr/bin/env bash
# The scale benchmark on PostgreSQL (docs/PERFORMANCE.md, "How cost grows
# on PostgreSQL"): the same load against an empty PostgreSQL database and
# against one holding 5 million responses for 200,000 patients, each beside
# the raw PostgreSQL baseline measured in the same run.
#
#   bash examples/scale-pg.sh [DIR] [PGURL]
#
# DIR (default target/scale) holds the seeded SQLite file `big.db` (made
# as `examples/scale.sh` makes it when missing, about 8 minutes); it is
# moved into PostgreSQL with `prom migrate-db` (the deployment move), timed.
# PGURL names the server (default: host=127.0.0.1 user=postgres); the
# databases prom_scale_empty and prom_scale_big are made again there.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-target/scale}
server=${2:-host=127.0.0.1 user=postgres}
mkdir -p "$dir"
cargo build --release --locked --bins --examples
prom=./target/release/prom
load=./target/release/examples/load

if [ ! -f "$dir/big.db" ]; then
  "$load" --db "$dir/big.db" --seed-responses 5000000 --seed-patients 200000 | tee "$dir/seed.txt"
fi

sql() { psql "$server dbname=test" -v ON_ERROR_STOP=1 -qAtc "$1"; }

for run in empty big; do
  sql "DROP DATABASE IF EXISTS prom_scale_$run WITH (FORCE)"
  sql "CREATE DATABASE prom_scale_$run"
  rm -rf "$dir/pg-$run"
  mkdir -p "$dir/pg-$run"
done

echo "== moving big.db into PostgreSQL (prom migrate-db)"
t0=$(date +%s.%N)
# The audit key goes with it, where `serve --db $dir/pg-big/prom.db` looks.
"$prom" migrate-db --from "sqlite:$dir/big.db" --to "$server dbname=prom_scale_big" \
  --state "$dir/pg-big/postgres" | tail -1
t1=$(date +%s.%N)
echo "migrate-db: $(echo "$t1 - $t0" | bc) s"

for run in empty big; do
  url="$server dbname=prom_scale_$run"
  state="$dir/pg-$run"
  echo "== $run database"
  t0=$(date +%s.%N)
  "$prom" serve --database "$url" --db "$state/prom.db" --listen 127.0.0.1:18091 \
    --mail-dir "$state/mail" > "$state/serve.out" 2> "$state/serve.err" &
  pid=$!
  until grep -q "listening" "$state/serve.out" 2>/dev/null; do
    kill -0 "$pid" || { cat "$state/serve.err"; exit 1; }
    sleep 0.05
  done
  t1=$(date +%s.%N)
  echo "start-up: $(echo "$t1 - $t0" | bc) s"
  "$load" --url http://127.0.0.1:18091 --database "$url" --db "$state/prom.db" \
    --concurrency 64 --seconds 20 --pid "$pid" --queries 300
  kill "$pid"
  wait "$pid" || true
  "$prom" audit verify --database "$url" --db "$state/prom.db" | tail -1
  echo "database size: $(psql "$url" -qAtc "SELECT pg_size_pretty(pg_database_size(current_database()))")"
done
