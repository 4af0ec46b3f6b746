#!/usr/bin/env bash
# Real servers for development and integration tests: one Apache Kafka broker (KRaft, no ZooKeeper)
# and one Elasticsearch node, both on loopback, started and stopped by this script alone.
#
#   deploy/local/stack.sh fetch                 download the servers into the cache (no start)
#   deploy/local/stack.sh up     [kafka|elasticsearch]
#   deploy/local/stack.sh down   [kafka|elasticsearch]
#   deploy/local/stack.sh status [kafka|elasticsearch]   exit 1 if any named server is down
#   deploy/local/stack.sh clean                 delete .stack (data and logs) once both are down
#
# Environment (defaults in brackets):
#   KAFKA_PORT [9092]  KAFKA_CONTROLLER_PORT [9093]  ES_PORT [9200]  ES_TRANSPORT_PORT [9300]
#   EGRESS_SENTINEL_CACHE [~/.cache/egress-sentinel]   downloads, kept between clones and runs
#   EGRESS_SENTINEL_STACK_DIR [<repo>/.stack]           runtime config, data, logs, pid files
#   ES_JAVA_HOME [/usr/lib/jvm/temurin-25-jdk-amd64]    Elasticsearch 9 needs Java 21 or newer
#   KAFKA_JAVA [java on PATH]   ES_USER [esuser]   STACK_TIMEOUT [180] seconds per health wait
#   KAFKA_HEAP_OPTS [-Xms256m -Xmx1g]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPLOY="$ROOT/deploy/local"
STACK_DIR="${EGRESS_SENTINEL_STACK_DIR:-$ROOT/.stack}"
CACHE_DIR="${EGRESS_SENTINEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/egress-sentinel}"

KAFKA_VERSION=4.1.1
ES_VERSION=9.2.0
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
ES_PORT="${ES_PORT:-9200}"
ES_TRANSPORT_PORT="${ES_TRANSPORT_PORT:-9300}"
ES_JAVA_HOME="${ES_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
KAFKA_JAVA="${KAFKA_JAVA:-java}"
ES_USER="${ES_USER:-esuser}"
STACK_TIMEOUT="${STACK_TIMEOUT:-180}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
STOP_TIMEOUT=30

KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
ES_ZIP_DIR="$CACHE_DIR/downloads"
KAFKA_RUN="$STACK_DIR/kafka"
ES_URL="http://127.0.0.1:$ES_PORT"

log() { printf '[stack] %s\n' "$*"; }
die() {
  printf '[stack] ERROR: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

# ---------------------------------------------------------------------------------------------- tools

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed or not on PATH; $2"
}

check_tools() {
  need_cmd "$KAFKA_JAVA" "Kafka needs a Java 17+ runtime (apt-get install -y openjdk-17-jre-headless, or set KAFKA_JAVA)"
  need_cmd curl "the health checks use it (apt-get install -y curl)"
  [[ -x "$ES_JAVA_HOME/bin/java" ]] ||
    die "no Java at ES_JAVA_HOME=$ES_JAVA_HOME (Elasticsearch $ES_VERSION needs Java 21+; point ES_JAVA_HOME at such a JDK)"
}

