#!/usr/bin/env bash
# The SCIM benchmark of issue 3, on a fresh database: `loadgen/bench.sh sqlite` or
# `loadgen/bench.sh postgres` (PostgreSQL at $PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres).
# BIG=1 also loads 100,000 users and a 100,000-member group and measures again.
# `loadgen/bench.sh postgres create` runs only the create comparison (issue 14 §3): `wrk` posting
# creates to the bridge, then `pgbench` doing the database work of a create (a user and its
# outbox row in one transaction, loadgen/pgbench-create.sql) on the same database with as many
# clients, and prints both and their ratio. On PostgreSQL the bridge then gets as many database connections,
# all of them for writes, as `pgbench` has clients (DB_POOL_SIZE=DB_MAX_WRITES_IN_FLIGHT=
# CONNECTIONS, unless set): on PostgreSQL a create's time is mostly its commit's WAL flush, which
# concurrent commits share, so the default pool (8, 6 for writes) against 32 pgbench clients
# would compare 6 commits in flight with 32. Needs `wrk` (and `pgbench` for PostgreSQL):
# `apt-get install wrk postgresql-client`.
# Builds release binaries of the bridge and the load generator (not part of the normal build).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
scenario=${2:-all}
conns=${CONNECTIONS:-32}
secs=${SECONDS_PER_RUN:-10}
port=${PORT:-18080}
cargo build --release -q -p zenqms-bridge -p loadgen
bin=target/release/zenqms-bridge
lg=target/release/loadgen
dir=$(mktemp -d)
pg_admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
dbname="zqb_bench_$$"
case "$backend" in
  sqlite) db="sqlite://$dir/bench.db" ;;
  postgres)
    psql "$pg_admin" -qc "CREATE DATABASE $dbname" >/dev/null
    db="${pg_admin%/*}/$dbname" ;;
  *) echo "usage: $0 sqlite|postgres [all|create]" >&2; exit 2 ;;
esac
export DATABASE_URL="$db" DATA_DIR="$dir" BIND_ADDR="127.0.0.1:$port" RUST_LOG=${RUST_LOG:-warn}
if [ "$scenario" = create ] && [ "$backend" = postgres ]; then
  export DB_POOL_SIZE=${DB_POOL_SIZE:-$conns}
  export DB_MAX_WRITES_IN_FLIGHT=${DB_MAX_WRITES_IN_FLIGHT:-$DB_POOL_SIZE}
else
  export DB_POOL_SIZE=${DB_POOL_SIZE:-8}
fi
token=$("$bin" token create --name bench --scope scim 2>/dev/null | tail -n 1)
"$bin" serve 2>"$dir/serve.log" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$backend" = postgres ]; then psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
L() { "$lg" --base "http://127.0.0.1:$port" --token "$token" --connections "$conns" --seconds "$secs" "$@"; }
echo "== $backend, $conns connections, ${secs}s per run, pool $DB_POOL_SIZE (writes in flight: ${DB_MAX_WRITES_IN_FLIGHT:-3/4 of it}), $(nproc) cores (load generator on the same machine)"
L seed-users --count 2000 >/dev/null

# Creates measured by wrk, beside what PostgreSQL serves for the same rows (pgbench, same
# database, same number of clients, right after): the ratio says how much of the database's
# speed the bridge's create path uses.
compare_create() {
  if ! command -v wrk >/dev/null; then
    echo "-- create comparison skipped: wrk is not installed (apt-get install wrk)"
    return
  fi
  local line rps p99 tps
  line=$(wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s -s loadgen/wrk-create.lua \
    "http://127.0.0.1:$port" -- "$token" | grep '^WRK_CREATE')
  echo "$line"
  rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")
  p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
  if [ "$backend" != postgres ]; then
    echo "== creates: bridge $rps/s, p99 $p99 ms (wrk)"
    return
  fi
  if ! command -v pgbench >/dev/null; then
    echo "-- pgbench comparison skipped: pgbench is not installed (apt-get install postgresql-client)"
    return
  fi
  local out
  out=$(pgbench -n -M prepared -c "$conns" -j 2 -T "$secs" -f loadgen/pgbench-create.sql "$db" 2>&1) || true
  tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)/\1/p' <<<"$out")
  if [ -z "$tps" ]; then
    echo "-- pgbench failed:"; tail -n 5 <<<"$out"
    return
  fi
  echo "PGBENCH_CREATE tps=$tps"
  awk -v r="$rps" -v p="$p99" -v t="$tps" 'BEGIN {
    printf "== creates side by side: bridge %.0f/s (p99 %.1f ms, wrk) | pgbench %.0f tps | ratio %.2f x\n", r, p, t, r / t }'
  echo "   (bridge: pool $DB_POOL_SIZE, writes in flight ${DB_MAX_WRITES_IN_FLIGHT:-3/4 of the pool}; pgbench: $conns clients)"
}

if [ "$scenario" = create ] && [ "$backend" = postgres ]; then
  compare_create
  exit 0
fi
L create
compare_create
L get
L filter
L patch-members
L patch-members --one-group
L once-patch-1000
if [ "${BIG:-0}" = 1 ]; then
  have=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/scim/v2/Users?count=0" | sed -E 's/.*"totalResults":([0-9]+).*/\1/')
  need=$((100000 - have))
  if [ "$need" -gt 0 ]; then echo "-- loading $need more users"; L seed-users --count "$need"; fi
  echo "-- a group of 100,000 members"
  group=$(L big-group --members 100000)
  echo "== with $(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/scim/v2/Users?count=0" | sed -E 's/.*"totalResults":([0-9]+).*/\1/') users and a 100,000-member group"
  L create
  L get
  L filter
  L patch-members
  L once-patch-1000
  L get-group --group "$group"
  L once-get-group-full --group "$group"
fi
