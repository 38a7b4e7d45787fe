#!/usr/bin/env bash
# Install (only what is missing) and run, on 127.0.0.1, the real services the schedkit
# tests need: PostgreSQL, FerretDB v1 (MongoDB wire protocol), Redis and Chromium (with
# a CJK font, so that the console's Chinese text renders in tests and screenshots).
#
#   scripts/services.sh start    install what is missing, start what is down, wait until ready
#   scripts/services.sh stop     stop PostgreSQL, FerretDB and Redis
#   scripts/services.sh status   one line per service; exits non-zero if any is down
#   scripts/services.sh env      print only `export SCHEDKIT_TEST_...=...` lines, for eval
#   scripts/services.sh chromium install only Chromium and a CJK font (make screenshots)
#
# Every command is idempotent; `start` when everything is up takes about a second.
# Progress messages go to stderr, so stdout of `env` is safe to eval.
#
# Settings (environment):
#   SCHEDKIT_SERVICES_DIR      state dir: FerretDB data, logs, pid files
#                              (default /var/tmp/schedkit-services)
#   SCHEDKIT_SERVICES_TIMEOUT  seconds to wait for each service to become ready (default 60)
#   SCHEDKIT_FERRETDB_LOG_LEVEL  FerretDB log level: DEBUG, INFO, WARN, ERROR (default ERROR)
set -euo pipefail

STATE_DIR=${SCHEDKIT_SERVICES_DIR:-/var/tmp/schedkit-services}
TIMEOUT=${SCHEDKIT_SERVICES_TIMEOUT:-60}

HOST=127.0.0.1
PG_PORT=5432
PG_USER=schedkit
PG_PASSWORD=schedkit
MONGO_PORT=27017
REDIS_PORT=6379
CHROMIUM=/usr/bin/chromium
CJK_FONT_PACKAGE=fonts-noto-cjk

FERRETDB_MODULE=github.com/FerretDB/FerretDB
FERRETDB_VERSION=v1.24.2
FERRETDB_DIR=$STATE_DIR/ferretdb
FERRETDB_LOG=$FERRETDB_DIR/ferretdb.log
FERRETDB_PID=$FERRETDB_DIR/ferretdb.pid
REDIS_DIR=$STATE_DIR/redis

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_PYTHON=$REPO_ROOT/.venv/bin/python

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

# Print the last lines of a log file to stderr (used before failing).
log_tail() {
    local file=$1
    if [[ -r $file ]]; then
        printf -- '----- last lines of %s -----\n' "$file" >&2
        tail -n 40 "$file" >&2 || true
        printf -- '-----\n' >&2
    else
        printf 'services: (no log at %s)\n' "$file" >&2
    fi
}

# Run a command as root (directly, or through sudo when not root).
as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# Run a command as the postgres OS user (peer authentication on the local socket).
as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# Wait up to $TIMEOUT seconds for "$@" to succeed.
wait_for() {
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

APT_UPDATED=0
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    # Wait for another apt/dpkg run (e.g. unattended upgrades) instead of failing on its lock.
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)
    if ((APT_UPDATED == 0)); then
        log "apt-get update"
        as_root "${apt[@]}" update >&2
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    as_root "${apt[@]}" install --no-install-recommends "$@" >&2
}

# ---------------------------------------------------------------- PostgreSQL

pg_version() {
    # The newest installed major version that has a `main` cluster, else the newest installed.
    local v
    v=$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main" {print $1}' | sort -n | tail -n 1) || true
    # shellcheck disable=SC2012  # entries are plain version numbers
    [[ -n $v ]] || v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1) || true
    [[ -n $v ]] || die "no PostgreSQL server found under /usr/lib/postgresql"
    echo "$v"
}

pg_log() { echo "/var/log/postgresql/postgresql-$(pg_version)-main.log"; }

pg_ready() { pg_isready -q -h "$HOST" -p "$PG_PORT"; }

pg_login_works() {
    local out
    out=$(PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -h "$HOST" -p "$PG_PORT" \
        -U "$PG_USER" -d postgres -X -tAc 'SELECT 1' 2>/dev/null) && [[ $out == 1 ]]
}

