#!/usr/bin/env bash
# Local Apache Kafka 4.x broker for development and integration tests.
# KRaft mode, one combined broker+controller, plain JVM (no Docker, no tarball):
# the jars come from Maven Central via scripts/kafka/pom.xml.
#
# Usage: scripts/kafka.sh {fetch|start|stop|status|clean|run CLASS [ARGS...]}
#
#   fetch   copy the broker jars into the cache (once per version)
#   start   fetch if needed, write config, format storage once, start, wait until ready
#   stop    SIGTERM the broker, SIGKILL after WIJKBRUG_KAFKA_STOP_TIMEOUT seconds
#   status  print running/stopped (exit 0/1)
#   clean   stop, then delete the run dir (the jar cache stays)
#   run     run a Kafka tool class with the cached jars, e.g.
#           scripts/kafka.sh run org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#
# Environment (all optional):
#   WIJKBRUG_KAFKA_VERSION          Kafka version (default 4.1.1)
#   WIJKBRUG_KAFKA_CACHE            jar cache (default <repo>/.cache/kafka)
#   WIJKBRUG_KAFKA_PORT             client port (default 9092)
#   WIJKBRUG_KAFKA_CONTROLLER_PORT  controller port (default PORT+1)
#   WIJKBRUG_KAFKA_RUN_DIR          config, data, logs, pid (default <cache>/run-PORT)
#   WIJKBRUG_KAFKA_START_TIMEOUT    seconds to wait for readiness (default 60)
#   WIJKBRUG_KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM (default 30)
#   KAFKA_HEAP_OPTS                 default "-Xms256m -Xmx768m"
#   KAFKA_OPTS                      extra JVM options for the broker
#   JAVA_HOME                       java to use (default: java on PATH; needs 17+)
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"

VERSION="${WIJKBRUG_KAFKA_VERSION:-4.1.1}"
CACHE="${WIJKBRUG_KAFKA_CACHE:-$REPO_ROOT/.cache/kafka}"
VERSION_DIR="$CACHE/$VERSION"
LIBS="$VERSION_DIR/libs"
MARKER="$VERSION_DIR/.fetch-complete"

PORT="${WIJKBRUG_KAFKA_PORT:-9092}"
CPORT="${WIJKBRUG_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
HOST=127.0.0.1
RUN_DIR="${WIJKBRUG_KAFKA_RUN_DIR:-$CACHE/run-$PORT}"
PID_FILE="$RUN_DIR/kafka.pid"
PROPS="$RUN_DIR/server.properties"
LOG_DIR="$RUN_DIR/logs"
SERVER_LOG="$LOG_DIR/server.log"
CONSOLE_LOG="$LOG_DIR/kafka.out"

START_TIMEOUT="${WIJKBRUG_KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${WIJKBRUG_KAFKA_STOP_TIMEOUT:-30}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

log() { echo "kafka: $*"; }
err() { echo "kafka: $*" >&2; }
die() { err "$*"; exit 1; }

# ---------------------------------------------------------------- fetch

fetch() {
  if [[ -f "$MARKER" ]]; then
    log "jars for $VERSION cached in $LIBS"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found on PATH (needed once to fetch the Kafka jars)"
  mkdir -p "$VERSION_DIR"
  # Serialise concurrent fetches (e.g. parallel test sessions) on the same cache.
  exec 9>"$VERSION_DIR/.fetch.lock"
  flock 9
  if [[ ! -f "$MARKER" ]]; then
    local tmp="$VERSION_DIR/libs.tmp.$$"
    # Leftovers of an interrupted fetch (safe: we hold the lock, which mvn children inherit).
    rm -rf "$VERSION_DIR"/libs.tmp.* "$LIBS"
    # mvn output goes to a log (shown on failure); Maven 3.8 emits stray ANSI codes even with -B.
    if ! mvn -q -B -Dstyle.color=never -f "$SCRIPT_DIR/kafka/pom.xml" dependency:copy-dependencies \
      -Dkafka.version="$VERSION" -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$VERSION_DIR/fetch.log" 2>&1; then
      sed 's/\x1b\[[0-9;]*m//g' "$VERSION_DIR/fetch.log" >&2
      rm -rf "$tmp"
      die "mvn failed to fetch Kafka $VERSION (see above)"
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "no kafka_2.13 jar in $tmp"; }
    mv "$tmp" "$LIBS"
    touch "$MARKER"   # written only after a complete copy
    log "fetched $(ls "$LIBS" | wc -l) jars for $VERSION into $LIBS ($(du -sh "$LIBS" | cut -f1))"
  else
    log "jars for $VERSION cached in $LIBS"
  fi
  flock -u 9
  exec 9>&-
}

# ---------------------------------------------------------------- helpers

# Is $1 the pid of the broker started from this run dir?
is_our_broker() {
  local pid="$1" cmd
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  else
    cmd="$(ps -o command= -p "$pid" 2>/dev/null)" || return 1
  fi
  [[ "$cmd" == *kafka.Kafka*"$PROPS"* ]]
}

running_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(<"$PID_FILE")"
  is_our_broker "$pid" || return 1
  echo "$pid"
}

port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Kafka Uuid: 16 random bytes, unpadded base64url (22 chars); avoid a leading '-'.
random_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ ${#id} -eq 22 && "$id" != -* ]] && { echo "$id"; return; }
  done
}

