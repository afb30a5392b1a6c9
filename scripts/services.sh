#!/usr/bin/env bash
# Run Taskstream's backing services (Redis, etcd, PostgreSQL) as private local
# instances for development and CI, without Docker or the distro's services.
# Usage: scripts/services.sh start [--redis-cluster] [--etcd-cluster] | stop | status | revive | env | reset
#   --redis-cluster (or TASKSTREAM_REDIS_CLUSTER=1): a Redis Cluster of three masters and three
#     replicas on REDIS_PORT+1..+6 (cluster bus REDIS_PORT+7..+12) instead of the single node.
#   --etcd-cluster (or TASKSTREAM_ETCD_CLUSTER=1): three etcd members, clients on ETCD_PORT+2, +4,
#     +6 (peers +3, +5, +7; +1 is the single member's peer), instead of the single member.
# A node that is down (a test killed it) is started again by `revive` (or the next `start` with the
# same options), with the data it kept.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${TASKSTREAM_SERVICES_DIR:-$ROOT/.services}"
REDIS_PORT="${TASKSTREAM_REDIS_PORT:-16379}"
ETCD_PORT="${TASKSTREAM_ETCD_PORT:-12379}"
ETCD_PEER=$((ETCD_PORT + 1))
PG_PORT="${TASKSTREAM_PG_PORT:-15432}"
REDIS_FSYNC="${TASKSTREAM_REDIS_FSYNC:-always}"
REDIS_CLUSTER="${TASKSTREAM_REDIS_CLUSTER:-0}"
ETCD_CLUSTER="${TASKSTREAM_ETCD_CLUSTER:-0}"
# Failure detection of the local cluster: a master unreachable this long is failed over.
REDIS_NODE_TIMEOUT_MS="${TASKSTREAM_REDIS_NODE_TIMEOUT_MS:-2000}"
ETCD_URL="http://127.0.0.1:$ETCD_PORT"
WAIT_SECS=30
IS_ROOT=0; [[ $(id -u) == 0 ]] && IS_ROOT=1

say() { echo "services: $*"; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

pg_bindir() { # highest PostgreSQL version that has the server binaries
  local d
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && { echo "$d"; return; }
  done
  return 0 # none found: print nothing
}

ensure_packages() {
  local missing=0 b
  for b in redis-server redis-cli etcd etcdctl; do command -v "$b" >/dev/null || missing=1; done
  [[ -n $(pg_bindir) ]] || missing=1
  [[ $missing == 0 ]] && return
  ((IS_ROOT)) || die "missing binaries; install as root: apt-get install redis-server postgresql etcd-server etcd-client"
  mkdir -p "$DATA"
  say "installing redis-server postgresql etcd-server etcd-client (apt log: $DATA/apt.log)"
  # Keep the packages' maintainer scripts from starting the distro's own
  # daemons (on 6379/2379/5432): exit 101 = "not allowed" for invoke-rc.d.
  local policy=/usr/sbin/policy-rc.d added=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; added=1; fi
  local rc=0
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
      redis-server postgresql etcd-server etcd-client; } >"$DATA/apt.log" 2>&1 || rc=$?
  ((added)) && rm -f "$policy"
  [[ $rc == 0 ]] || { tail -n 20 "$DATA/apt.log" >&2; die "apt-get failed"; }
}

