# shellcheck shell=bash
# ejabberd, the XMPP server with XMPP_SERVER=ejabberd (sourced by scripts/stack.sh; config: ejabberd.yml.template).

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
  render ejabberd.yml.template "$STATE/ejabberd.yml" STATE XMPP_C2S_PORT XMPP_COMPONENT_PORT XMPP_HTTP_PORT \
    XMPP_DOMAIN MUC_DOMAIN UPLOAD_DOMAIN COMPONENT_DOMAIN COMPONENT_SECRET
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

# ejabberd_user USER PASS: like prosodyctl's `register`, an existing account gets the new password.
ejabberd_user() {
  if ejabberd_ctl check_account "$1" "$XMPP_DOMAIN" >/dev/null 2>&1; then
    ejabberd_ctl change_password "$1" "$XMPP_DOMAIN" "$2" >&2
  else
    ejabberd_ctl register "$1" "$XMPP_DOMAIN" "$2" >&2
  fi
}
