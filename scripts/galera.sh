#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on loopback, for the sink's integration tests.
#
#   scripts/galera.sh start    start the three nodes (or the ones that are down) and wait until
#                              all report wsrep_cluster_size=3 and Synced
#   scripts/galera.sh status   print each node's wsrep state; exit 0 only when all are Synced
#   scripts/galera.sh urls     print the nodes' URLs, comma-separated (for WDT_GALERA_NODES)
#   scripts/galera.sh stop     kill the nodes and remove their data
#   scripts/galera.sh kill N   kill -9 node N (N = 1, 2 or 3)
#   scripts/galera.sh restart N  start node N again and wait until it is Synced
#
# Node N listens on 127.0.0.1: SQL port $WDT_GALERA_SQL_PORT+N-1 (default 3311-3313), group
# communication $WDT_GALERA_GCOMM_PORT+N-1 (default 4571-4573), IST +10 (4581-4583) and SST
# (rsync) +20 (4591-4593). Data, sockets and logs live under $WDT_GALERA_DIR (default
# target/galera of the repository). User root with an empty password; database `test`.
#
# The group-communication timeouts are raised well above Galera's defaults: on a loaded machine
# a stall of a few seconds would otherwise split the cluster into non-primary nodes. The price
# is that a killed node is noticed only after evs.suspect_timeout.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${WDT_GALERA_DIR:-$ROOT/target/galera}"
SQL_PORT="${WDT_GALERA_SQL_PORT:-3311}"
GCOMM_PORT="${WDT_GALERA_GCOMM_PORT:-4571}"
TIMEOUT="${WDT_GALERA_TIMEOUT:-180}"
SUSPECT="${WDT_GALERA_SUSPECT_TIMEOUT:-PT10S}"
PROVIDER="${WDT_GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}"
NODES=(1 2 3)

MARIADBD="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
# As root the nodes run as `mysql`: the rsync state transfer's daemon would otherwise switch to
# `nobody` and fail to write the joiner's data directory.
if [ "$(id -u)" != 0 ]; then
  RUN_AS="$(id -un)"
elif id mysql >/dev/null 2>&1; then
  RUN_AS=mysql
else
  RUN_AS=root
fi

