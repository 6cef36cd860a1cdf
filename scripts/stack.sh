#!/usr/bin/env bash
# Starts and stops a real, throw-away test stack on loopback: Redis, Prosody 0.12 (or ejabberd 23.01) and Synapse.
#
#   scripts/stack.sh up STATE_DIR                      install what is missing, (re)start all three, wait until
#                                                      ready, write STATE_DIR/stack.env
#   scripts/stack.sh down STATE_DIR                    stop everything started for STATE_DIR (exit 0 if already down)
#   scripts/stack.sh stop-service|start-service|restart-service STATE_DIR redis|prosody|ejabberd|xmpp|synapse|sentinel
#   scripts/stack.sh xmpp-user STATE_DIR USER PASS     create (or re-password) an XMPP account on XMPP_DOMAIN
#
# Inputs (environment, read by `up`; later commands reuse what `up` wrote to STATE_DIR/stack.env):
#   REDIS_PORT XMPP_C2S_PORT XMPP_COMPONENT_PORT XMPP_HTTP_PORT SYNAPSE_PORT XMPP_DOMAIN MUC_DOMAIN UPLOAD_DOMAIN
#   COMPONENT_DOMAIN COMPONENT_SECRET MATRIX_DOMAIN REGISTRATION (optional appservice registration YAML)
#   SENTINEL_PORT SENTINEL_PRIMARY_PORT SENTINEL_REPLICA_PORT (default REDIS_PORT+3, +1, +2: the `sentinel` service,
#   which `up` does not start: a Redis primary, its replica and a Sentinel, apart from the stack's Redis)
#   STACK_SYNAPSE_TIMEOUT (seconds to wait for Synapse, default 180), DEBIAN_MIRROR (for the Synapse chroot)
#   XMPP_SERVER=prosody|ejabberd (default prosody): which XMPP server runs on the XMPP ports; the service `xmpp`
#   names whichever it is. ejabberd also takes EJABBERD_DIST_PORT (Erlang distribution, default XMPP_C2S_PORT+150).
#
# Layout of STATE_DIR:
#   stack.env  .stack-id  .secrets                 outputs, instance id, generated secrets
#   redis.conf redis.pid redis.log redis/          Redis (AOF in redis/, so data survives stop/start)
#   sentinel*.conf sentinel*.pid sentinel*.log sentinel*/   the Sentinel, and the primary and replica it watches
#   prosody.cfg.lua prosody.pid prosody.log prosody-data/ prosody.console.log
#   ejabberd.yml ejabberd.pid ejabberd.console.log ejabberd/ (logs, mnesia spool, uploads, Erlang cookie)
#   synapse.pid  synapse -> symlink to the Synapse data dir inside the chroot
#
# Synapse is not packaged for Debian 12, so it runs from a Debian sid chroot cached at $ROOT/.cache/synapse-root.
# Its config and data live INSIDE the chroot at /var/lib/stack/<instance id>/ (symlinked as STATE_DIR/synapse),
# rather than bind-mounting STATE_DIR into the chroot: bind mounts need CAP_SYS_ADMIN, which containers often
# lack, and a forgotten mount makes deleting either tree dangerous. Nothing is mounted at all: Synapse runs
# without /proc, and the chroot's /dev already holds the device nodes debootstrap created. The instance id is
# random per STATE_DIR (kept in STATE_DIR/.stack-id), so a deleted-and-recreated STATE_DIR starts from a fresh
# Synapse database; data dirs whose STATE_DIR is gone are pruned (and their Synapse killed) on the next `up`.
#
# This script assembles and starts; each server's config template and its configure/start/wait code live in
# scripts/stack/ (redis.sh, sentinel.sh, prosody.sh, ejabberd.sh, synapse.sh, *.template), the process helpers in process.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROOT="$ROOT/.cache/synapse-root"
CHROOT_STACK_DIR=/var/lib/stack # inside the chroot
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STACK_SYNAPSE_TIMEOUT="${STACK_SYNAPSE_TIMEOUT:-180}"
STACK_LIB="$ROOT/scripts/stack"
SERVICES=(redis prosody synapse)
# `down` and `up` stop every kind of XMPP server that could be running for STATE_DIR, whichever one it was.
ALL_SERVICES=(redis prosody ejabberd synapse sentinel)

