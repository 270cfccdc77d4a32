#!/usr/bin/env bash
# A throw-away local PostgreSQL server for tests (no Docker): Debian's packaged binaries, a fresh
# cluster in a directory of its own, reachable on 127.0.0.1 only, trust authentication.
#
# Usage: scripts/postgres.sh {ensure|start DIR PORT|stop DIR|status DIR}
#
#   ensure          print the bin dir of the newest PostgreSQL (/usr/lib/postgresql/*/bin, else
#                   pg_config --bindir, else initdb on PATH); install Debian's `postgresql`
#                   package with apt-get when there is none (needs root)
#   start DIR PORT  initialise a cluster in DIR/data once (superuser `postgres`, trust auth on
#                   127.0.0.1 only, fsync off), start it listening on 127.0.0.1:PORT with its
#                   unix socket in DIR, wait until it accepts connections, create database
#                   `wijkbrug`. Log: DIR/postgres.log.
#   stop DIR        fast shutdown (immediate if that does not finish in time)
#   status DIR      print running/stopped (exit 0/1)
#
# PostgreSQL refuses to run as root: as root, DIR is handed to the `postgres` OS user (created if
# missing) and the server runs as that user (runuser, or setpriv). Every directory above DIR must
# then be traversable by that user (e.g. somewhere under /tmp, not under a 0700 home).
#
# Environment (optional):
#   WIJKBRUG_PG_BIN            bin dir to use instead of searching
#   WIJKBRUG_PG_START_TIMEOUT  seconds to wait for readiness (default 60)
#   WIJKBRUG_PG_STOP_TIMEOUT   seconds to wait for a fast shutdown (default 30)
set -euo pipefail

START_TIMEOUT="${WIJKBRUG_PG_START_TIMEOUT:-60}"
STOP_TIMEOUT="${WIJKBRUG_PG_STOP_TIMEOUT:-30}"
HOST=127.0.0.1
DB=wijkbrug
SUPERUSER=postgres
OS_USER=postgres

log() { echo "postgres: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------- finding the binaries

find_bin() {
  local dir
  if [[ -n "${WIJKBRUG_PG_BIN:-}" ]]; then
    [[ -x "$WIJKBRUG_PG_BIN/initdb" ]] || die "WIJKBRUG_PG_BIN=$WIJKBRUG_PG_BIN has no initdb"
    echo "$WIJKBRUG_PG_BIN"
    return 0
  fi
  # Debian/Ubuntu: /usr/lib/postgresql/<major>/bin; the highest major wins.
  dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
    | sort -V | tail -n 1)"
  if [[ -n "$dir" ]]; then
    dirname -- "$dir"
    return 0
  fi
  if command -v pg_config >/dev/null 2>&1; then
    dir="$(pg_config --bindir 2>/dev/null || true)"
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
      echo "$dir"
      return 0
    fi
  fi
  if command -v initdb >/dev/null 2>&1; then
    dirname -- "$(command -v initdb)"
    return 0
  fi
  return 1
}

