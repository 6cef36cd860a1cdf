# shellcheck shell=bash
# Redis (sourced by scripts/stack.sh; config: redis.conf.template).

configure_redis() {
  # appendonly keeps data across stop-service/start-service (TERM flushes the AOF); RDB snapshots are off.
  configure_redis_named redis "$REDIS_PORT"
}

# configure_redis_named NAME PORT: a Redis whose config, pid, log and data dir are $STATE/NAME*.
configure_redis_named() {
  local REDIS_NAME="$1" REDIS_PORT="$2"
  mkdir -p "$STATE/$REDIS_NAME"
  render redis.conf.template "$STATE/$REDIS_NAME.conf" REDIS_PORT STATE REDIS_NAME
}

start_redis() {
  require_free_port "$REDIS_PORT" redis
  redis-server "$STATE/redis.conf" >>"$STATE/redis.log" 2>&1 || fail_service redis "$STATE/redis.log" "failed to start"
}

wait_redis() { wait_redis_named redis "$REDIS_PORT"; }

# wait_redis_named NAME PORT: waits for a daemonized Redis (or Sentinel) of configure_redis_named to answer.
wait_redis_named() {
  local name="$1" port="$2" pid=""
  for _ in $(seq 50); do # daemonize: the pid file appears just after the fork
    [ -s "$STATE/$name.pid" ] && pid="$(cat "$STATE/$name.pid")" && break
    sleep 0.1
  done
  [ -n "$pid" ] || fail_service "$name" "$STATE/$name.log" "wrote no pid file"
  wait_ready "$name" 20 "$pid" "$STATE/$name.log" redis_pong "$port"
}

redis_pong() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
