#!/usr/bin/env bash
# Throwaway PostgreSQL for the store tests (TEST_DATABASE_URL).
#
#   scripts/postgres-test-server.sh [start] [DATA_DIR]   start (or reuse) the server;
#                                                        prints TEST_DATABASE_URL=… on stdout
#   scripts/postgres-test-server.sh stop    [DATA_DIR]   stop it (data is kept)
#   scripts/postgres-test-server.sh status  [DATA_DIR]   exit 0 if running
#
# DATA_DIR defaults to $PGDATA_DIR, else ~/.cache/easyenclave/pgdata-test.
# PGPORT (default 55432) selects the TCP port; the server listens on 127.0.0.1 only,
# puts its unix socket in DATA_DIR, and trusts every local connection (test use only).
# fsync is off: the data is disposable.
#
# Binaries: initdb/pg_ctl/pg_isready from PATH or /usr/lib/postgresql/<newest>/bin.
# When missing, Debian/Ubuntu's `postgresql` package is installed with apt-get (as root,
# or through passwordless sudo). When run as root the server runs as user `postgres`
# (PostgreSQL refuses to run as root) and DATA_DIR is chowned to it.
#
# Everything but the final TEST_DATABASE_URL line goes to stderr.
set -euo pipefail

log() { printf '[pg-test] %s\n' "$*" >&2; }
die() { printf '[pg-test] error: %s\n' "$*" >&2; exit 1; }

