# shellcheck shell=bash
# Redis Sentinel (sourced by scripts/stack.sh), for the tests of a failover: a Redis primary and its replica, apart
# from the stack's own Redis, and one Sentinel watching them as $SENTINEL_MASTER_NAME (quorum 1, down after 1 s).
# `up` does not start it; `start-service STATE_DIR sentinel` does. Configs: redis.conf.template (both Redis
# servers, the replica with `replicaof` added) and sentinel.conf.template; everything under $STATE/sentinel*.

start_sentinel() {
  local port
  for port in "$SENTINEL_PRIMARY_PORT" "$SENTINEL_REPLICA_PORT" "$SENTINEL_PORT"; do require_free_port "$port" sentinel; done
  configure_redis_named sentinel-primary "$SENTINEL_PRIMARY_PORT"
  configure_redis_named sentinel-replica "$SENTINEL_REPLICA_PORT"
  echo "replicaof 127.0.0.1 $SENTINEL_PRIMARY_PORT" >>"$STATE/sentinel-replica.conf"
  mkdir -p "$STATE/sentinel"
  render sentinel.conf.template "$STATE/sentinel.conf" SENTINEL_PORT SENTINEL_PRIMARY_PORT SENTINEL_MASTER_NAME STATE
  local name
  for name in sentinel-primary sentinel-replica; do
    redis-server "$STATE/$name.conf" >>"$STATE/$name.log" 2>&1 || fail_service "$name" "$STATE/$name.log" "failed to start"
  done
  redis-sentinel "$STATE/sentinel.conf" >>"$STATE/sentinel.log" 2>&1 || fail_service sentinel "$STATE/sentinel.log" "failed to start"
}

wait_sentinel() {
  wait_redis_named sentinel-primary "$SENTINEL_PRIMARY_PORT"
  wait_redis_named sentinel-replica "$SENTINEL_REPLICA_PORT"
  wait_redis_named sentinel "$SENTINEL_PORT"
  local pid
  pid="$(cat "$STATE/sentinel.pid")"
  wait_ready sentinel 30 "$pid" "$STATE/sentinel.log $STATE/sentinel-replica.log" sentinel_knows_replica
}

# The Sentinel found the replica (through the primary): a failover can promote it.
sentinel_knows_replica() {
  redis-cli -h 127.0.0.1 -p "$SENTINEL_PORT" sentinel replicas "$SENTINEL_MASTER_NAME" | grep -qx "$SENTINEL_REPLICA_PORT" &&
    redis-cli -h 127.0.0.1 -p "$SENTINEL_REPLICA_PORT" info replication | grep -q '^master_link_status:up'
}