check_fetch_tools() {
  need_cmd mvn "the servers are downloaded from Maven Central with it (apt-get install -y maven)"
  need_cmd "$KAFKA_JAVA" "Maven and Kafka need a Java 17+ runtime"
  need_cmd unzip "the Elasticsearch zip is unpacked with it (apt-get install -y unzip)"
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Elasticsearch refuses to run as root, so as root it runs as a system user of its own.
ensure_es_user() {
  is_root || return 0
  if ! id "$ES_USER" >/dev/null 2>&1; then
    log "creating system user $ES_USER (Elasticsearch refuses to run as root)"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER" ||
      die "could not create the system user $ES_USER with useradd"
  fi
}

as_es_user() {
  if is_root; then
    setpriv --reuid="$ES_USER" --regid="$ES_USER" --init-groups -- "$@"
  else
    "$@"
  fi
}

# ES_USER must be able to read the distribution and write its runtime folder. Under /root (mode 700)
# it cannot, so those then live in world-traversable places, and .stack/elasticsearch is a symlink.
es_can_reach() { as_es_user test -x "$1" 2>/dev/null; }

repo_key() { printf '%s' "$ROOT" | cksum | cut -d' ' -f1; }

es_install_root() {
  if es_can_reach "$CACHE_DIR"; then
    printf '%s' "$CACHE_DIR"
  else
    printf '%s' "/var/cache/egress-sentinel"
  fi
}

es_home() { printf '%s/elasticsearch-%s' "$(es_install_root)" "$ES_VERSION"; }

# ---------------------------------------------------------------------------------------------- fetch

# Maven 3.8 prints bare colour-reset codes even in quiet batch mode; strip them so CI logs stay clean.
run_mvn() {
  mvn -q -B "$@" </dev/null 2>&1 | sed 's/\x1b\[[0-9;]*m//g'
}

fetch_kafka() {
  if [[ -f "$KAFKA_LIBS/.complete" ]]; then
    log "kafka $KAFKA_VERSION: cached in $KAFKA_LIBS"
    return 0
  fi
  check_fetch_tools
  log "kafka $KAFKA_VERSION: fetching jars from Maven Central into $KAFKA_LIBS"
  local tmp="$KAFKA_LIBS.partial"
  rm -rf "$tmp" && mkdir -p "$tmp"
  run_mvn -f "$DEPLOY/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" ||
    die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see the Maven output above)"
  compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null || die "mvn finished but $tmp has no kafka_2.13 jar"
  rm -rf "$KAFKA_LIBS" && mv "$tmp" "$KAFKA_LIBS" && touch "$KAFKA_LIBS/.complete"
}

