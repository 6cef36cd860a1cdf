#!/usr/bin/env bash
# Starts and stops a real, throw-away test stack on loopback: Redis, Prosody 0.12 (or ejabberd 23.01) and Synapse.
#
#   scripts/stack.sh up STATE_DIR                      install what is missing, (re)start all three, wait until
#                                                      ready, write STATE_DIR/stack.env
#   scripts/stack.sh down STATE_DIR                    stop everything started for STATE_DIR (exit 0 if already down)
#   scripts/stack.sh stop-service|start-service|restart-service STATE_DIR redis|prosody|ejabberd|xmpp|synapse
#   scripts/stack.sh xmpp-user STATE_DIR USER PASS     create (or re-password) an XMPP account on XMPP_DOMAIN
#
# Inputs (environment, read by `up`; later commands reuse what `up` wrote to STATE_DIR/stack.env):
#   REDIS_PORT XMPP_C2S_PORT XMPP_COMPONENT_PORT XMPP_HTTP_PORT SYNAPSE_PORT XMPP_DOMAIN MUC_DOMAIN UPLOAD_DOMAIN
#   COMPONENT_DOMAIN COMPONENT_SECRET MATRIX_DOMAIN REGISTRATION (optional appservice registration YAML)
#   STACK_SYNAPSE_TIMEOUT (seconds to wait for Synapse, default 180), DEBIAN_MIRROR (for the Synapse chroot)
#   XMPP_SERVER=prosody|ejabberd (default prosody): which XMPP server runs on the XMPP ports; the service `xmpp`
#   names whichever it is. ejabberd also takes EJABBERD_DIST_PORT (Erlang distribution, default XMPP_C2S_PORT+150).
#
# Layout of STATE_DIR:
#   stack.env  .stack-id  .secrets                 outputs, instance id, generated secrets
#   redis.conf redis.pid redis.log redis/          Redis (AOF in redis/, so data survives stop/start)
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
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROOT="$ROOT/.cache/synapse-root"
CHROOT_STACK_DIR=/var/lib/stack # inside the chroot
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STACK_SYNAPSE_TIMEOUT="${STACK_SYNAPSE_TIMEOUT:-180}"
SERVICES=(redis prosody synapse)
# `down` and `up` stop every kind of XMPP server that could be running for STATE_DIR, whichever one it was.
ALL_SERVICES=(redis prosody ejabberd synapse)

# Every key written to stack.env, in order (the derived ones are computed in derive_settings).
ENV_KEYS=(REDIS_PORT XMPP_C2S_PORT XMPP_COMPONENT_PORT XMPP_HTTP_PORT SYNAPSE_PORT XMPP_DOMAIN MUC_DOMAIN
  UPLOAD_DOMAIN COMPONENT_DOMAIN COMPONENT_SECRET MATRIX_DOMAIN REGISTRATION XMPP_SERVER
  SYNAPSE_URL REDIS_URL XMPP_COMPONENT_SERVICE XMPP_C2S_SERVICE XMPP_HTTP_URL SYNAPSE_REGISTRATION_SHARED_SECRET
  STACK_STATE_DIR SYNAPSE_DATA_DIR)

log() { echo "stack: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

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

# ---------------------------------------------------------------------------------------------------------------
# Installation
# ---------------------------------------------------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    # Some configured third-party repos may be unreachable; the Debian ones are what matter here.
    apt-get update -qq || log "apt-get update reported errors; trying to install anyway"
    APT_UPDATED=1
  fi
  # Keep the packages' postinst from starting system-wide redis/prosody daemons (Debian's policy-rc.d hook).
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || rc=$?
  if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
  [ "$rc" = 0 ] || die "apt-get install $* failed"
}