# Last 40 lines of what this start wrote to server.log (from byte offset $1), plus the console log.
# The server log as of a mark "inode:offset" taken before launch: what was written since. log4j
# rolls the file at 20 MB, possibly during startup; a new file (another inode) is read whole.
log_since() {
  local inode="${1%%:*}" offset="${1##*:}"
  [[ -f "$SERVER_LOG" ]] || return 0
  [[ "$(stat -c %i "$SERVER_LOG")" == "$inode" ]] || offset=0
  tail -c "+$((offset + 1))" "$SERVER_LOG"
}

log_mark() {
  if [[ -f "$SERVER_LOG" ]]; then
    echo "$(stat -c %i "$SERVER_LOG"):$(wc -c <"$SERVER_LOG" | tr -d " ")"
  else
    echo "none:0"
  fi
}

show_logs() {
  local mark="${1:-none:0}"
  local recent=""
  [[ -f "$SERVER_LOG" ]] && recent="$(log_since "$mark" | tail -n 40)"
  if [[ -n "$recent" ]]; then
    err "last 40 lines of $SERVER_LOG:"
    printf '%s\n' "$recent" >&2
  fi
  if [[ -s "$CONSOLE_LOG" ]]; then
    err "last 40 lines of $CONSOLE_LOG:"
    tail -n 40 "$CONSOLE_LOG" >&2
  fi
}

write_config() {
  mkdir -p "$RUN_DIR/data" "$LOG_DIR"
  cat >"$PROPS" <<EOF
# Generated by scripts/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CPORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CPORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$RUN_DIR/data

# Single node: every internal topic gets replication factor 1.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.partitions=3

# Small machine / test settings.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
EOF
  cat >"$RUN_DIR/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/kafka.sh: broker logs go to a file only, never the console. -->
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="server" fileName="$SERVER_LOG" filePattern="$LOG_DIR/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="20 MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log.LogCleaner" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

# ---------------------------------------------------------------- commands

start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid) on $HOST:$PORT (log: $SERVER_LOG)"
    return 0
  fi
  rm -f "$PID_FILE"
  command -v "$JAVA" >/dev/null || die "java not found (Kafka $VERSION needs Java 17+)"
  [[ -f "$MARKER" ]] || fetch >/dev/null
  if port_open "$HOST" "$PORT"; then die "port $HOST:$PORT is already in use"; fi
  if port_open "$HOST" "$CPORT"; then die "controller port $HOST:$CPORT is already in use"; fi

  write_config
  local log4j="-Dlog4j2.configurationFile=$RUN_DIR/log4j2.xml"

  # Format the KRaft storage once; later starts reuse it (meta.properties present).
  if [[ ! -f "$RUN_DIR/data/meta.properties" ]]; then
    "$JAVA" -Xmx256m -cp "$LIBS/*" "$log4j" kafka.tools.StorageTool format \
      --cluster-id "$(random_cluster_id)" --config "$PROPS" --ignore-formatted \
      >"$LOG_DIR/format.out" 2>&1 \
      || { cat "$LOG_DIR/format.out" >&2; die "formatting storage in $RUN_DIR/data failed"; }
  fi

  # Readiness = TCP port open + "Kafka Server started" logged after our launch.
  local mark
  mark="$(log_mark)"

  # shellcheck disable=SC2086  # heap/opts are word lists by design
  nohup "$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true "$log4j" ${KAFKA_OPTS:-} \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" >"$CONSOLE_LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"

  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      err "broker exited during startup"
      show_logs "$mark"
      exit 1
    fi
    if port_open "$HOST" "$PORT" && [[ -f "$SERVER_LOG" ]] \
      && log_since "$mark" | grep -q "Kafka Server started"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      err "not ready after ${START_TIMEOUT}s; stopping it"
      show_logs "$mark"
      stop >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  log "ready on $HOST:$PORT (log: $SERVER_LOG)"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running ($RUN_DIR)"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      err "pid $pid still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    log "running (pid $pid) on $HOST:$PORT (log: $SERVER_LOG)"
    return 0
  fi
  log "stopped ($RUN_DIR)"
  return 1
}

clean() {
  stop
  [[ -e "$RUN_DIR" ]] || { log "nothing to clean ($RUN_DIR)"; return 0; }
  # Only delete something that looks like one of our run dirs.
  if [[ "$RUN_DIR" == "/" || "$RUN_DIR" == "$REPO_ROOT" || "$RUN_DIR" == "$CACHE" ]] \
    || [[ ! -f "$PROPS" && ! -d "$RUN_DIR/data" ]]; then
    die "refusing to delete $RUN_DIR (does not look like a kafka.sh run dir)"
  fi
  rm -rf -- "$RUN_DIR"
  log "removed $RUN_DIR"
}

run_class() {
  (($# >= 1)) || die "usage: $0 run CLASS [ARGS...]"
  [[ -f "$MARKER" ]] || fetch >&2
  # Tools log WARN+ to stderr (log4j2's default would be ERROR plus a status warning).
  local cfg="$VERSION_DIR/tools-log4j2.xml"
  [[ -f "$cfg" ]] || cat >"$cfg" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console></Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="stderr"/></Root></Loggers>
</Configuration>
EOF
  # Short-lived JVMs: C1 only starts noticeably faster.
  exec "$JAVA" -Xmx512m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$LIBS/*" "-Dlog4j2.configurationFile=$cfg" "$@"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  clean) clean ;;
  run) shift; run_class "$@" ;;
  *)
    echo "usage: $0 {fetch|start|stop|status|clean|run CLASS [ARGS...]}" >&2
    exit 2
    ;;
esac