install_postgres() {
  command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL not found and apt-get is not available: install PostgreSQL 13+ by hand"
  [[ "$(id -u)" -eq 0 ]] \
    || die "PostgreSQL not found; installing it needs root: sudo apt-get install postgresql"
  log "PostgreSQL not found; installing Debian's postgresql package"
  local apt=(apt-get -qq -y --no-install-recommends
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" install postgresql >/dev/null 2>&1; then
    apt-get -qq update >/dev/null 2>&1 || die "apt-get update failed"
    "${apt[@]}" install postgresql >/dev/null || die "apt-get install postgresql failed"
  fi
}

ensure() {
  local bin tool
  if ! bin="$(find_bin)"; then
    install_postgres
    bin="$(find_bin)" || die "installed postgresql, but still no initdb found"
  fi
  for tool in initdb pg_ctl postgres pg_isready psql; do
    [[ -x "$bin/$tool" ]] || die "$bin/$tool is missing"
  done
  echo "$bin"
}

# ---------------------------------------------------------------- running as the right user

as_server_user() {
  if [[ "$(id -u)" -ne 0 ]]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$OS_USER" -- "$@"
  else
    setpriv --reuid="$OS_USER" --regid="$OS_USER" --init-groups -- "$@"
  fi
}

ensure_os_user() {
  [[ "$(id -u)" -eq 0 ]] || return 0
  id -u "$OS_USER" >/dev/null 2>&1 && return 0
  log "creating OS user $OS_USER (PostgreSQL refuses to run as root)"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$OS_USER" \
    || die "could not create OS user $OS_USER"
}

# ---------------------------------------------------------------- commands

absolute_dir() {
  [[ -n "$1" ]] || die "DIR must not be empty"
  mkdir -p -- "$1"
  (cd -- "$1" && pwd -P)
}

# Single-quoted value for postgresql.conf.
conf_quote() {
  local value="${1//\'/\'\'}"
  printf "'%s'" "$value"
}

is_running() {
  local bin="$1" data="$2"
  [[ -f "$data/postmaster.pid" ]] || return 1
  as_server_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
  (($# == 2)) || die "usage: $0 start DIR PORT"
  local dir port bin data logfile socket_dir
  if [[ ! "$2" =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65535)); then
    die "PORT must be a TCP port number"
  fi
  port="$2"
  bin="$(ensure)"
  dir="$(absolute_dir "$1")"
  data="$dir/data"
  logfile="$dir/postgres.log"
  cd /  # the server user may not be allowed into the current directory

  ensure_os_user
  if [[ "$(id -u)" -eq 0 ]]; then
    chown "$OS_USER:" "$dir"
    chmod 0700 "$dir"
    as_server_user test -w "$dir" \
      || die "user $OS_USER cannot reach $dir: every directory above it must be traversable (o+x)"
  fi
  echo "$bin" >"$dir/bindir"

  if is_running "$bin" "$data"; then
    grep -qx "port = $port" "$data/wijkbrug.conf" 2>/dev/null \
      || die "a server is already running in $dir on another port; stop it first"
    log "already running in $dir"
    return 0
  fi

  if [[ ! -f "$data/PG_VERSION" ]]; then
    rm -rf -- "$data"
    as_server_user "$bin/initdb" -D "$data" -U "$SUPERUSER" -E UTF8 --locale=C \
      --auth=trust --no-sync --no-instructions >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed in $data"; }
    # Only TCP from 127.0.0.1 and the local socket; no IPv6, nothing from elsewhere.
    as_server_user tee "$data/pg_hba.conf" >/dev/null <<'EOF'
# Generated by scripts/postgres.sh: a throw-away test cluster.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
    echo "include_if_exists = 'wijkbrug.conf'" | as_server_user tee -a "$data/postgresql.conf" >/dev/null
  fi

  # The unix socket path must fit in sun_path (107 bytes); otherwise TCP only.
  socket_dir="$dir"
  if (( ${#dir} + 20 > 107 )); then
    log "$dir is too long for a unix socket path; TCP only"
    socket_dir=""
  fi
  # Rewritten on every start: the port can differ between runs.
  as_server_user tee "$data/wijkbrug.conf" >/dev/null <<EOF
# Generated by scripts/postgres.sh on every start; for tests only (fsync off: not crash-safe).
listen_addresses = '$HOST'
port = $port
unix_socket_directories = $(conf_quote "$socket_dir")
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 32MB
EOF

  (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null && die "port $HOST:$port is already in use"

  if ! as_server_user "$bin/pg_ctl" -D "$data" -l "$logfile" -w -t "$START_TIMEOUT" start \
    >/dev/null 2>&1; then
    log "server did not start; last lines of $logfile:"
    tail -n 30 "$logfile" >&2 || true
    exit 1
  fi
  "$bin/pg_isready" -q -h "$HOST" -p "$port" -t 10 || die "started, but not accepting connections"

  local psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$port" -U "$SUPERUSER" -d postgres)
  if [[ "$("${psql[@]}" -tAc "select 1 from pg_database where datname = '$DB'")" != 1 ]]; then
    "${psql[@]}" -c "create database $DB" >/dev/null || die "could not create database $DB"
  fi
  log "ready on $HOST:$port, database $DB (data: $data, log: $logfile)"
}

stop() {
  (($# == 1)) || die "usage: $0 stop DIR"
  local dir bin data
  [[ -d "$1" ]] || { log "no such directory: $1"; return 0; }
  dir="$(cd -- "$1" && pwd -P)"
  data="$dir/data"
  cd /
  if [[ -f "$dir/bindir" ]]; then bin="$(<"$dir/bindir")"; else bin="$(find_bin)" || bin=""; fi
  if [[ -z "$bin" || ! -f "$data/postmaster.pid" ]] || ! is_running "$bin" "$data"; then
    log "not running ($dir)"
    return 0
  fi
  if ! as_server_user "$bin/pg_ctl" -D "$data" -m fast -w -t "$STOP_TIMEOUT" stop >/dev/null 2>&1; then
    log "fast shutdown did not finish in ${STOP_TIMEOUT}s; immediate shutdown"
    as_server_user "$bin/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
  fi
  log "stopped ($dir)"
}

status() {
  (($# == 1)) || die "usage: $0 status DIR"
  local dir bin
  dir="$(cd -- "$1" 2>/dev/null && pwd -P)" || { echo "stopped"; return 1; }
  cd /
  if [[ -f "$dir/bindir" ]]; then
    bin="$(<"$dir/bindir")"
  else
    bin="$(find_bin)" || { echo "stopped"; return 1; }
  fi
  if is_running "$bin" "$dir/data"; then
    echo "running"
    return 0
  fi
  echo "stopped"
  return 1
}

case "${1:-}" in
  ensure) ensure ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  status) shift; status "$@" ;;
  *)
    echo "usage: $0 {ensure|start DIR PORT|stop DIR|status DIR}" >&2
    exit 2
    ;;
esac
