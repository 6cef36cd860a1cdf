# shellcheck shell=bash
# Redis (sourced by scripts/stack.sh; config: redis.conf.template).

configure_redis() {
  mkdir -p "$STATE/redis"
  # appendonly keeps data across stop-service/start-service (TERM flushes the AOF); RDB snapshots are off.
  render redis.conf.template "$STATE/redis.conf" REDIS_PORT STATE
}

start_redis() {
  require_free_port "$REDIS_PORT" redis
  redis-server "$STATE/redis.conf" >>"$STATE/redis.log" 2>&1 || fail_service redis "$STATE/redis.log" "failed to start"
}

wait_redis() {
  local pid=""
  for _ in $(seq 50); do # daemonize: the pid file appears just after the fork
    [ -s "$STATE/redis.pid" ] && pid="$(cat "$STATE/redis.pid")" && break
    sleep 0.1
  done
  [ -n "$pid" ] || fail_service redis "$STATE/redis.log" "wrote no pid file"
  wait_ready redis 20 "$pid" "$STATE/redis.log" redis_pong
}

redis_pong() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
