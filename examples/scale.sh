#!/usr/bin/env bash
# The scale benchmark (docs/PERFORMANCE.md, "How cost grows"): the same
# load against an empty database and against one seeded with 5 million
# responses for 200,000 patients, each beside raw SQLite baselines measured
# in the same run; start-up time, CSV export of 1 million rows (time and
# peak memory) and bytes per stored response.
#
#   bash examples/scale.sh [DIR]      (default target/scale; needs ~15 GB)
#
# Seeding takes about 7 minutes on the 2-core build machine; a seeded
# database in DIR is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-target/scale}
mkdir -p "$dir"
cargo build --release --locked --bins --examples
prom=./target/release/prom
load=./target/release/examples/load

if [ ! -f "$dir/big.db" ]; then
  "$load" --db "$dir/big.db" --seed-responses 5000000 --seed-patients 200000 | tee "$dir/seed.txt"
fi

# Starts prom serve on $1 at port $2, prints the seconds until it listens.
start() {
  local t0 t1
  t0=$(date +%s.%N)
  "$prom" serve --db "$1" --listen "127.0.0.1:$2" --mail-dir "$dir/mail" > "$dir/serve-$2.out" 2> "$dir/serve-$2.err" &
  pid=$!
  until grep -q "listening" "$dir/serve-$2.out" 2>/dev/null; do
    kill -0 "$pid" || { cat "$dir/serve-$2.err"; exit 1; }
    sleep 0.05
  done
  t1=$(date +%s.%N)
  echo "start-up: $(echo "$t1 - $t0" | bc) s"
}

for run in empty big; do
  db="$dir/$run.db"
  [ "$run" = empty ] && rm -f "$db" "$db"-wal "$db"-shm "$db".audit-key "$db".audit-head
  echo "== $run database"
  start "$db" 18090
  "$load" --url http://127.0.0.1:18090 --db "$db" --concurrency 64 --seconds 20 --pid "$pid" --queries 300
  kill "$pid"; wait "$pid" || true
done

echo "== CSV export of 1 million GAD-7 responses"
python3 - "$prom" "$dir" <<'PY'
import resource, subprocess, sys, time
prom, d = sys.argv[1], sys.argv[2]
t = time.time()
subprocess.run([prom, "export", "--questionnaire", "gad7", "--format", "csv",
                "--out", f"{d}/gad7.csv", "--db", f"{d}/big.db"], check=True)
secs = time.time() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
rows = sum(1 for _ in open(f"{d}/gad7.csv")) - 1
print(f"exported {rows} rows in {secs:.1f} s, peak memory {peak:.1f} MiB")
PY
ls -l "$dir"/big.db
