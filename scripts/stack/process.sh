# shellcheck shell=bash
# Finding, stopping and waiting for the stack's processes (sourced by scripts/stack.sh).

# Prints the pids of SERVICE processes that belong to $STATE. Processes are recognised by what they carry rather
# than by pid files alone, so stale processes are found even when STATE_DIR was deleted meanwhile:
#   redis: a redis-server whose working dir is $STATE/redis (redis chdirs to its `dir`)
#   sentinel: the Sentinel and the Redis pair it watches, whose working dirs are $STATE/sentinel*
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
      redis | sentinel)
        { read -r comm <"$d/comm"; } 2>/dev/null || continue
        case "$comm" in redis-server | redis-sentinel) ;; *) continue ;; esac
        cwd="$(readlink "$d/cwd" 2>/dev/null)" || continue
        cwd="${cwd% (deleted)}"
        if [ "$service" = redis ] && [ "$cwd" = "$STATE/redis" ]; then echo "$pid"; fi
        case "$cwd" in "$STATE/sentinel" | "$STATE/sentinel-primary" | "$STATE/sentinel-replica") [ "$service" = sentinel ] && echo "$pid" ;; esac
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