fetch_elasticsearch() {
  ensure_es_user
  local home zip
  home=$(es_home)
  if [[ -f "$home/.complete" ]]; then
    log "elasticsearch $ES_VERSION: cached in $home"
    return 0
  fi
  check_fetch_tools
  zip="$ES_ZIP_DIR/elasticsearch-$ES_VERSION.zip"
  if [[ ! -f "$zip" ]]; then
    log "elasticsearch $ES_VERSION: fetching the integ-test zip from Maven Central into $ES_ZIP_DIR"
    mkdir -p "$ES_ZIP_DIR"
    run_mvn -f "$DEPLOY/elasticsearch/pom.xml" -Des.version="$ES_VERSION" \
      dependency:copy-dependencies -DoutputDirectory="$ES_ZIP_DIR" ||
      die "mvn could not fetch org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip"
    [[ -f "$zip" ]] || die "mvn finished but $zip is missing"
  fi
  log "elasticsearch $ES_VERSION: unpacking into $home"
  local parent tmp
  parent=$(dirname "$home")
  tmp="$parent/.unpack-$$"
  mkdir -p "$parent" && rm -rf "$tmp" && mkdir "$tmp"
  unzip -q "$zip" -d "$tmp" || die "could not unpack $zip (delete it to download it again)"
  rm -rf "$home" && mv "$tmp/elasticsearch-$ES_VERSION" "$home" && rm -rf "$tmp"
  # The distribution is only read by ES_USER: its config and data are written elsewhere.
  chmod -R a+rX "$home" && chmod a+x "$home"/bin/*
  touch "$home/.complete"
}

cmd_fetch() {
  fetch_kafka
  fetch_elasticsearch
}

# ---------------------------------------------------------------------------------------------- process helpers

pid_alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

read_pid() { [[ -f "$1" ]] && tr -dc '0-9' <"$1" || true; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until "$2" (a shell command) succeeds; $1 names the server, $3 its log, $4 its pid.
wait_until() {
  local what=$1 check=$2 logfile=$3 pid=$4 deadline=$((SECONDS + STACK_TIMEOUT))
  until eval "$check"; do
    if ! pid_alive "$pid"; then
      echo "----- last lines of $logfile -----" >&2
      tail -n 40 "$logfile" >&2 || true
      die "$what exited during start-up; full log: $logfile"
    fi
    if ((SECONDS >= deadline)); then
      echo "----- last lines of $logfile -----" >&2
      tail -n 40 "$logfile" >&2 || true
      die "$what was not healthy after ${STACK_TIMEOUT}s (STACK_TIMEOUT); look at $logfile"
    fi
    sleep 1
  done
}

# Waits for a server some other checkout is starting; $2 is the health check, $3 the error on timeout.
wait_foreign() {
  local what=$1 check=$2 problem=$3 deadline=$((SECONDS + STACK_TIMEOUT))
  until eval "$check"; do
    ((SECONDS < deadline)) || die "$what: $problem"
    sleep 1
  done
}

# Stops the process group the script started (TERM, then KILL after STOP_TIMEOUT) and removes the pid file.
stop_group() {
  local what=$1 pidfile=$2 pid
  pid=$(read_pid "$pidfile")
  if ! pid_alive "$pid"; then
    [[ -f "$pidfile" ]] && log "$what: not running (removing stale pid file $pidfile)"
    [[ -f "$pidfile" ]] || log "$what: not running"
    rm -f "$pidfile"
    return 0
  fi
  log "$what: stopping process group $pid"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 -- "-$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$what: still running after ${STOP_TIMEOUT}s, sending KILL to process group $pid"
      kill -KILL -- "-$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$pidfile"
  log "$what: stopped"
}

# ---------------------------------------------------------------------------------------------- kafka

kafka_pidfile() { printf '%s/kafka.pid' "$KAFKA_RUN"; }
kafka_log() { printf '%s/logs/server.log' "$KAFKA_RUN"; }

kafka_healthy() {
  port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$(kafka_log)" 2>/dev/null
}

kafka_java_args() {
  # shellcheck disable=SC2206 # KAFKA_HEAP_OPTS is a list of JVM flags
  KAFKA_ARGS=($KAFKA_HEAP_OPTS -XX:+UseG1GC -Djava.awt.headless=true
    -Dorg.slf4j.simpleLogger.showDateTime=true
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ"
    -Dkafka.logs.dir="$KAFKA_RUN/logs"
    -cp "$KAFKA_LIBS/*")
}

kafka_java() {
  kafka_java_args
  "$KAFKA_JAVA" "${KAFKA_ARGS[@]}" "$@"
}

kafka_up() {
  local pid
  pid=$(read_pid "$(kafka_pidfile)")
  if pid_alive "$pid" && kafka_healthy; then
    log "kafka: already running and healthy at 127.0.0.1:$KAFKA_PORT (pid $pid)"
    return 0
  fi
  if pid_alive "$pid"; then
    log "kafka: pid $pid is running but not healthy yet; waiting"
    wait_until "kafka" kafka_healthy "$(kafka_log)" "$pid"
    log "kafka: healthy at 127.0.0.1:$KAFKA_PORT (pid $pid)"
    return 0
  fi
  rm -f "$(kafka_pidfile)"
  if port_open "$KAFKA_PORT"; then
    # Another checkout's stack (or a compose Kafka) already serves this port: use it, never stop it.
    log "kafka: 127.0.0.1:$KAFKA_PORT is already served by a process this checkout did not start; using it"
    return 0
  fi
  if port_open "$KAFKA_CONTROLLER_PORT"; then
    # A broker opens its controller port first: another checkout's Kafka may be half-way through start-up.
    log "kafka: controller port $KAFKA_CONTROLLER_PORT is taken by a process this checkout did not start; waiting for it to serve $KAFKA_PORT"
    wait_foreign "kafka" "port_open $KAFKA_PORT" \
      "controller port 127.0.0.1:$KAFKA_CONTROLLER_PORT is taken but nothing serves 127.0.0.1:$KAFKA_PORT (set KAFKA_PORT and KAFKA_CONTROLLER_PORT)"
    log "kafka: 127.0.0.1:$KAFKA_PORT is served by a process this checkout did not start; using it"
    return 0
  fi
  fetch_kafka
  check_tools

  mkdir -p "$KAFKA_RUN/logs" "$KAFKA_RUN/data"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@KAFKA_DATA_DIR@|$KAFKA_RUN/data|g" "$DEPLOY/kafka/server.properties.template" \
    >"$KAFKA_RUN/server.properties"

  if [[ ! -f "$KAFKA_RUN/data/meta.properties" ]]; then
    local cluster_id
    cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_RUN/logs/format.log" | tail -n 1)
    [[ -n "$cluster_id" ]] || die "kafka: StorageTool random-uuid printed nothing; see $KAFKA_RUN/logs/format.log"
    log "kafka: formatting KRaft storage in $KAFKA_RUN/data (cluster id $cluster_id)"
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_RUN/server.properties" \
      >>"$KAFKA_RUN/logs/format.log" 2>&1 ||
      die "kafka: storage format failed; see $KAFKA_RUN/logs/format.log"
  fi

  log "kafka: starting $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (log: $(kafka_log))"
  : >"$(kafka_log)"
  # setsid: the broker leads its own process group, so `down` can stop exactly it and its children.
  kafka_java_args
  setsid "$KAFKA_JAVA" "${KAFKA_ARGS[@]}" kafka.Kafka "$KAFKA_RUN/server.properties" \
    </dev/null >>"$(kafka_log)" 2>&1 &
  pid=$!
  echo "$pid" >"$(kafka_pidfile)"
  wait_until "kafka" kafka_healthy "$(kafka_log)" "$pid"
  log "kafka: healthy at 127.0.0.1:$KAFKA_PORT (pid $pid)"
}

kafka_down() { stop_group kafka "$(kafka_pidfile)"; }

kafka_status() {
  local pid
  pid=$(read_pid "$(kafka_pidfile)")
  if pid_alive "$pid" && kafka_healthy; then
    log "kafka:         healthy  127.0.0.1:$KAFKA_PORT  pid $pid  log $(kafka_log)"
  elif port_open "$KAFKA_PORT" && ! pid_alive "$pid"; then
    log "kafka:         healthy  127.0.0.1:$KAFKA_PORT  (not started by this checkout)"
  else
    log "kafka:         DOWN     127.0.0.1:$KAFKA_PORT${pid:+  (pid $pid)}"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------- elasticsearch

# Where ES_USER keeps config, data, logs and pid: .stack/elasticsearch, or a folder it can reach.
es_run_dir() {
  if [[ -L "$STACK_DIR/elasticsearch" ]]; then
    readlink -f "$STACK_DIR/elasticsearch"
  elif ! is_root || es_can_reach "$STACK_DIR"; then
    printf '%s/elasticsearch' "$STACK_DIR"
  else
    printf '/var/tmp/egress-sentinel-%s/elasticsearch' "$(repo_key)"
  fi
}

es_pidfile() { printf '%s/elasticsearch.pid' "$STACK_DIR"; }
es_log() { printf '%s/logs/console.log' "$(es_run_dir)"; }

es_healthy() {
  curl -fsS --max-time 5 "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1
}

es_api() {
  # $1 method, $2 path, $3 body (optional), $4 what the project uses it for
  local method=$1 path=$2 body=${3:-} what=$4 out code
  out=$(mktemp)
  if [[ -n "$body" ]]; then
    code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 30 -X "$method" "$ES_URL$path" \
      -H 'Content-Type: application/json' --data-binary "$body") || code=000
  else
    code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 30 -X "$method" "$ES_URL$path") || code=000
  fi
  if [[ ! "$code" =~ ^2 ]] || grep -q '"errors":true' "$out"; then
    echo "----- response -----" >&2
    head -c 2000 "$out" >&2 || true
    echo >&2
    rm -f "$out"
    die "elasticsearch API check FAILED: $what ($method $path answered HTTP $code). The project relies on it; this Elasticsearch build lacks it or refuses it."
  fi
  rm -f "$out"
}

# The integ-test zip is stripped (no ILM, ingest, painless); fail now, loudly, if something we use is gone.
# This build has no _data_stream REST API, so a data stream can never be deleted: the check reuses one
# fixed data stream (and its template) rather than leaving a new one behind at every start.
es_api_check() {
  local ds="local-stack-startup-check" n="es-startup-check-$$"
  es_api PUT "/_index_template/$ds" "{\"index_patterns\":[\"$ds\"],\"data_stream\":{},\"priority\":500}" \
    "composable index template with data_stream"
  es_api POST "/$ds/_doc?refresh=true" '{"@timestamp":"2025-01-01T00:00:00Z","k":"a"}' \
    "indexing into a data stream created implicitly by the template"
  es_api POST "/_bulk?refresh=true" \
    "$(printf '%s\n' "{\"create\":{\"_index\":\"$ds\"}}" '{"@timestamp":"2025-01-01T00:00:01Z","k":"b"}' \
      "{\"index\":{\"_index\":\"$n-plain\"}}" '{"k":"c"}')"$'\n' "bulk indexing"
  es_api POST "/$ds,$n-plain/_search" '{"size":0,"aggs":{"ks":{"terms":{"field":"k.keyword"}}}}' \
    "search with a terms aggregation"
  es_api PUT "/$n-aliased-000001" "{\"aliases\":{\"$n-alias\":{\"is_write_index\":true}}}" \
    "index creation with a write alias"
  es_api POST "/$n-alias/_rollover" "" "rollover of a write alias"
  es_api DELETE "/$n-plain,$n-aliased-*" "" "index deletion"
  log "elasticsearch: API check passed (data-stream template, implicit data stream, bulk, search+aggs, alias, rollover, delete)"
}

es_version() {
  curl -fsS --max-time 5 "$ES_URL/_nodes/_local/version?filter_path=nodes.*.version" 2>/dev/null |
    grep -o '"version":"[^"]*"' | head -n 1 | cut -d'"' -f4
}

es_up() {
  local pid run home
  pid=$(read_pid "$(es_pidfile)")
  if pid_alive "$pid" && es_healthy; then
    log "elasticsearch: already running and healthy at $ES_URL (pid $pid)"
    return 0
  fi
  if pid_alive "$pid"; then
    log "elasticsearch: pid $pid is running but not healthy yet; waiting"
    wait_until "elasticsearch" es_healthy "$(es_log)" "$pid"
    log "elasticsearch: healthy at $ES_URL (pid $pid)"
    return 0
  fi
  rm -f "$(es_pidfile)"
  if es_healthy; then
    log "elasticsearch: $ES_URL is already served by a process this checkout did not start; using it"
    return 0
  fi
  if port_open "$ES_PORT" || port_open "$ES_TRANSPORT_PORT"; then
    # Another checkout's node may still be starting (transport and HTTP open before the cluster is ready).
    log "elasticsearch: port $ES_PORT or $ES_TRANSPORT_PORT is taken by a process this checkout did not start; waiting for it to be healthy"
    wait_foreign "elasticsearch" es_healthy \
      "127.0.0.1:$ES_PORT/$ES_TRANSPORT_PORT are taken by a process that is not a healthy Elasticsearch (set ES_PORT and ES_TRANSPORT_PORT)"
    log "elasticsearch: $ES_URL is served by a process this checkout did not start; using it"
    return 0
  fi
  check_tools
  fetch_elasticsearch
  home=$(es_home)

  mkdir -p "$STACK_DIR"
  run=$(es_run_dir)
  if [[ "$run" != "$STACK_DIR/elasticsearch" && ! -L "$STACK_DIR/elasticsearch" ]]; then
    log "elasticsearch: $ES_USER cannot reach $STACK_DIR, so its files live in $run (linked from $STACK_DIR/elasticsearch)"
    mkdir -p "$run" && chmod 755 "$(dirname "$run")"
    rm -rf "$STACK_DIR/elasticsearch" && ln -s "$run" "$STACK_DIR/elasticsearch"
  fi
  mkdir -p "$run/config/jvm.options.d" "$run/data" "$run/logs" "$run/tmp"
  cp "$home/config/jvm.options" "$home/config/log4j2.properties" "$run/config/"
  cp "$DEPLOY/elasticsearch/heap.options" "$run/config/jvm.options.d/heap.options"
  sed -e "s|@ES_PORT@|$ES_PORT|g" -e "s|@ES_TRANSPORT_PORT@|$ES_TRANSPORT_PORT|g" \
    -e "s|@ES_DATA_DIR@|$run/data|g" -e "s|@ES_LOGS_DIR@|$run/logs|g" \
    "$DEPLOY/elasticsearch/elasticsearch.yml.template" >"$run/config/elasticsearch.yml"
  if is_root; then
    chown -R "$ES_USER:$ES_USER" "$run"
    as_es_user test -w "$run/data" || die "elasticsearch: $ES_USER cannot write $run/data"
  fi

  log "elasticsearch: starting $ES_VERSION on $ES_URL as $(if is_root; then echo "$ES_USER"; else id -un; fi) (log: $run/logs/console.log)"
  : >"$run/logs/console.log"
  is_root && chown "$ES_USER:$ES_USER" "$run/logs/console.log"
  # setsid: the CLI launcher and the server JVM it forks share one process group that `down` stops.
  local drop=()
  is_root && drop=(setpriv --reuid="$ES_USER" --regid="$ES_USER" --init-groups --)
  (
    cd "$run"
    exec setsid env HOME="$run" ES_HOME="$home" ES_PATH_CONF="$run/config" ES_TMPDIR="$run/tmp" \
      ES_JAVA_HOME="$ES_JAVA_HOME" ES_JAVA_OPTS="${ES_JAVA_OPTS:-}" \
      "${drop[@]}" "$home/bin/elasticsearch" -p "$run/logs/server.pid"
  ) </dev/null >>"$run/logs/console.log" 2>&1 &
  pid=$!
  echo "$pid" >"$(es_pidfile)"
  wait_until "elasticsearch" es_healthy "$run/logs/console.log" "$pid"
  log "elasticsearch: healthy at $ES_URL, version $(es_version) (pid $pid)"
  es_api_check
}

es_down() { stop_group elasticsearch "$(es_pidfile)"; }

es_status() {
  local pid
  pid=$(read_pid "$(es_pidfile)")
  if pid_alive "$pid" && es_healthy; then
    log "elasticsearch: healthy  $ES_URL  pid $pid  version $(es_version)  log $(es_log)"
  elif es_healthy && ! pid_alive "$pid"; then
    log "elasticsearch: healthy  $ES_URL  (not started by this checkout)"
  else
    log "elasticsearch: DOWN     $ES_URL${pid:+  (pid $pid)}"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------- main

servers_from() {
  case "${1:-all}" in
  all | "") echo "kafka elasticsearch" ;;
  kafka) echo kafka ;;
  elasticsearch | es) echo elasticsearch ;;
  *) die "unknown server '$1' (expected kafka or elasticsearch)" ;;
  esac
}

main() {
  local cmd=${1:-} servers s rc=0
  [[ -n "$cmd" ]] || usage
  servers=$(servers_from "${2:-all}")
  case "$cmd" in
  fetch) cmd_fetch ;;
  up)
    mkdir -p "$STACK_DIR"
    for s in $servers; do
      case $s in kafka) kafka_up ;; elasticsearch) es_up ;; esac
    done
    ;;
  down)
    # Stop in reverse order of start.
    for s in $(echo "$servers" | tr ' ' '\n' | tac); do
      case $s in kafka) kafka_down ;; elasticsearch) es_down ;; esac
    done
    ;;
  status)
    for s in $servers; do
      case $s in kafka) kafka_status || rc=1 ;; elasticsearch) es_status || rc=1 ;; esac
    done
    return $rc
    ;;
  clean)
    # Data streams cannot be deleted in this Elasticsearch build, so wiping the data is the reset.
    pid_alive "$(read_pid "$(kafka_pidfile)")" && die "kafka is running; run 'stack.sh down' before 'clean'"
    pid_alive "$(read_pid "$(es_pidfile)")" && die "elasticsearch is running; run 'stack.sh down' before 'clean'"
    [[ -L "$STACK_DIR/elasticsearch" ]] && rm -rf "$(readlink -f "$STACK_DIR/elasticsearch")"
    rm -rf "$STACK_DIR"
    log "removed $STACK_DIR (Kafka and Elasticsearch data and logs); the download cache $CACHE_DIR is kept"
    ;;
  -h | --help | help) usage ;;
  *) die "unknown command '$cmd' (expected fetch, up, down, status or clean)" ;;
  esac
}

main "$@"
