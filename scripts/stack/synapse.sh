# shellcheck shell=bash
# Synapse in its Debian sid chroot (sourced by scripts/stack.sh; config: homeserver.yaml.template and
# synapse-log.yaml.template). Why a chroot, and why nothing is mounted: see the header of scripts/stack.sh.

# Unmounts whatever an interrupted debootstrap left mounted under $1 (deepest first), then deletes $1 without
# crossing into any filesystem that is still mounted.
remove_tree() {
  local dir="$1" mp
  [ -e "$dir" ] || return 0
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mp; do
    umount -l "$mp" || true
  done
  rm -rf --one-file-system "$dir"
}

# Builds the Synapse chroot into a temp dir and renames it into place only when complete, so a half-made chroot
# is never used. A lock file serialises concurrent `up`s that would both build it.
ensure_chroot() {
  [ -d "$CHROOT" ] && return 0
  mkdir -p "$(dirname "$CHROOT")"
  exec 8>"$CHROOT.lock"
  flock 8
  if [ -d "$CHROOT" ]; then exec 8>&-; return 0; fi
  local stale
  for stale in "$CHROOT".build.*; do remove_tree "$stale"; done # leftovers of killed builds (we hold the lock)
  local tmp="$CHROOT.build.$$"
  log "building the Synapse chroot (Debian sid + matrix-synapse) in $tmp; this takes about a minute"
  local started=$SECONDS
  if ! {
    debootstrap --variant=minbase sid "$tmp" "$DEBIAN_MIRROR" >"$tmp.log" 2>&1 &&
      # No init system in the chroot: stop package scripts from trying to start services.
      printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d" && chmod +x "$tmp/usr/sbin/policy-rc.d" &&
      chroot "$tmp" apt-get -o Acquire::Check-Valid-Until=false update >>"$tmp.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive chroot "$tmp" apt-get install -y --no-install-recommends matrix-synapse \
        >>"$tmp.log" 2>&1 &&
      chroot "$tmp" apt-get clean >>"$tmp.log" 2>&1 &&
      chroot "$tmp" python3 -c 'import synapse.app.homeserver' >>"$tmp.log" 2>&1
  }; then
    tail -n 30 "$tmp.log" >&2 || true
    remove_tree "$tmp"
    die "building the Synapse chroot failed (log above)"
  fi
  mv -T "$tmp" "$CHROOT"
  rm -f "$tmp.log"
  exec 8>&-
  log "Synapse chroot ready after $((SECONDS - started)) s"
}

# Deletes Synapse data dirs (and kills their Synapse) whose STATE_DIR is gone or now has another instance id.
prune_synapse_dirs() {
  local dir id owner pids
  for dir in "$CHROOT$CHROOT_STACK_DIR"/*/; do
    [ -d "$dir" ] || continue
    dir="${dir%/}"
    id="${dir##*/}"
    [ "$id" = "$INSTANCE_ID" ] && continue
    owner="$(cat "$dir/owner" 2>/dev/null || true)"
    if [ -n "$owner" ] && [ "$(cat "$owner/.stack-id" 2>/dev/null || true)" = "$id" ]; then continue; fi
    mapfile -t pids < <(service_pids synapse "$id")
    if [ "${#pids[@]}" -gt 0 ]; then
      log "stopping orphaned synapse (pid ${pids[*]}) of deleted ${owner:-state dir}"
      kill_pids 8 "${pids[@]}"
    fi
    rm -rf "$dir"
  done
}

# shellcheck disable=SC2153 # SYNAPSE_DIR is no misspelling of SYNAPSE_PID: init_state sets it
configure_synapse() {
  mkdir -p "$SYNAPSE_DIR/media_store"
  echo "$STATE" >"$SYNAPSE_DIR/owner"
  ln -sfn "$SYNAPSE_DIR" "$STATE/synapse"
  # An ed25519 signing key file is "ed25519 <version> <unpadded base64 of a 32-byte seed>"; any seed is valid,
  # so it is written directly instead of spending ~1.5 s in `--generate-keys`.
  if [ ! -s "$SYNAPSE_DIR/signing.key" ]; then
    echo "ed25519 a_$(random_hex 2) $(head -c 32 /dev/urandom | base64 | tr -d '=')" >"$SYNAPSE_DIR/signing.key"
  fi
  render synapse-log.yaml.template "$SYNAPSE_DIR/log.yaml" SYNAPSE_IN_CHROOT
  # shellcheck disable=SC2034 # read by render through ${!var}
  local RATE_LIMIT='{per_second: 1000, burst_count: 10000}' # every rc_* setting
  render homeserver.yaml.template "$SYNAPSE_DIR/homeserver.yaml" STATE MATRIX_DOMAIN SYNAPSE_PORT SYNAPSE_IN_CHROOT \
    SYNAPSE_REGISTRATION_SHARED_SECRET SYNAPSE_MACAROON_SECRET SYNAPSE_FORM_SECRET RATE_LIMIT
  if [ -n "$REGISTRATION" ]; then
    printf 'app_service_config_files:\n  - %s/appservice-registration.yaml\n' "$SYNAPSE_IN_CHROOT" \
      >>"$SYNAPSE_DIR/homeserver.yaml"
  fi
}

start_synapse() {
  require_free_port "$SYNAPSE_PORT" synapse
  [ -f "$SYNAPSE_DIR/homeserver.yaml" ] || die "no Synapse config for $STATE; run 'up' first"
  # Re-copied on every start so that a restarted Synapse sees the current registration file.
  if [ -n "$REGISTRATION" ]; then
    cp -f "$REGISTRATION" "$SYNAPSE_DIR/appservice-registration.yaml" || die "cannot copy REGISTRATION=$REGISTRATION"
  fi
  # chroot(8) execs the command, so $! is Synapse's own pid. Console output only catches early crashes; the real
  # log is homeserver.log.
  setsid nohup chroot "$CHROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    python3 -m synapse.app.homeserver -c "$SYNAPSE_IN_CHROOT/homeserver.yaml" \
    >"$SYNAPSE_DIR/console.log" 2>&1 </dev/null &
  echo $! >"$STATE/synapse.pid"
  SYNAPSE_PID=$!
}

synapse_versions_ok() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$SYNAPSE_PORT/_matrix/client/versions")" = 200 ]
}

wait_synapse() {
  local pid="${SYNAPSE_PID:-$(cat "$STATE/synapse.pid")}"
  wait_ready synapse "$STACK_SYNAPSE_TIMEOUT" "$pid" "$SYNAPSE_DIR/console.log $SYNAPSE_DIR/homeserver.log" \
    synapse_versions_ok
}