ensure_host_packages() {
  local -A pkg_of=([redis-server]=redis-server [redis-cli]=redis-tools [prosody]=prosody [prosodyctl]=prosody
    [curl]=curl [flock]=util-linux [setsid]=util-linux [timeout]=coreutils [realpath]=coreutils)
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

# The package's own ejabberd (ejabberd@localhost, /etc/ejabberd, ports 5222/5269/5280...) is never used here:
# policy-rc.d kept apt from starting it, and it is disabled so that a boot does not start it either. The stack's
# ejabberd has its own node name, cookie, distribution port and no epmd, so even a running system ejabberd does
# not clash with it.
disable_system_ejabberd() {
  if command -v systemctl >/dev/null && systemctl is-enabled ejabberd >/dev/null 2>&1; then
    systemctl disable ejabberd >/dev/null 2>&1 || true
  fi
  if [ -e /etc/init.d/ejabberd ] && compgen -G '/etc/rc[2-5].d/S*ejabberd' >/dev/null; then
    update-rc.d ejabberd disable >/dev/null 2>&1 || true
  fi
}

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

# ---------------------------------------------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------------------------------------------

# Prints the pids of SERVICE processes that belong to $STATE. Processes are recognised by what they carry rather
# than by pid files alone, so stale processes are found even when STATE_DIR was deleted meanwhile:
#   redis: a redis-server whose working dir is $STATE/redis (redis chdirs to its `dir`)
#   prosody: a process whose arguments include --config $STATE/prosody.cfg.lua
#   ejabberd: an Erlang VM whose arguments include its mnesia dir, "$STATE/ejabberd/spool" (quotes included)
#   synapse: a process whose arguments include this instance's homeserver.yaml (or $2, another instance id)
service_pids() {
  local service="$1" id="${2:-$INSTANCE_ID}" d pid comm cwd
  local -a args
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    [ "$pid" = "$$" ] && continue
    case "$service" in
      redis)
        { read -r comm <"$d/comm"; } 2>/dev/null || continue
        [ "$comm" = redis-server ] || continue
        cwd="$(readlink "$d/cwd" 2>/dev/null)" || continue
        if [ "$cwd" = "$STATE/redis" ] || [ "$cwd" = "$STATE/redis (deleted)" ]; then echo "$pid"; fi
        ;;
      prosody | synapse | ejabberd)
        { mapfile -d '' -t args <"$d/cmdline"; } 2>/dev/null || continue
        local want="$STATE/prosody.cfg.lua"
        [ "$service" = synapse ] && want="$CHROOT_STACK_DIR/$id/homeserver.yaml"
        [ "$service" = ejabberd ] && want="\"$STATE/ejabberd/spool\""
        local a
        for a in "${args[@]}"; do
          if [ "$a" = "$want" ]; then echo "$pid"; break; fi
        done
        ;;
    esac
  done
}

# A dead process lingers as a zombie until PID 1 reaps it (about a second on some machines), and kill -0 still
# succeeds on zombies, so look at the state too.
pid_alive() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ]
}