setup() { # resolve binaries and paths; needs the packages present
  PGBIN="$(pg_bindir)"
  [[ -n $PGBIN ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
  # etcd 3.4 refuses to run on some archs (e.g. arm64) unless told to.
  if ! etcd --version >/dev/null 2>&1; then ETCD_UNSUPPORTED_ARCH="$(dpkg --print-architecture)"; export ETCD_UNSUPPORTED_ARCH; fi
  # PostgreSQL refuses to run as root, so as root the cluster belongs to user
  # postgres. That user may be unable to traverse the repo's parents (e.g. a
  # clone under /root, mode 700). Rather than chmod'ing directories we do not
  # own, the cluster then lives in /tmp/taskstream-pg-<hash of data dir>.
  # Unix socket paths are limited to ~107 bytes, so a deep data dir also goes
  # there. A cluster already present in either place keeps its location.
  PG_TMP="/tmp/taskstream-pg-$(printf %s "$DATA" | sha1sum | cut -c1-12)"
  if [[ -d $PG_TMP/data ]]; then PG_DIR="$PG_TMP"
  elif [[ -d $DATA/pg/data ]]; then PG_DIR="$DATA/pg"
  else
    mkdir -p "$DATA"; PG_DIR="$DATA/pg"
    if ((${#PG_DIR} > 80)) || { ((IS_ROOT)) && ! (cd / && runuser -u postgres -- test -x "$DATA"); }; then
      PG_DIR="$PG_TMP"
    fi
  fi
}

as_pg() { # run a PostgreSQL server command as the cluster's owner
  if ((IS_ROOT)); then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

redis_up() { [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }
etcd_up() { etcdctl --endpoints="$ETCD_URL" --dial-timeout=1s --command-timeout=2s endpoint health >/dev/null 2>&1; }
pg_up() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

pid_of() { if [[ -f $1 ]]; then head -n 1 "$1"; fi; }
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
wait_gone() { local i; for ((i = 0; i < WAIT_SECS * 4; i++)); do alive "$1" || return 0; sleep 0.25; done; return 1; }

wait_up() { # wait_up NAME LOGFILE [PID]: poll NAME_up until it answers, PID dies or time runs out
  local i
  for ((i = 0; i < WAIT_SECS * 4; i++)); do
    "${1}_up" && return 0
    [[ -n ${3:-} ]] && ! alive "$3" && break
    sleep 0.25
  done
  echo "services: $1 did not answer on its port (waited up to ${WAIT_SECS}s); tail of $2:" >&2
  tail -n 20 "$2" >&2 || true
  exit 1
}

start_redis() {
  if redis_up; then say "redis already up on $REDIS_PORT"; return; fi
  local d="$DATA/redis"; mkdir -p "$d"
  cat >"$d/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
protected-mode no
daemonize yes
pidfile $d/redis.pid
logfile $d/redis.log
dir $d
save ""
appendonly yes
appendfsync $REDIS_FSYNC
maxmemory-policy noeviction
EOF
  redis-server "$d/redis.conf" || die "redis-server failed; see $d/redis.log"
  wait_up redis "$d/redis.log"
  say "redis started on $REDIS_PORT (appendfsync $REDIS_FSYNC)"
}

start_etcd() {
  if etcd_up; then say "etcd already up on $ETCD_PORT"; return; fi
  local d="$DATA/etcd"; mkdir -p "$d"
  # setsid: a session of its own, so Ctrl-C in the terminal that started it (npm start) or the end of
  # the shell job does not reach it; only `stop` ends it.
  setsid nohup etcd --name default --data-dir "$d/data" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "default=http://127.0.0.1:$ETCD_PEER" \
    </dev/null >>"$d/etcd.log" 2>&1 &
  echo $! >"$d/etcd.pid"
  wait_up etcd "$d/etcd.log" $!
  say "etcd started on $ETCD_PORT (peer $ETCD_PEER)"
}

start_pg() {
  if pg_up; then say "postgres already up on $PG_PORT"
  else
    mkdir -p "$PG_DIR/sock"
    ((IS_ROOT)) && chown -R postgres: "$PG_DIR"
    if [[ ! -f $PG_DIR/data/PG_VERSION ]]; then
      as_pg "$PGBIN/initdb" -D "$PG_DIR/data" -A trust --username=postgres -E UTF8 \
        --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { tail -n 20 "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
      say "postgres cluster initialised in $PG_DIR/data"
    fi
    as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t "$WAIT_SECS" \
      -o "-p $PG_PORT -k $PG_DIR/sock -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" \
      start >/dev/null || { tail -n 20 "$PG_DIR/postgres.log" >&2; die "pg_ctl start failed"; }
    wait_up pg "$PG_DIR/postgres.log"
    say "postgres started on $PG_PORT ($PG_DIR)"
  fi
  local db
  for db in taskstream taskstream_test; do
    if [[ -z $("$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
        "select 1 from pg_database where datname = '$db'") ]]; then
      "$PGBIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "create database $db"
      say "postgres database $db created"
    fi
  done
}

stop_redis() {
  local pid; pid="$(pid_of "$DATA/redis/redis.pid")"
  if redis_up; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
    wait_gone "$pid" || die "redis (pid $pid) did not stop"
    say "redis stopped"
  else say "redis not running"; fi
}

stop_etcd() {
  local pid; pid="$(pid_of "$DATA/etcd/etcd.pid")"
  if alive "$pid"; then
    kill "$pid"; wait_gone "$pid" || { kill -9 "$pid" 2>/dev/null || true; }
    say "etcd stopped"
  else say "etcd not running"; fi
  rm -f "$DATA/etcd/etcd.pid"
}

stop_pg() {
  if [[ -f $PG_DIR/data/postmaster.pid ]] && as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
    say "postgres stopped"
  else say "postgres not running"; fi
}

status_line() { # status_line NAME PORT PIDFILE
  local state=down pid; pid="$(pid_of "$3")"
  "${1}_up" && state=up
  alive "$pid" || pid=""  # ignore a stale pid file
  printf '%-9s %-4s port %-6s pid %s\n' "$1" "$state" "$2" "${pid:--}"
}

print_env() {
  if [[ $REDIS_CLUSTER == 1 ]]; then
    echo "export TASKSTREAM_REDIS_URL=$(redis_cluster_url)"
    echo "export TASKSTREAM_REDIS_CLUSTER=1"
  else
    echo "export TASKSTREAM_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
  fi
  if [[ $ETCD_CLUSTER == 1 ]]; then echo "export TASKSTREAM_ETCD_ENDPOINTS=$(etcd_cluster_endpoints)"
  else echo "export TASKSTREAM_ETCD_ENDPOINTS=$ETCD_URL"; fi
  cat <<EOF
export TASKSTREAM_PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/taskstream
export TASKSTREAM_TEST_PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/taskstream_test
EOF
}

stop_all() { setup; stop_redis; stop_redis_cluster; stop_etcd; stop_etcd_cluster; stop_pg; }

# shellcheck source=scripts/services-clusters.sh
. "$ROOT/scripts/services-clusters.sh"

command="${1:-}"
(($# > 0)) && shift
for option in "$@"; do
  case "$option" in
    --redis-cluster) REDIS_CLUSTER=1 ;;
    --etcd-cluster) ETCD_CLUSTER=1 ;;
    *) echo "services: unknown option $option" >&2; exit 2 ;;
  esac
done

case "$command" in
  start)
    ensure_packages; setup
    if [[ $REDIS_CLUSTER == 1 ]]; then start_redis_cluster; else start_redis; fi
    if [[ $ETCD_CLUSTER == 1 ]]; then start_etcd_cluster; else start_etcd; fi
    start_pg
    print_env >"$DATA/env"
    say "env written to $DATA/env" ;;
  stop) stop_all ;;
  status)
    setup
    status_line redis "$REDIS_PORT" "$DATA/redis/redis.pid"
    status_line etcd "$ETCD_PORT" "$DATA/etcd/etcd.pid"
    status_line pg "$PG_PORT" "$PG_DIR/data/postmaster.pid"
    status_clusters ;;
  revive) setup; revive_clusters ;;
  env) print_env ;;
  reset)
    stop_all
    [[ -n $DATA && $DATA != / ]] || die "refusing to delete '$DATA'"
    rm -rf "$DATA" "$PG_TMP"
    say "deleted $DATA and $PG_TMP" ;;
  *) echo "usage: $0 start [--redis-cluster] [--etcd-cluster] | stop | status | revive | env | reset" >&2; exit 2 ;;
esac
