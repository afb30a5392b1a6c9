# Sourced by scripts/services.sh: the clustered flavours of the local services.
#   Redis Cluster: six redis-server processes (three masters, three replicas) on loopback, each with
#     AOF like the single node, formed with `redis-cli --cluster create`.
#   etcd: three members on loopback, one Raft group.
# Each node keeps its data, pid file and log under $DATA/redis-cluster/<port> or $DATA/etcd-cluster/<name>,
# so a test that kills one (kill -9 of the pid in its redis.pid / etcd.pid) starts it again with
# `services.sh start --redis-cluster` / `--etcd-cluster`: the node rejoins with the state it kept.

REDIS_NODES=6
ETCD_MEMBERS=3

redis_node_ports() { local i; for ((i = 1; i <= REDIS_NODES; i++)); do echo $((REDIS_PORT + i)); done; }
redis_node_up() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }
redis_cluster_url() { # redis://127.0.0.1:P1,redis://127.0.0.1:P2,…
  local port urls=()
  for port in $(redis_node_ports); do urls+=("redis://127.0.0.1:$port"); done
  (IFS=,; echo "${urls[*]}")
}
cluster_field() { # cluster_field PORT FIELD: a field of CLUSTER INFO on that node
  redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

start_redis_node() {
  local port=$1 d="$DATA/redis-cluster/$1"
  redis_node_up "$port" && return 0
  mkdir -p "$d"
  # The cluster bus port would be port+10000 by default; it is pinned next to the nodes instead, so
  # the whole cluster stays inside the twelve ports above REDIS_PORT.
  cat >"$d/redis.conf" <<EOF
bind 127.0.0.1
port $port
cluster-enabled yes
cluster-port $((port + REDIS_NODES))
cluster-config-file $d/nodes.conf
cluster-node-timeout $REDIS_NODE_TIMEOUT_MS
cluster-require-full-coverage no
repl-diskless-sync-delay 0
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
  redis-server "$d/redis.conf" || die "redis-server on $port failed; see $d/redis.log"
  local i
  for ((i = 0; i < WAIT_SECS * 4; i++)); do redis_node_up "$port" && return 0; sleep 0.25; done
  tail -n 20 "$d/redis.log" >&2
  die "redis node $port did not answer within ${WAIT_SECS}s"
}

start_redis_cluster() {
  local port nodes=() fresh=1
  for port in $(redis_node_ports); do
    start_redis_node "$port"
    nodes+=("127.0.0.1:$port")
    [[ $(cluster_field "$port" cluster_known_nodes) == 1 ]] || fresh=0
  done
  if ((fresh)); then
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
      >"$DATA/redis-cluster/create.log" 2>&1 || { tail -n 20 "$DATA/redis-cluster/create.log" >&2; die "redis-cli --cluster create failed"; }
  fi
  wait_redis_cluster_ok
  say "redis cluster up on $(redis_node_ports | head -n 1)-$((REDIS_PORT + REDIS_NODES)), three masters and three replicas (appendfsync $REDIS_FSYNC)"
}

# Every node answers with the whole slot space served and sees every other node; every master has a replica.
wait_redis_cluster_ok() {
  local i port ok
  for ((i = 0; i < WAIT_SECS * 4; i++)); do
    ok=1
    for port in $(redis_node_ports); do
      [[ $(cluster_field "$port" cluster_state) == ok && $(cluster_field "$port" cluster_slots_ok) == 16384 &&
        $(cluster_field "$port" cluster_known_nodes) == "$REDIS_NODES" ]] || { ok=0; break; }
    done
    if ((ok)); then
      local masters
      masters=$(redis-cli -h 127.0.0.1 -p "$((REDIS_PORT + 1))" cluster nodes 2>/dev/null | awk '$3 ~ /master/ && $3 !~ /fail/ && $8 == "connected" && NF > 8 {print $1}')
      for port in $masters; do
        redis-cli -h 127.0.0.1 -p "$((REDIS_PORT + 1))" cluster replicas "$port" 2>/dev/null | grep -q ' connected' || { ok=0; break; }
      done
      ((ok)) && return 0
    fi
    sleep 0.25
  done
  redis-cli -h 127.0.0.1 -p "$((REDIS_PORT + 1))" cluster nodes >&2 || true
  die "redis cluster not ok within ${WAIT_SECS}s"
}

stop_redis_cluster() {
  local port pid stopped=0
  for port in $(redis_node_ports); do
    pid="$(pid_of "$DATA/redis-cluster/$port/redis.pid")"
    if alive "$pid"; then
      redis-cli -h 127.0.0.1 -p "$port" shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
      wait_gone "$pid" || die "redis node $port (pid $pid) did not stop"
      stopped=1
    fi
  done
  ((stopped)) && say "redis cluster stopped"
  return 0
}

etcd_member_client() { echo $((ETCD_PORT + 2 * $1)); }
etcd_member_peer() { echo $((ETCD_PORT + 2 * $1 + 1)); }
etcd_cluster_endpoints() {
  local i urls=()
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do urls+=("http://127.0.0.1:$(etcd_member_client "$i")"); done
  (IFS=,; echo "${urls[*]}")
}
etcd_member_up() {
  etcdctl --endpoints="http://127.0.0.1:$(etcd_member_client "$1")" --dial-timeout=1s --command-timeout=2s \
    endpoint health >/dev/null 2>&1
}

start_etcd_cluster() {
  local i initial=() started=()
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do initial+=("m$i=http://127.0.0.1:$(etcd_member_peer "$i")"); done
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    local d="$DATA/etcd-cluster/m$i" client peer
    client="http://127.0.0.1:$(etcd_member_client "$i")"
    peer="http://127.0.0.1:$(etcd_member_peer "$i")"
    alive "$(pid_of "$d/etcd.pid")" && continue
    mkdir -p "$d"
    # The --initial-* flags only matter on the first start; a member restarted later keeps its data
    # directory and rejoins the group it belongs to.
    setsid nohup etcd --name "m$i" --data-dir "$d/data" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$(IFS=,; echo "${initial[*]}")" --initial-cluster-state new \
      --initial-cluster-token "taskstream-$ETCD_PORT" \
      </dev/null >>"$d/etcd.log" 2>&1 &
    echo $! >"$d/etcd.pid"
    started+=("$i")
  done
  # A member answers healthy only once a quorum has formed, so every member is started before any is awaited.
  local j
  for i in "${started[@]}"; do
    for ((j = 0; j < WAIT_SECS * 4; j++)); do etcd_member_up "$i" && break; sleep 0.25; done
    etcd_member_up "$i" || { tail -n 20 "$DATA/etcd-cluster/m$i/etcd.log" >&2; die "etcd member m$i did not become healthy"; }
  done
  say "etcd cluster up: $(etcd_cluster_endpoints)"
}

stop_etcd_cluster() {
  local i pid stopped=0
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    pid="$(pid_of "$DATA/etcd-cluster/m$i/etcd.pid")"
    if alive "$pid"; then
      kill "$pid"; wait_gone "$pid" || kill -9 "$pid" 2>/dev/null || true
      stopped=1
    fi
    rm -f "$DATA/etcd-cluster/m$i/etcd.pid"
  done
  ((stopped)) && say "etcd cluster stopped"
  return 0
}

status_clusters() {
  local port i state pid
  for port in $(redis_node_ports); do
    [[ -d $DATA/redis-cluster/$port ]] || continue
    state=down; redis_node_up "$port" && state="up $(redis-cli -h 127.0.0.1 -p "$port" role 2>/dev/null | head -n 1)"
    pid="$(pid_of "$DATA/redis-cluster/$port/redis.pid")"; alive "$pid" || pid=""
    printf '%-9s %-11s port %-6s pid %s\n' "redis-$port" "$state" "$port" "${pid:--}"
  done
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    [[ -d $DATA/etcd-cluster/m$i ]] || continue
    state=down; etcd_member_up "$i" && state=up
    pid="$(pid_of "$DATA/etcd-cluster/m$i/etcd.pid")"; alive "$pid" || pid=""
    printf '%-9s %-11s port %-6s pid %s\n' "etcd-m$i" "$state" "$(etcd_member_client "$i")" "${pid:--}"
  done
}

# Starts again every node of a local cluster that is down (a test killed it), and waits for it.
revive_clusters() {
  local port revived=0
  for port in $(redis_node_ports); do
    if [[ -f $DATA/redis-cluster/$port/redis.conf ]] && ! redis_node_up "$port"; then
      start_redis_node "$port"; revived=1
    fi
  done
  if ((revived)); then wait_redis_cluster_ok; say "redis cluster nodes revived"; fi
  [[ -d $DATA/etcd-cluster/m1 ]] && start_etcd_cluster
  return 0
}