# TERM, then KILL whatever is still alive after a grace period.
kill_pids() {
  local grace="$1"; shift
  [ "$#" -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  local deadline=$((SECONDS + grace)) pid alive
  while :; do
    alive=()
    for pid in "$@"; do pid_alive "$pid" && alive+=("$pid"); done
    [ "${#alive[@]}" -eq 0 ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "killing ${alive[*]} (still alive after TERM)"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      sleep 0.2
      return 0
    fi
    sleep 0.1
  done
}

stop_service() {
  local service="$1" pids
  mapfile -t pids < <(service_pids "$service")
  if [ "${#pids[@]}" -gt 0 ]; then
    log "stopping $service (pid ${pids[*]})"
    kill_pids 8 "${pids[@]}"
  fi
  rm -f "$STATE/$service.pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port still taken after our own processes were stopped belongs to someone else; readiness checks would then
# talk to the wrong server, so refuse.
require_free_port() {
  if port_open "$1"; then die "port $1 ($2) is already in use by another process; set a different port"; fi
}

# wait_ready NAME TIMEOUT PID LOGFILE CHECK...: polls CHECK until it succeeds; fails early if PID dies.
wait_ready() {
  local name="$1" timeout="$2" pid="$3" logfile="$4"; shift 4
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pid"; then
      fail_service "$name" "$logfile" "exited during startup"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail_service "$name" "$logfile" "not ready after ${timeout}s"
    fi
    sleep 0.2
  done
}

fail_service() {
  local name="$1" logfile="$2" why="$3" f
  log "$name $why; last lines of its logs:"
  for f in $logfile; do
    [ -f "$f" ] || continue
    echo "----- $f" >&2
    tail -n 40 "$f" >&2
  done
  die "$name $why"
}

# Opens an XMPP stream on PORT with namespace XMLNS to TO and succeeds once the reply contains EXPECT.
xmpp_stream_answers() {
  # shellcheck disable=SC2016 # the inner script expands its own positional arguments
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "<?xml version=\"1.0\"?><stream:stream xmlns=\"%s\" xmlns:stream=\"http://etherx.jabber.org/streams\" to=\"%s\" version=\"1.0\">" "$2" "$3" >&3
    buf=""
    while :; do
      IFS= read -r -d "" -n 1 -t 3 c <&3 || exit 1
      buf+="$c"
      [[ $buf == *"$4"* ]] && exit 0
    done' _ "$@"
}

# ---------------------------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------------------------

configure_redis() {
  mkdir -p "$STATE/redis"
  # appendonly keeps data across stop-service/start-service (TERM flushes the AOF); RDB snapshots are off.
  cat >"$STATE/redis.conf" <<EOF
# generated by scripts/stack.sh
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $STATE/redis.pid
logfile $STATE/redis.log
dir $STATE/redis
save ""
appendonly yes
appendfsync everysec
EOF
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

# ---------------------------------------------------------------------------------------------------------------
# Prosody
# ---------------------------------------------------------------------------------------------------------------

configure_prosody() {
  mkdir -p "$STATE/prosody-data" "$STATE/prosody-certs"
  chmod 750 "$STATE/prosody-data"
  # No certificates and no mod_tls: clients get a plain stream without STARTTLS (loopback only).
  cat >"$STATE/prosody.cfg.lua" <<EOF
-- generated by scripts/stack.sh; throw-away test server, never use this config elsewhere
run_as_root = true -- the stack runs as root in CI; prosody refuses that otherwise
pidfile = "$STATE/prosody.pid"
data_path = "$STATE/prosody-data"
certificates = "$STATE/prosody-certs" -- stays empty; pointed here only so prosody does not index /etc/prosody/certs
log = { { levels = { min = "info" }, to = "file", filename = "$STATE/prosody.log" } }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $XMPP_C2S_PORT }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { $XMPP_COMPONENT_PORT }
component_interfaces = { "127.0.0.1" }
http_ports = { $XMPP_HTTP_PORT }
http_interfaces = { "127.0.0.1" }
https_ports = { }
https_interfaces = { }
-- URLs handed out (e.g. upload slots) point at the plain-http loopback listener; requests whose Host header is
-- 127.0.0.1 are routed to the upload component.
http_external_url = "http://127.0.0.1:$XMPP_HTTP_PORT/"
http_default_host = "$UPLOAD_DOMAIN"

modules_enabled = {
  "roster"; "saslauth"; "disco"; "carbons"; "pep"; "vcard_legacy"; "vcard4"; "private"; "bookmarks";
  "blocklist"; "ping"; "time"; "version"; "uptime"; "register"; "mam";
}
modules_disabled = { "s2s" } -- no federation

authentication = "internal_hashed"
storage = "internal"
allow_registration = true -- XEP-0077 in-band registration
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = false
default_archive_policy = true
archive_expires_after = "1w"

VirtualHost "$XMPP_DOMAIN"
  allow_registration = true
  c2s_require_encryption = false
  allow_unencrypted_plain_auth = true
  authentication = "internal_hashed"

Component "$COMPONENT_DOMAIN"
  component_secret = "$COMPONENT_SECRET"

Component "$MUC_DOMAIN" "muc"
  modules_enabled = { "muc_mam", "muc_moderation", "vcard_muc" }
  muc_room_locking = false
  restrict_room_creation = false
  muc_log_by_default = true

Component "$UPLOAD_DOMAIN" "http_file_share"
  http_file_share_size_limit = 100 * 1024 * 1024
  http_file_share_daily_quota = 10 * 1024 * 1024 * 1024
EOF
}

start_prosody() {
  require_free_port "$XMPP_C2S_PORT" "prosody c2s"
  require_free_port "$XMPP_COMPONENT_PORT" "prosody component"
  require_free_port "$XMPP_HTTP_PORT" "prosody http"
  # Foreground mode in its own session: the pid is known at once and the process outlives this script.
  setsid nohup prosody --config "$STATE/prosody.cfg.lua" -F >>"$STATE/prosody.console.log" 2>&1 </dev/null &
  echo $! >"$STATE/prosody.pid"
  PROSODY_PID=$!
}

wait_prosody() {
  local pid="${PROSODY_PID:-$(cat "$STATE/prosody.pid")}" logs="$STATE/prosody.log $STATE/prosody.console.log"
  wait_ready prosody 20 "$pid" "$logs" xmpp_stream_answers "$XMPP_C2S_PORT" jabber:client "$XMPP_DOMAIN" "stream:features>"
  wait_ready prosody 10 "$pid" "$logs" xmpp_stream_answers "$XMPP_COMPONENT_PORT" jabber:component:accept \
    "$COMPONENT_DOMAIN" "<stream:stream"
  wait_ready prosody 10 "$pid" "$logs" port_open "$XMPP_HTTP_PORT"
}

# ---------------------------------------------------------------------------------------------------------------
# ejabberd (XMPP_SERVER=ejabberd)
# ---------------------------------------------------------------------------------------------------------------

# Everything lives in $STATE: nothing of /etc/ejabberd, /var/lib/ejabberd or the package's service is used. The Erlang
# VM is started directly (not through ejabberdctl, which would run it as the ejabberd user and read
# /etc/ejabberd/ejabberdctl.cfg) with its own node name, a random cookie and epmd-less distribution on
# EJABBERD_DIST_PORT, so it neither starts a shared epmd nor clashes with another ejabberd on this machine.

# Where Debian puts ejabberd's Erlang applications (ejabberd-23.01-1/, and its deps beside it): ejabberdctl's ERL_LIBS.
ejabberd_erl_libs() {
  local app
  for app in /usr/lib/*/ejabberd-*/ebin/ejabberd.app; do
    [ -e "$app" ] && { dirname "$(dirname "$(dirname "$app")")"; return 0; }
  done
  die "ejabberd's Erlang applications not found under /usr/lib/*/ejabberd-*; is the ejabberd package installed?"
}

ejabberd_node() { echo "stack-ejabberd-$INSTANCE_ID@localhost"; }

# A random Erlang cookie per STATE_DIR, where erl looks for it: $HOME/.erlang.cookie, HOME being $STATE/ejabberd
# (so it is not on any command line, and the caller's ~/.erlang.cookie is never read or written).
ensure_ejabberd_cookie() {
  local f="$STATE/ejabberd/.erlang.cookie"
  [ -s "$f" ] && return 0
  mkdir -p "$STATE/ejabberd"
  (umask 077 && random_hex 16 >"$f") && chmod 400 "$f"
}

# Runs erl with the environment ejabberd expects, in the spool dir. With --detach (called in the background, so
# already in a subshell of its own) it becomes the VM in a session of its own: the caller's $! is the VM's pid.
ejabberd_erl() {
  local detach=0 libs
  if [ "$1" = --detach ]; then detach=1; shift; fi
  libs="$(ejabberd_erl_libs)" || exit 1
  ensure_ejabberd_cookie
  local argv=(env ERL_LIBS="$libs" HOME="$STATE/ejabberd"
    EJABBERD_CONFIG_PATH="$STATE/ejabberd.yml" EJABBERD_LOG_PATH="$STATE/ejabberd/logs/ejabberd.log"
    ERL_CRASH_DUMP="$STATE/ejabberd/logs/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0
    erl -erl_epmd_port "$EJABBERD_DIST_PORT" -start_epmd false "$@")
  if [ "$detach" = 1 ]; then
    cd "$STATE/ejabberd/spool" && exec setsid nohup "${argv[@]}"
    exit 1
  fi
  (cd "$STATE/ejabberd/spool" && exec "${argv[@]}")
}

# ejabberdctl's work without ejabberdctl: a hidden, non-listening node that runs one command on the server node.
ejabberd_ctl() {
  ejabberd_erl -sname "stack-ctl-$$-$INSTANCE_ID@localhost" -hidden -noinput -dist_listen false \
    -s ejabberd_ctl -extra "$(ejabberd_node)" "$@"
}

configure_ejabberd() {
  mkdir -p "$STATE/ejabberd/spool" "$STATE/ejabberd/logs" "$STATE/ejabberd/upload"
  ensure_ejabberd_cookie
  # No certificates: c2s offers no STARTTLS and allows PLAIN without it (loopback only). No s2s listener.
  cat >"$STATE/ejabberd.yml" <<EOF
# generated by scripts/stack.sh; throw-away test server, never use this config elsewhere
hosts:
  - "$XMPP_DOMAIN"
loglevel: info
log_rotate_count: 0
# No ACME: the stack never asks Let's Encrypt for certificates.
acme:
  auto: false
default_db: mnesia
auth_method: internal
auth_password_format: scram
s2s_access: s2s

listen:
  -
    port: $XMPP_C2S_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 1048576
    shaper: none
    access: c2s
    starttls: false
    starttls_required: false
  -
    port: $XMPP_COMPONENT_PORT
    ip: "127.0.0.1"
    module: ejabberd_service
    max_stanza_size: 1048576
    shaper: none
    hosts:
      "$COMPONENT_DOMAIN":
        password: "$COMPONENT_SECRET"
  -
    port: $XMPP_HTTP_PORT
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /upload: mod_http_upload

acl:
  local:
    user_regexp: ""
  # The bridge (the component and every puppet JID on it) may ask for upload slots.
  bridge:
    server: "$COMPONENT_DOMAIN"

access_rules:
  local:
    allow: local
  c2s:
    allow: all
  s2s:
    deny: all
  register:
    allow: all
  muc_create:
    allow: all
  pubsub_createnode:
    allow: local
  upload:
    - allow: local
    - allow: bridge

api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"

shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages: 100

modules:
  mod_adhoc: {}
  mod_admin_extra: {}
  mod_avatar: {}
  mod_blocking: {}
  mod_caps: {}
  mod_carboncopy: {}
  mod_disco: {}
  mod_last: {}
  mod_mam:
    default: always
  mod_muc:
    host: "$MUC_DOMAIN"
    access: all
    access_create: muc_create
    access_persistent: all
    access_mam: all
    history_size: 20
    # Rooms as Prosody makes them by default: archived, and only moderators change the subject (ejabberd's own
    # default lets every participant do it).
    default_room_options:
      mam: true
      allow_change_subj: false
  mod_offline: {}
  mod_ping: {}
  mod_privacy: {}
  mod_private: {}
  mod_pubsub:
    access_createnode: pubsub_createnode
    plugins:
      - flat
      - pep
  mod_register:
    ip_access: all
    access: register
  mod_roster:
    versioning: true
  mod_time: {}
  mod_vcard:
    search: false
  mod_vcard_xupdate: {}
  mod_version:
    show_os: false
  mod_http_upload:
    host: "$UPLOAD_DOMAIN"
    put_url: "http://127.0.0.1:$XMPP_HTTP_PORT/upload"
    get_url: "http://127.0.0.1:$XMPP_HTTP_PORT/upload"
    docroot: "$STATE/ejabberd/upload"
    max_size: 104857600
    access: upload
    thumbnail: false
EOF
}

start_ejabberd() {
  require_free_port "$XMPP_C2S_PORT" "ejabberd c2s"
  require_free_port "$XMPP_COMPONENT_PORT" "ejabberd component"
  require_free_port "$XMPP_HTTP_PORT" "ejabberd http"
  require_free_port "$EJABBERD_DIST_PORT" "ejabberd erlang distribution"
  [ -f "$STATE/ejabberd.yml" ] || die "no ejabberd config in $STATE; run 'up' first"
  # erl (a shell script) execs erlexec, which execs the VM: $! is the VM's pid. It stops cleanly on TERM (init:stop).
  ejabberd_erl --detach -sname "$(ejabberd_node)" +K true +P 250000 -noinput -mnesia dir "\"$STATE/ejabberd/spool\"" -s ejabberd \
    >>"$STATE/ejabberd.console.log" 2>&1 </dev/null &
  echo $! >"$STATE/ejabberd.pid"
  EJABBERD_PID=$!
}

wait_ejabberd() {
  local pid="${EJABBERD_PID:-$(cat "$STATE/ejabberd.pid")}"
  local logs="$STATE/ejabberd/logs/ejabberd.log $STATE/ejabberd/logs/error.log $STATE/ejabberd.console.log"
  wait_ready ejabberd 60 "$pid" "$logs" xmpp_stream_answers "$XMPP_C2S_PORT" jabber:client "$XMPP_DOMAIN" "stream:features>"
  wait_ready ejabberd 10 "$pid" "$logs" xmpp_stream_answers "$XMPP_COMPONENT_PORT" jabber:component:accept \
    "$COMPONENT_DOMAIN" "<stream:stream"
  wait_ready ejabberd 10 "$pid" "$logs" port_open "$XMPP_HTTP_PORT"
}

# ---------------------------------------------------------------------------------------------------------------
# Synapse
# ---------------------------------------------------------------------------------------------------------------

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

configure_synapse() {
  mkdir -p "$SYNAPSE_DIR/media_store"
  echo "$STATE" >"$SYNAPSE_DIR/owner"
  ln -sfn "$SYNAPSE_DIR" "$STATE/synapse"
  local d="$SYNAPSE_IN_CHROOT"
  # An ed25519 signing key file is "ed25519 <version> <unpadded base64 of a 32-byte seed>"; any seed is valid,
  # so it is written directly instead of spending ~1.5 s in `--generate-keys`.
  if [ ! -s "$SYNAPSE_DIR/signing.key" ]; then
    echo "ed25519 a_$(random_hex 2) $(head -c 32 /dev/urandom | base64 | tr -d '=')" >"$SYNAPSE_DIR/signing.key"
  fi
  local rl='{per_second: 1000, burst_count: 10000}'
  cat >"$SYNAPSE_DIR/log.yaml" <<EOF
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: $d/homeserver.log
    encoding: utf8
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
EOF
  cat >"$SYNAPSE_DIR/homeserver.yaml" <<EOF
# generated by scripts/stack.sh for $STATE; throw-away test homeserver
server_name: "$MATRIX_DOMAIN"
public_baseurl: "http://127.0.0.1:$SYNAPSE_PORT/"
pid_file: $d/homeserver.pid
listeners:
  - port: $SYNAPSE_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client, media]
        compress: false
database:
  name: sqlite3
  args:
    database: $d/homeserver.db
log_config: $d/log.yaml
media_store_path: $d/media_store
enable_media_repo: true
max_upload_size: 200M
url_preview_enabled: false
signing_key_path: $d/signing.key
trusted_key_servers: []
suppress_key_server_warning: true
report_stats: false
enable_metrics: false
registration_shared_secret: "$SYNAPSE_REGISTRATION_SHARED_SECRET"
macaroon_secret_key: "$SYNAPSE_MACAROON_SECRET"
form_secret: "$SYNAPSE_FORM_SECRET"
enable_registration: true
enable_registration_without_verification: true
presence:
  enabled: true
user_directory:
  enabled: true
  search_all_users: true
# Tests hammer the server from one address: make every rate limit effectively unlimited.
rc_message: $rl
rc_registration: $rl
rc_registration_token_validity: $rl
rc_login:
  address: $rl
  account: $rl
  failed_attempts: $rl
rc_joins:
  local: $rl
  remote: $rl
rc_joins_per_room: $rl
rc_invites:
  per_room: $rl
  per_user: $rl
  per_issuer: $rl
rc_admin_redaction: $rl
rc_3pid_validation: $rl
rc_room_creation: $rl
rc_presence:
  per_user: $rl
rc_media_create: $rl
rc_reports: $rl
rc_delayed_event_mgmt: $rl
rc_key_requests: $rl
EOF
  if [ -n "$REGISTRATION" ]; then
    cat >>"$SYNAPSE_DIR/homeserver.yaml" <<EOF
app_service_config_files:
  - $d/appservice-registration.yaml
EOF
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

# ---------------------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------------------

start_one() {
  case "$1" in
    redis) start_redis; wait_redis ;;
    prosody) start_prosody; wait_prosody ;;
    ejabberd) start_ejabberd; wait_ejabberd ;;
    synapse) start_synapse; wait_synapse ;;
  esac
}

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
  if [ "$XMPP_SERVER" = ejabberd ]; then configure_ejabberd; else configure_prosody; fi
  configure_synapse
  rm -f "$STATE/stack.env"
  # If anything fails, leave nothing running behind.
  trap 'for s in "${SERVICES[@]}"; do stop_service "$s"; done' EXIT
  local started=$SECONDS
  # Synapse is by far the slowest to boot: start it first and wait for it last.
  start_synapse
  start_redis
  if [ "$XMPP_SERVER" = ejabberd ]; then start_ejabberd; else start_prosody; fi
  wait_redis
  if [ "$XMPP_SERVER" = ejabberd ]; then wait_ejabberd; else wait_prosody; fi
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
  case "$service" in redis | prosody | ejabberd | xmpp | synapse) ;; *) die "unknown service '$service' (redis|prosody|ejabberd|xmpp|synapse)" ;; esac
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
  if [ "$XMPP_SERVER" = ejabberd ]; then
    # Like prosodyctl's `register`, an existing account gets the new password.
    if ejabberd_ctl check_account "$user" "$XMPP_DOMAIN" >/dev/null 2>&1; then
      ejabberd_ctl change_password "$user" "$XMPP_DOMAIN" "$pass" >&2
    else
      ejabberd_ctl register "$user" "$XMPP_DOMAIN" "$pass" >&2
    fi
    return
  fi
  # prosodyctl writes straight into the data dir, which the running prosody reads on each login; it must get the
  # same --config (before the command) or it would use /etc/prosody. `register` overwrites an existing password.
  prosodyctl --config "$STATE/prosody.cfg.lua" register "$user" "$XMPP_DOMAIN" "$pass" >&2
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