# Every key written to stack.env, in order (the derived ones are computed in derive_settings).
ENV_KEYS=(REDIS_PORT XMPP_C2S_PORT XMPP_COMPONENT_PORT XMPP_HTTP_PORT SYNAPSE_PORT XMPP_DOMAIN MUC_DOMAIN
  UPLOAD_DOMAIN COMPONENT_DOMAIN COMPONENT_SECRET MATRIX_DOMAIN REGISTRATION XMPP_SERVER
  SENTINEL_PORT SENTINEL_PRIMARY_PORT SENTINEL_REPLICA_PORT SENTINEL_MASTER_NAME
  SYNAPSE_URL REDIS_URL XMPP_COMPONENT_SERVICE XMPP_C2S_SERVICE XMPP_HTTP_URL SYNAPSE_REGISTRATION_SHARED_SECRET
  STACK_STATE_DIR SYNAPSE_DATA_DIR)

log() { echo "stack: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# shellcheck source=stack/apt.sh
source "$STACK_LIB/apt.sh"
# shellcheck source=stack/process.sh
source "$STACK_LIB/process.sh"
# shellcheck source=stack/redis.sh
source "$STACK_LIB/redis.sh"
# shellcheck source=stack/sentinel.sh
source "$STACK_LIB/sentinel.sh"
# shellcheck source=stack/prosody.sh
source "$STACK_LIB/prosody.sh"
# shellcheck source=stack/ejabberd.sh
source "$STACK_LIB/ejabberd.sh"
# shellcheck source=stack/synapse.sh
source "$STACK_LIB/synapse.sh"

# ---------------------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------------------

default_settings() {
  REDIS_PORT="${REDIS_PORT:-16379}"
  XMPP_C2S_PORT="${XMPP_C2S_PORT:-15222}"
  XMPP_COMPONENT_PORT="${XMPP_COMPONENT_PORT:-15347}"
  XMPP_HTTP_PORT="${XMPP_HTTP_PORT:-15280}"
  SYNAPSE_PORT="${SYNAPSE_PORT:-18008}"
  XMPP_DOMAIN="${XMPP_DOMAIN:-xmpp.test}"
  MUC_DOMAIN="${MUC_DOMAIN:-conference.xmpp.test}"
  UPLOAD_DOMAIN="${UPLOAD_DOMAIN:-upload.xmpp.test}"
  COMPONENT_DOMAIN="${COMPONENT_DOMAIN:-matrix.xmpp.test}"
  COMPONENT_SECRET="${COMPONENT_SECRET:-stack-component-secret}"
  MATRIX_DOMAIN="${MATRIX_DOMAIN:-matrix.test}"
  REGISTRATION="${REGISTRATION:-}"
  XMPP_SERVER="${XMPP_SERVER:-prosody}"
  SENTINEL_PRIMARY_PORT="${SENTINEL_PRIMARY_PORT:-$((REDIS_PORT + 1))}"
  SENTINEL_REPLICA_PORT="${SENTINEL_REPLICA_PORT:-$((REDIS_PORT + 2))}"
  SENTINEL_PORT="${SENTINEL_PORT:-$((REDIS_PORT + 3))}"
  SENTINEL_MASTER_NAME=stack
  if [ -n "$REGISTRATION" ]; then
    [ -f "$REGISTRATION" ] || die "REGISTRATION=$REGISTRATION is not a file"
    REGISTRATION="$(realpath "$REGISTRATION")"
  fi
}

# Commands other than `up` must act on the stack exactly as `up` configured it, whatever the caller's environment.
load_settings() {
  if [ -f "$STATE/stack.env" ]; then
    # A stack.env written before XMPP_SERVER existed is a Prosody stack, whatever the caller's XMPP_SERVER says.
    XMPP_SERVER=prosody
    # shellcheck disable=SC1091
    source "$STATE/stack.env"
  else
    default_settings
  fi
  select_xmpp_server
}

# SERVICES: what `up` starts; prosody by default, ejabberd with XMPP_SERVER=ejabberd.
select_xmpp_server() {
  case "$XMPP_SERVER" in
    prosody) ;;
    ejabberd) SERVICES=(redis ejabberd synapse) ;;
    *) die "XMPP_SERVER=$XMPP_SERVER: expected prosody or ejabberd" ;;
  esac
  EJABBERD_DIST_PORT="${EJABBERD_DIST_PORT:-$((XMPP_C2S_PORT + 150))}"
}