sql_port() { echo $((SQL_PORT + $1 - 1)); }
gcomm_port() { echo $((GCOMM_PORT + $1 - 1)); }
node_dir() { echo "$DIR/node$1"; }
pid_of() {
  local f
  f="$(node_dir "$1")/node.pid"
  [ -s "$f" ] && cat "$f"
}
running() {
  local pid
  pid="$(pid_of "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
client() {
  local n="$1"
  shift
  mariadb --no-defaults --protocol=socket --socket="$(node_dir "$n")/mysqld.sock" -uroot \
    --connect-timeout=5 "$@"
}
# "size state" of node N, or nothing when it does not answer.
wsrep_state() {
  client "$1" -N -B -e "SELECT \
      (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE'), \
      (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'), \
      (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CLUSTER_STATUS')" \
    2>/dev/null | tr '\t' ' '
}

write_config() {
  local n="$1" d
  d="$(node_dir "$n")"
  local addresses=()
  for m in "${NODES[@]}"; do addresses+=("127.0.0.1:$(gcomm_port "$m")"); done
  local cluster
  cluster="$(IFS=,; echo "${addresses[*]}")"
  cat >"$d/my.cnf" <<EOF
[mariadbd]
user=$RUN_AS
datadir=$d/data
socket=$d/mysqld.sock
pid-file=$d/mariadbd.pid
log-error=$d/error.log
tmpdir=$d/tmp
port=$(sql_port "$n")
bind-address=127.0.0.1
skip-name-resolve
performance_schema=OFF
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
innodb_flush_log_at_trx_commit=2
innodb_autoinc_lock_mode=2
default_storage_engine=InnoDB
binlog_format=ROW
local_infile=ON
max_connections=200
wsrep_on=ON
wsrep_provider=$PROVIDER
wsrep_cluster_name=wdt_galera_test
wsrep_cluster_address=gcomm://$cluster
wsrep_node_name=node$n
wsrep_node_address=127.0.0.1:$(gcomm_port "$n")
wsrep_node_incoming_address=127.0.0.1:$(sql_port "$n")
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$(($(gcomm_port "$n") + 20))
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(($(gcomm_port "$n") + 10));gcache.size=32M;gmcast.peer_timeout=PT30S;evs.suspect_timeout=$SUSPECT;evs.inactive_timeout=PT60S;evs.install_timeout=PT60S;evs.keepalive_period=PT1S;pc.wait_prim_timeout=PT60S"
EOF
}

start_node() {
  local n="$1" first="${2:-}" d
  d="$(node_dir "$n")"
  mkdir -p "$d/data" "$d/tmp"
  write_config "$n"
  [ "$(id -u)" = 0 ] && chown -R "$RUN_AS" "$d"
  local extra=()
  [ -n "$first" ] && extra+=(--wsrep-new-cluster)
  # Detached from this shell: the node outlives the script (and CI's step).
  setsid "$MARIADBD" --defaults-file="$d/my.cnf" "${extra[@]}" </dev/null >>"$d/stdout.log" 2>&1 &
  echo "$!" >"$d/node.pid"
}

print_logs() {
  for n in "${NODES[@]}"; do
    local d
    d="$(node_dir "$n")"
    echo "---- node $n ($(wsrep_state "$n" || true)) error.log (last 60 lines)" >&2
    tail -n 60 "$d/error.log" >&2 2>/dev/null || echo "(no log)" >&2
    tail -n 20 "$d/stdout.log" >&2 2>/dev/null || true
  done
}

# Waits until each node of "$@" answers, sees a cluster of 3 and is Synced.
wait_synced() {
  local deadline=$((SECONDS + TIMEOUT))
  while :; do
    local ok=1
    for n in "$@"; do
      if ! running "$n"; then
        echo "node $n is not running" >&2
        print_logs
        return 1
      fi
      [ "$(wsrep_state "$n")" = "3 Synced Primary" ] || ok=0
    done
    [ "$ok" = 1 ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "the Galera cluster did not reach 3 Synced nodes within ${TIMEOUT}s" >&2
      print_logs
      return 1
    fi
    sleep 1
  done
}

wait_answers() {
  local n="$1" deadline=$((SECONDS + TIMEOUT))
  until client "$n" -e 'SELECT 1' >/dev/null 2>&1; do
    if ! running "$n" || [ "$SECONDS" -ge "$deadline" ]; then
      echo "node $n did not start" >&2
      print_logs
      return 1
    fi
    sleep 1
  done
}

port_busy() {
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# Refuses to start node N on ports something else listens on.
check_ports() {
  local n="$1" g
  g="$(gcomm_port "$n")"
  for p in "$(sql_port "$n")" "$g" $((g + 10)) $((g + 20)); do
    if port_busy "$p"; then
      echo "port $p (node $n) is already in use; choose other ports with WDT_GALERA_SQL_PORT and" \
        "WDT_GALERA_GCOMM_PORT, or stop the other cluster (scripts/galera.sh stop)" >&2
      return 1
    fi
  done
}

cmd_urls() {
  local urls=()
  for n in "${NODES[@]}"; do urls+=("mysql://root@127.0.0.1:$(sql_port "$n")/test"); done
  (IFS=,; echo "${urls[*]}")
}

cmd_start() {
  local all_down=1
  for n in "${NODES[@]}"; do running "$n" && all_down=0; done
  for n in "${NODES[@]}"; do running "$n" || check_ports "$n"; done
  if [ "$all_down" = 1 ]; then
    rm -rf "$DIR"
    mkdir -p "$(node_dir 1)/data"
    [ "$(id -u)" = 0 ] && chown -R "$RUN_AS" "$DIR"
    # Nodes 2 and 3 get their data from node 1 by state transfer.
    mariadb-install-db --no-defaults --user="$RUN_AS" --datadir="$(node_dir 1)/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$DIR/install.log" 2>&1 || {
      cat "$DIR/install.log" >&2
      return 1
    }
    start_node 1 new
    wait_answers 1
    client 1 -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; \
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; \
      CREATE DATABASE IF NOT EXISTS test;"
  fi
  for n in "${NODES[@]}"; do
    running "$n" || start_node "$n"
  done
  wait_synced "${NODES[@]}"
  echo "Galera cluster up: $(cmd_urls)"
}

cmd_status() {
  local ok=0
  for n in "${NODES[@]}"; do
    local state
    state="$(wsrep_state "$n" || true)"
    echo "node $n 127.0.0.1:$(sql_port "$n"): ${state:-down}"
    [ "$state" = "3 Synced Primary" ] || ok=1
  done
  return "$ok"
}

kill_node() {
  local n="$1" pid
  pid="$(pid_of "$n" 2>/dev/null)" || return 0
  [ -n "$pid" ] || return 0
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # A state transfer's rsync daemon, if one is still running.
  local rs="$(node_dir "$n")/data/rsync_sst.pid"
  if [ -s "$rs" ]; then kill -9 "$(cat "$rs")" 2>/dev/null || true; fi
  rm -f "$(node_dir "$n")/node.pid"
}

cmd_stop() {
  for n in "${NODES[@]}"; do kill_node "$n"; done
  rm -rf "$DIR"
  echo "Galera cluster stopped"
}

node_arg() {
  case "${1:-}" in
    1 | 2 | 3) echo "$1" ;;
    *) echo "usage: $0 kill|restart 1|2|3" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  urls) cmd_urls ;;
  kill) kill_node "$(node_arg "${2:-}")" ;;
  restart)
    n="$(node_arg "${2:-}")"
    if ! running "$n"; then
      check_ports "$n"
      start_node "$n"
    fi
    wait_synced "$n"
    ;;
  *)
    echo "usage: $0 start|stop|status|urls|kill N|restart N" >&2
    exit 2
    ;;
esac