pg_role_exists() {
    local out
    out=$(as_postgres psql -X -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'") &&
        [[ $out == 1 ]]
}

postgres_start() {
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    local ver
    ver=$(pg_version)
    if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" {f = 1} END {exit !f}'; then
        log "creating PostgreSQL $ver cluster 'main'"
        as_root pg_createcluster --port "$PG_PORT" "$ver" main >&2
    fi
    if ! pg_ready; then
        log "starting PostgreSQL $ver"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 ||
            { log_tail "$(pg_log)"; die "PostgreSQL $ver did not start"; }
        wait_for pg_ready ||
            { log_tail "$(pg_log)"; die "PostgreSQL not ready on $HOST:$PG_PORT after ${TIMEOUT}s"; }
    fi
    if ! pg_role_exists; then
        log "creating PostgreSQL superuser role $PG_USER"
        as_postgres psql -X -q -v ON_ERROR_STOP=1 \
            -c "CREATE ROLE $PG_USER WITH LOGIN SUPERUSER PASSWORD '$PG_PASSWORD'" >&2
    fi
    # Password login over TCP (Debian's pg_hba.conf allows scram-sha-256 from 127.0.0.1/32).
    pg_login_works || {
        log_tail "$(pg_log)"
        die "password login as $PG_USER on $HOST:$PG_PORT fails; check pg_hba.conf (needs a" \
            "'host all all 127.0.0.1/32 scram-sha-256' line) and the role's password"
    }
    log "PostgreSQL $ver ready on $HOST:$PG_PORT"
}

postgres_stop() {
    command -v pg_ctlcluster >/dev/null || return 0
    local ver
    ver=$(pg_version)
    if pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" && $4 == "online" {f = 1} END {exit !f}'; then
        log "stopping PostgreSQL $ver"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main stop >&2
    fi
}

# ---------------------------------------------------------------- FerretDB

# A `ferretdb` v1 binary that actually runs, from PATH or $(go env GOPATH)/bin; empty if none.
ferretdb_bin() {
    local candidates=() c version
    c=$(command -v ferretdb 2>/dev/null) && candidates+=("$c")
    if command -v go >/dev/null; then
        candidates+=("$(go env GOBIN)/ferretdb" "$(go env GOPATH)/bin/ferretdb")
    fi
    for c in "${candidates[@]}"; do
        [[ -x $c ]] || continue
        # A plain `go install ...@v1.24.2` binary panics at start-up (no version.txt), so
        # only accept one whose --version runs and reports v1.x.
        if version=$("$c" --version 2>/dev/null) && [[ $version == "version: v1."* ]]; then
            echo "$c"
            return 0
        fi
    done
    return 0
}

# Build FerretDB v1 into $(go env GOPATH)/bin (or GOBIN).
# Not `go install module@version`: FerretDB's build/version package panics at start-up
# unless build/version/version.txt exists, and the module zip does not ship it. So build
# from a copy of the module source with that file written.
ferretdb_build() {
    command -v go >/dev/null ||
        die "Go is needed to build FerretDB ($FERRETDB_MODULE@$FERRETDB_VERSION); install Go >= 1.22"
    local bindir moddir src
    bindir=$(go env GOBIN)
    [[ -n $bindir ]] || bindir=$(go env GOPATH)/bin
    log "building FerretDB $FERRETDB_VERSION into $bindir (a few minutes on a cold Go cache)"
    src=$(mktemp -d)
    moddir=$(cd "$src" && go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" |
        python3 -c 'import json, sys; print(json.load(sys.stdin).get("Dir", ""))') || true
    if [[ ! -d $moddir ]]; then
        rm -rf "$src"
        die "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed"
    fi
    cp -r "$moddir/." "$src"
    chmod -R u+w "$src"
    echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
    mkdir -p "$bindir"
    (cd "$src" && go build -o "$bindir/ferretdb" ./cmd/ferretdb) >&2 ||
        { rm -rf "$src"; die "building FerretDB failed"; }
    rm -rf "$src"
}

ferretdb_pid() {
    local pid
    [[ -r $FERRETDB_PID ]] || return 1
    pid=$(<"$FERRETDB_PID")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

mongo_ping() {
    if [[ -x $VENV_PYTHON ]] && "$VENV_PYTHON" -c 'import pymongo' 2>/dev/null; then
        "$VENV_PYTHON" - "mongodb://$HOST:$MONGO_PORT" <<'EOF'
import sys
import pymongo
client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=2000)
client.admin.command("ping")
client.close()
EOF
    else
        # No pymongo yet (first run before `make install`): is the port open?
        (exec 3<>"/dev/tcp/$HOST/$MONGO_PORT") 2>/dev/null
    fi
}

ferretdb_start() {
    if mongo_ping >/dev/null 2>&1; then
        log "FerretDB already answering on $HOST:$MONGO_PORT"
        return 0
    fi
    local bin
    bin=$(ferretdb_bin)
    if [[ -z $bin ]]; then
        ferretdb_build
        bin=$(ferretdb_bin)
        [[ -n $bin ]] || die "FerretDB was built but does not run: try \`$(go env GOPATH)/bin/ferretdb --version\`"
    fi
    mkdir -p "$FERRETDB_DIR/data"
    log "starting FerretDB ($bin) on $HOST:$MONGO_PORT, data in $FERRETDB_DIR/data"
    # --debug-addr=- : no metrics/pprof HTTP listener (its default port 8088 may be taken).
    nohup setsid "$bin" \
        --handler=sqlite \
        --sqlite-url="file:$FERRETDB_DIR/data/" \
        --listen-addr="$HOST:$MONGO_PORT" \
        --state-dir="$FERRETDB_DIR" \
        --debug-addr=- \
        --telemetry=disable \
        --log-level="${SCHEDKIT_FERRETDB_LOG_LEVEL:-ERROR}" \
        >>"$FERRETDB_LOG" 2>&1 </dev/null &
    local pid=$! deadline=$((SECONDS + TIMEOUT))
    echo "$pid" >"$FERRETDB_PID"
    until mongo_ping >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log_tail "$FERRETDB_LOG"
            die "FerretDB exited during start-up (is $HOST:$MONGO_PORT taken?)"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$FERRETDB_LOG"
            die "FerretDB not answering on $HOST:$MONGO_PORT after ${TIMEOUT}s"
        fi
        sleep 0.5
    done
    log "FerretDB ready on $HOST:$MONGO_PORT"
}

ferretdb_stop() {
    local pid
    if pid=$(ferretdb_pid); then
        log "stopping FerretDB (pid $pid)"
        kill "$pid"
        local deadline=$((SECONDS + 15))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    elif mongo_ping >/dev/null 2>&1; then
        log "something not started by this script answers on $HOST:$MONGO_PORT; leaving it alone"
    fi
    rm -f "$FERRETDB_PID"
}

# ---------------------------------------------------------------- Redis

redis_ping() { [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_start() {
    command -v redis-server >/dev/null || apt_install redis-server
    if redis_ping; then
        log "Redis already answering on $HOST:$REDIS_PORT"
        return 0
    fi
    mkdir -p "$REDIS_DIR"
    log "starting Redis on $HOST:$REDIS_PORT"
    # No persistence: test data only; --dir keeps any stray file out of the working directory.
    redis-server --daemonize yes --port "$REDIS_PORT" --bind "$HOST" \
        --dir "$REDIS_DIR" --logfile "$REDIS_DIR/redis.log" --pidfile "$REDIS_DIR/redis.pid" \
        --save '' --appendonly no >&2 ||
        { log_tail "$REDIS_DIR/redis.log"; die "redis-server failed to start"; }
    wait_for redis_ping || {
        log_tail "$REDIS_DIR/redis.log"
        die "Redis not answering on $HOST:$REDIS_PORT after ${TIMEOUT}s"
    }
    log "Redis ready on $HOST:$REDIS_PORT"
}

redis_stop() {
    if command -v redis-cli >/dev/null && redis_ping; then
        log "stopping Redis"
        redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------- Chromium

# A font with Chinese glyphs: without one, Chromium draws the console's 中文 as boxes.
cjk_font_present() {
    command -v fc-list >/dev/null && [[ -n $(fc-list :lang=zh family 2>/dev/null) ]]
}

chromium_check() {
    [[ -x $CHROMIUM ]] || apt_install chromium
    local version
    version=$("$CHROMIUM" --version 2>/dev/null) || die "$CHROMIUM --version fails"
    log "$version at $CHROMIUM"
    cjk_font_present || apt_install "$CJK_FONT_PACKAGE"
    cjk_font_present || die "no CJK font after installing $CJK_FONT_PACKAGE"
    log "CJK font: $(fc-list :lang=zh family | head -n 1)"
}

# ---------------------------------------------------------------- commands

cmd_start() {
    mkdir -p "$STATE_DIR"
    postgres_start
    redis_start
    chromium_check
    ferretdb_start # last: its readiness ping uses pymongo from .venv when present
}

cmd_stop() {
    ferretdb_stop
    redis_stop
    postgres_stop
}

cmd_status() {
    local rc=0
    if command -v pg_isready >/dev/null && pg_ready && pg_login_works; then
        echo "postgres  up    $HOST:$PG_PORT"
    else
        echo "postgres  DOWN  $HOST:$PG_PORT"; rc=1
    fi
    if mongo_ping >/dev/null 2>&1; then
        echo "ferretdb  up    $HOST:$MONGO_PORT"
    else
        echo "ferretdb  DOWN  $HOST:$MONGO_PORT"; rc=1
    fi
    if command -v redis-cli >/dev/null && redis_ping; then
        echo "redis     up    $HOST:$REDIS_PORT"
    else
        echo "redis     DOWN  $HOST:$REDIS_PORT"; rc=1
    fi
    if [[ -x $CHROMIUM ]]; then
        echo "chromium  ok    $CHROMIUM"
    else
        echo "chromium  MISSING $CHROMIUM"; rc=1
    fi
    if cjk_font_present; then
        echo "cjk-font  ok    $(fc-list :lang=zh family | head -n 1)"
    else
        echo "cjk-font  MISSING (apt-get install $CJK_FONT_PACKAGE)"; rc=1
    fi
    return "$rc"
}

cmd_env() {
    echo "export SCHEDKIT_TEST_POSTGRES_URL='postgresql://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/postgres'"
    echo "export SCHEDKIT_TEST_MONGO_URL='mongodb://$HOST:$MONGO_PORT'"
    echo "export SCHEDKIT_TEST_REDIS_URL='redis://$HOST:$REDIS_PORT/0'"
    echo "export SCHEDKIT_TEST_CHROMIUM='$CHROMIUM'"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
chromium) chromium_check ;;
*)
    echo "usage: $0 start|stop|status|env|chromium" >&2
    exit 2
    ;;
esac