# shellcheck disable=SC2034 # written out by write_env through ${!key}
derive_settings() {
  SYNAPSE_URL="http://127.0.0.1:$SYNAPSE_PORT"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  XMPP_COMPONENT_SERVICE="xmpp://127.0.0.1:$XMPP_COMPONENT_PORT"
  XMPP_C2S_SERVICE="xmpp://127.0.0.1:$XMPP_C2S_PORT"
  XMPP_HTTP_URL="http://127.0.0.1:$XMPP_HTTP_PORT"
  STACK_STATE_DIR="$STATE"
  SYNAPSE_DATA_DIR="$SYNAPSE_DIR"
}

write_env() {
  local key tmp="$STATE/stack.env.tmp"
  : >"$tmp"
  for key in "${ENV_KEYS[@]}"; do printf '%s=%q\n' "$key" "${!key}" >>"$tmp"; done
  mv -f "$tmp" "$STATE/stack.env"
}

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# STATE: absolute STATE_DIR. INSTANCE_ID: random per STATE_DIR, names the Synapse dir inside the chroot.
init_state() {
  mkdir -p "$1"
  STATE="$(realpath "$1")"
  if [ ! -s "$STATE/.stack-id" ]; then random_hex 8 >"$STATE/.stack-id"; fi
  INSTANCE_ID="$(cat "$STATE/.stack-id")"
  SYNAPSE_IN_CHROOT="$CHROOT_STACK_DIR/$INSTANCE_ID" # path as Synapse sees it
  SYNAPSE_DIR="$CHROOT$SYNAPSE_IN_CHROOT"            # same dir as seen from the host
  if [ ! -f "$STATE/.secrets" ]; then
    {
      echo "SYNAPSE_REGISTRATION_SHARED_SECRET=$(random_hex 24)"
      echo "SYNAPSE_MACAROON_SECRET=$(random_hex 24)"
      echo "SYNAPSE_FORM_SECRET=$(random_hex 24)"
    } >"$STATE/.secrets"
  fi
  # shellcheck disable=SC1091
  source "$STATE/.secrets"
}

# render TEMPLATE OUT VAR...: writes scripts/stack/TEMPLATE to OUT with each ${VAR} replaced by the value of the
# shell variable VAR. envsubst replaces only the variables it is given and leaves every other $ alone, so Lua and
# YAML pass through untouched, and it inserts values as they are, whatever characters they hold. A ${NAME} in the
# template that is not among the VARs is an error rather than a silently empty setting.
render() {
  local template="$STACK_LIB/$1" out="$2" var unfilled; shift 2
  unfilled="$(grep -o '[$]{[A-Za-z_][A-Za-z0-9_]*}' "$template" | grep -vxF "$(printf "\${%s}\n" "$@")" || true)"
  [ -z "$unfilled" ] || die "${template##*/} uses ${unfilled//$'\n'/ }, which its caller does not fill in"
  local -a values=()
  for var in "$@"; do values+=("$var=${!var}"); done
  env "${values[@]}" envsubst "$(printf "\${%s} " "$@")" <"$template" >"$out"
}

# ---------------------------------------------------------------------------------------------------------------
# Installation
# ---------------------------------------------------------------------------------------------------------------

