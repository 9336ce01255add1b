#!/usr/bin/env bash
# Bring up the scale-out topology on one machine and send one click through all of it:
#
#   load balancer role → 2 × `linkhop redirect`, 1 × `linkhop api`, 1 × `linkhop worker`
#   PostgreSQL (transactional store) · Redis (cache, invalidation, click stream)
#   ClickHouse HTTP interface (here: the chDB-backed development server from tests/chshim)
#
# Needs: the repository checked out with `.venv` installed (`./dev test` or `./dev run` made
# it), PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379. Production swaps the chDB
# development server for a real ClickHouse server (docs/cluster.md) — nothing else changes.
#
#   deploy/local/scale-out.sh            # runs, prints what happened, then waits (Ctrl-C stops)
#   SCALE_OUT_EXIT=1 deploy/local/scale-out.sh   # stop everything after the click (tests)
#
# Ports and names can be overridden: API_PORT, REDIRECT_PORTS ("8082 8083"), WORKER_PORT,
# CLICKHOUSE_PORT, PG_DSN (libpq URL of a server where a database may be created), PG_DB,
# REDIS_URL, WORK (folder for data and logs).
set -euo pipefail
cd "$(dirname "$0")/../.."

API_PORT="${API_PORT:-8081}"
REDIRECT_PORTS="${REDIRECT_PORTS:-8082 8083}"
WORKER_PORT="${WORKER_PORT:-9101}"
CLICKHOUSE_PORT="${CLICKHOUSE_PORT:-8123}"
PG_DSN="${PG_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}"
PG_DB="${PG_DB:-linkhop_demo}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
WORK="${WORK:-$(mktemp -d -t linkhop-scale-out.XXXXXX)}"
PY=.venv/bin/python
LINKHOP=(.venv/bin/linkhop)
PIDS=()

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_http() {  # URL: poll until it answers 200 (30 s)
  for _ in $(seq 300); do
    if "$PY" -c "import sys,httpx; sys.exit(httpx.get('$1', timeout=1).status_code != 200)" \
      2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $1 (logs in $WORK)" >&2
  return 1
}

mkdir -p "$WORK"
say "work folder: $WORK"

say "PostgreSQL: fresh database $PG_DB"
psql "$PG_DSN" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null
PG_HOSTPART="${PG_DSN#postgresql://}"
PG_HOSTPART="${PG_HOSTPART%/*}"

say "analytics: chDB behind the ClickHouse HTTP interface on :$CLICKHOUSE_PORT"
"$PY" -m tests.chshim.server --port "$CLICKHOUSE_PORT" --path "$WORK/clickhouse" \
  >"$WORK/clickhouse.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$CLICKHOUSE_PORT/ping"

# One configuration shared by every process of the site (as an env file would be in production).
export LINKHOP_DATABASE_URL="postgresql+asyncpg://$PG_HOSTPART/$PG_DB"
export LINKHOP_REDIS_URL="$REDIS_URL"
export LINKHOP_CLICKHOUSE_URL="http://127.0.0.1:$CLICKHOUSE_PORT/"
export LINKHOP_CLICKHOUSE_DATABASE="${LINKHOP_CLICKHOUSE_DATABASE:-linkhop_demo}"
export LINKHOP_SECRET_KEY="${LINKHOP_SECRET_KEY:-demo-secret-key-change-me-0123456789abcdef}"
export LINKHOP_DEFAULT_DOMAIN="127.0.0.1:$API_PORT"
export LINKHOP_CLICK_STREAM="${LINKHOP_CLICK_STREAM:-linkhop:demo:clicks}"
export LINKHOP_DATA_DIR="$WORK/data"

say "migrations (PostgreSQL and ClickHouse)"
"${LINKHOP[@]}" migrate

say "api on :$API_PORT"
LINKHOP_PORT="$API_PORT" "${LINKHOP[@]}" api >"$WORK/api.log" 2>&1 &
PIDS+=($!)
for port in $REDIRECT_PORTS; do
  say "redirect replica on :$port"
  LINKHOP_PORT="$port" LINKHOP_SPOOL_DIR="$WORK/spool-$port" \
    "${LINKHOP[@]}" redirect >"$WORK/redirect-$port.log" 2>&1 &
  PIDS+=($!)
done
say "worker (health and metrics on :$WORKER_PORT)"
LINKHOP_WORKER_PORT="$WORKER_PORT" LINKHOP_SPOOL_DIR="$WORK/spool-worker" \
  "${LINKHOP[@]}" worker >"$WORK/worker.log" 2>&1 &
PIDS+=($!)

wait_http "http://127.0.0.1:$API_PORT/readyz"
for port in $REDIRECT_PORTS; do wait_http "http://127.0.0.1:$port/readyz"; done
wait_http "http://127.0.0.1:$WORKER_PORT/readyz"

say "an account and an API key"
"${LINKHOP[@]}" users create --email demo@example.com --password 'correct horse battery' \
  --org Demo >/dev/null
KEY="$("${LINKHOP[@]}" keys create --email demo@example.com --org Demo \
  --scopes links:read,links:write,analytics:read | tail -1)"

say "a link, created through the api"
SHORT="$("$PY" - "$API_PORT" "$KEY" <<'EOF'
import sys, httpx
port, key = sys.argv[1], sys.argv[2]
r = httpx.post(f"http://127.0.0.1:{port}/api/v1/links",
               headers={"Authorization": f"Bearer {key}"},
               json={"url": "https://example.com/scale-out", "key": "demo"})
r.raise_for_status()
print(r.json()["short_url"])
EOF
)"
echo "short link: $SHORT"

say "one click on each redirect replica"
for port in $REDIRECT_PORTS; do
  "$PY" - "$port" "$API_PORT" <<'EOF'
import sys, httpx
port, api_port = sys.argv[1], sys.argv[2]
r = httpx.get(f"http://127.0.0.1:{port}/demo",
              headers={"host": f"127.0.0.1:{api_port}",
                       "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"})
print(f"replica :{port} → {r.status_code} {r.headers.get('location')}")
assert r.status_code == 302, r.text
EOF
done

say "analytics through the api (the worker moved the clicks from Redis into ClickHouse)"
"$PY" - "$API_PORT" "$KEY" "$REDIRECT_PORTS" <<'EOF'
import sys, time, httpx
port, key, replicas = sys.argv[1], sys.argv[2], sys.argv[3].split()
expected = len(replicas)
deadline = time.monotonic() + 30
clicks = 0
while time.monotonic() < deadline:
    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/analytics",
                  headers={"Authorization": f"Bearer {key}"}, params={"group_by": "count"})
    r.raise_for_status()
    clicks = r.json()["clicks"]
    if clicks >= expected:
        break
    time.sleep(0.2)
print(f"clicks recorded: {clicks} (expected {expected})")
sys.exit(0 if clicks == expected else 1)
EOF

say "all good: api http://127.0.0.1:$API_PORT/api/v1/docs · logs in $WORK"
if [ -z "${SCALE_OUT_EXIT:-}" ]; then
  echo "Ctrl-C stops every process."
  wait
fi