cmd=start
case "${1:-}" in
  start | stop | status) cmd=$1; shift ;;
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
esac
[[ $# -le 1 ]] || die "usage: $0 [start|stop|status] [DATA_DIR]"

PORT=${PGPORT:-55432}
[[ $PORT =~ ^[0-9]+$ ]] || die "PGPORT must be a number, got '$PORT'"
DEFAULT_DIR="${HOME:-/root}/.cache/easyenclave/pgdata-test"
if [[ -n ${1:-} ]]; then
  DATA=$1; EXPLICIT_DIR=1
elif [[ -n ${PGDATA_DIR:-} ]]; then
  DATA=$PGDATA_DIR; EXPLICIT_DIR=1
else
  DATA=$DEFAULT_DIR; EXPLICIT_DIR=0
fi

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

# ---------------------------------------------------------------- binaries
find_bindir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return 0
  fi
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then
    echo "$d"
    return 0
  fi
  return 1
}

install_postgres() {
  local sudo=()
  if [[ $IS_ROOT -eq 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      die "PostgreSQL (initdb, pg_ctl) not found. Install it, e.g. 'sudo apt-get install -y postgresql' (Debian/Ubuntu) or 'brew install postgresql' (macOS), or put its bin directory on PATH."
    fi
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "PostgreSQL (initdb, pg_ctl) not found and apt-get is unavailable; install PostgreSQL and put its bin directory on PATH."
  log "PostgreSQL not found; installing Debian's postgresql package (apt-get update && apt-get install -y postgresql)"
  local start=$SECONDS
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
  log "installed PostgreSQL in $((SECONDS - start))s"
}

BINDIR=$(find_bindir || true)
if [[ -z $BINDIR ]]; then
  [[ $cmd == start ]] || die "PostgreSQL binaries not found (nothing to $cmd)"
  install_postgres
  BINDIR=$(find_bindir || true)
  [[ -n $BINDIR ]] || die "installed postgresql but still cannot find initdb/pg_ctl"
fi
INITDB=$BINDIR/initdb
PG_CTL=$BINDIR/pg_ctl
PG_ISREADY=$BINDIR/pg_isready
[[ -x $PG_ISREADY ]] || PG_ISREADY=$(command -v pg_isready || true)
PG_MAJOR=$("$PG_CTL" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')
log "using PostgreSQL $PG_MAJOR binaries in $BINDIR"

# ---------------------------------------------------------------- run-as
RUN_AS=()
if [[ $IS_ROOT -eq 1 ]]; then
  if ! id postgres >/dev/null 2>&1; then
    command -v useradd >/dev/null 2>&1 || die "running as root but there is no 'postgres' user and no useradd to create one"
    log "creating system user 'postgres'"
    useradd --system --user-group --no-create-home --home-dir "$BINDIR" --shell /usr/sbin/nologin postgres
  fi
  if command -v runuser >/dev/null 2>&1; then
    RUN_AS=(runuser -u postgres --)
  elif command -v setpriv >/dev/null 2>&1; then
    RUN_AS=(setpriv "--reuid=$(id -u postgres)" "--regid=$(id -g postgres)" --init-groups --)
  else
    die "running as root but neither runuser nor setpriv is available to drop to user 'postgres'"
  fi
fi
as_pg() { "${RUN_AS[@]}" "$@"; }

# As root, the postgres user must be able to reach DATA. A default under a private home
# (/root is 0700) is not reachable, so fall back to a fixed place under /var/tmp.
if [[ $IS_ROOT -eq 1 ]]; then
  parent=$(dirname "$DATA")
  mkdir -p "$parent"
  if ! as_pg test -x "$parent"; then
    if [[ $EXPLICIT_DIR -eq 1 ]]; then
      die "user 'postgres' cannot reach $parent (check the permissions of its ancestors); choose a DATA_DIR it can reach, e.g. under /var/tmp"
    fi
    DATA=/var/tmp/easyenclave-pgdata-test
    log "user 'postgres' cannot reach $parent; using $DATA instead"
  fi
fi
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd -P)

# ---------------------------------------------------------------- helpers
is_running() { as_pg "$PG_CTL" -D "$DATA" status >/dev/null 2>&1; }
running_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true; }
url() { echo "TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/postgres"; }

stop_server() {
  if is_running; then
    log "stopping PostgreSQL in $DATA"
    as_pg "$PG_CTL" -D "$DATA" -m fast -w -t 60 stop >&2
  else
    log "no PostgreSQL running in $DATA"
  fi
}

wait_ready() {
  local i
  for ((i = 0; i < 60; i++)); do
    if [[ -n $PG_ISREADY ]]; then
      "$PG_ISREADY" -q -h 127.0.0.1 -p "$PORT" -U postgres -t 2 && return 0
    else
      (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    fi
    sleep 0.5
  done
  return 1
}

# ---------------------------------------------------------------- commands
case $cmd in
  status)
    if is_running; then
      log "running in $DATA on port $(running_port)"
      exit 0
    fi
    log "not running ($DATA)"
    exit 3
    ;;
  stop)
    stop_server
    exit 0
    ;;
esac

# start
if [[ $IS_ROOT -eq 1 ]]; then chown postgres:postgres "$DATA"; fi
chmod 700 "$DATA"

if [[ -f $DATA/PG_VERSION && $(cat "$DATA/PG_VERSION") != "$PG_MAJOR" ]]; then
  log "data dir $DATA was made by PostgreSQL $(cat "$DATA/PG_VERSION"), binaries are $PG_MAJOR; re-initialising (test data is disposable)"
  stop_server || true
  find "$DATA" -mindepth 1 -delete
fi

if [[ ! -f $DATA/PG_VERSION ]]; then
  if [[ -n $(ls -A "$DATA") ]]; then
    die "$DATA is not empty and holds no PostgreSQL cluster; remove it or choose another DATA_DIR"
  fi
  log "initdb into $DATA"
  if ! out=$(as_pg "$INITDB" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C 2>&1); then
    printf '%s\n' "$out" >&2
    die "initdb failed"
  fi
fi

# Settings live in an included file rewritten on every start, so PGPORT may change.
conf_line="include_if_exists = 'easyenclave-test.conf'"
grep -qxF "$conf_line" "$DATA/postgresql.conf" || echo "$conf_line" >>"$DATA/postgresql.conf"
# A unix socket path is limited to ~107 bytes; with a deep DATA_DIR use TCP only.
socket_dir=$DATA
if (( ${#DATA} + 20 > 100 )); then
  log "data dir path too long for a unix socket; listening on TCP only"
  socket_dir=""
fi
desired_conf="# written by scripts/postgres-test-server.sh
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200"
cat >"$DATA/easyenclave-test.conf" <<<"$desired_conf"
if [[ $IS_ROOT -eq 1 ]]; then chown postgres:postgres "$DATA/easyenclave-test.conf" "$DATA/postgresql.conf"; fi

if is_running; then
  if [[ $(running_port) == "$PORT" ]]; then
    log "already running in $DATA on port $PORT; reusing it"
    wait_ready || die "server in $DATA does not answer on 127.0.0.1:$PORT"
    url
    exit 0
  fi
  log "running in $DATA on port $(running_port), wanted $PORT; restarting"
  stop_server
fi

if [[ -f $DATA/postmaster.pid ]]; then
  log "removing stale $DATA/postmaster.pid (its process is gone)"
  rm -f "$DATA/postmaster.pid"
fi

log "starting PostgreSQL on 127.0.0.1:$PORT (log: $DATA/server.log)"
if ! as_pg "$PG_CTL" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >&2; then
  log "start failed; last lines of $DATA/server.log:"
  tail -n 20 "$DATA/server.log" >&2 || true
  exit 1
fi
wait_ready || die "PostgreSQL started but 127.0.0.1:$PORT does not accept connections (see $DATA/server.log)"
log "ready"
url