ensure_host_packages() {
  local -A pkg_of=([redis-server]=redis-server [redis-cli]=redis-tools [redis-sentinel]=redis-sentinel [prosody]=prosody [prosodyctl]=prosody
    [curl]=curl [flock]=util-linux [setsid]=util-linux [timeout]=coreutils [realpath]=coreutils [envsubst]=gettext-base)
  local cmd missing=()
  for cmd in "${!pkg_of[@]}"; do command -v "$cmd" >/dev/null || missing+=("${pkg_of[$cmd]}"); done
  if [ ! -d "$CHROOT" ] && ! command -v debootstrap >/dev/null; then missing+=(debootstrap); fi
  # Community modules: muc_moderation (XEP-0425) and vcard_muc (room avatars, XEP-0486) are loaded on the MUC.
  [ -d /usr/lib/prosody/modules/mod_muc_moderation ] || missing+=(prosody-modules)
  # Only the ejabberd stack needs ejabberd (which brings erl).
  if [ "${XMPP_SERVER:-prosody}" = ejabberd ] && ! command -v ejabberdctl >/dev/null; then missing+=(ejabberd); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
  if [ "${XMPP_SERVER:-prosody}" = ejabberd ]; then disable_system_ejabberd; fi
}

# ---------------------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------------------

start_one() { "start_$1"; "wait_$1"; }

cmd_up() {
  ensure_host_packages
  ensure_chroot
  default_settings
  init_state "$1"
  select_xmpp_server
  derive_settings
  local s
  for s in "${ALL_SERVICES[@]}"; do stop_service "$s"; done
  prune_synapse_dirs
  configure_redis
  "configure_$XMPP_SERVER"
  configure_synapse
  rm -f "$STATE/stack.env"
  # If anything fails, leave nothing running behind.
  trap 'for s in "${SERVICES[@]}"; do stop_service "$s"; done' EXIT
  local started=$SECONDS
  # Synapse is by far the slowest to boot: start it first and wait for it last.
  start_synapse
  start_redis
  "start_$XMPP_SERVER"
  wait_redis
  "wait_$XMPP_SERVER"
  wait_synapse
  trap - EXIT
  write_env
  log "up in $((SECONDS - started)) s; settings in $STATE/stack.env"
}

cmd_down() {
  [ -d "$1" ] || { log "$1 does not exist; nothing to stop"; return 0; }
  init_state "$1"
  local s
  for s in "${ALL_SERVICES[@]}"; do stop_service "$s"; done
  # Nothing is mounted by this script (see the header), so there is nothing to unmount.
}

cmd_service() {
  local action="$1" dir="$2" service="$3"
  case "$service" in redis | prosody | ejabberd | xmpp | synapse | sentinel) ;; *) die "unknown service '$service' (redis|prosody|ejabberd|xmpp|synapse|sentinel)" ;; esac
  [ -f "$dir/stack.env" ] || die "$dir/stack.env not found; run 'up' first"
  init_state "$dir"
  load_settings
  derive_settings
  # `xmpp` is whichever XMPP server this stack runs; naming the other one is a mistake.
  if [ "$service" = xmpp ]; then service="$XMPP_SERVER"; fi
  case "$service" in
    prosody | ejabberd) [ "$service" = "$XMPP_SERVER" ] || die "this stack runs $XMPP_SERVER, not $service" ;;
  esac
  case "$action" in
    stop) stop_service "$service" ;;
    start)
      if [ -n "$(service_pids "$service")" ]; then log "$service is already running"; return 0; fi
      start_one "$service"
      ;;
    restart) stop_service "$service"; start_one "$service" ;;
  esac
}

cmd_xmpp_user() {
  local dir="$1" user="$2" pass="$3"
  [ -f "$dir/stack.env" ] || die "$dir/stack.env not found; run 'up' first"
  init_state "$dir"
  load_settings
  "${XMPP_SERVER}_user" "$user" "$pass"
}

main() {
  [ "$#" -ge 2 ] || usage
  local cmd="$1"; shift
  case "$cmd" in
    up) [ "$#" -eq 1 ] || usage; cmd_up "$1" ;;
    down) [ "$#" -eq 1 ] || usage; cmd_down "$1" ;;
    stop-service | start-service | restart-service)
      [ "$#" -eq 2 ] || usage
      cmd_service "${cmd%-service}" "$1" "$2"
      ;;
    xmpp-user) [ "$#" -eq 3 ] || usage; cmd_xmpp_user "$@" ;;
    *) usage ;;
  esac
}

main "$@"
