# shellcheck shell=bash
# Prosody, the default XMPP server (sourced by scripts/stack.sh; config: prosody.cfg.lua.template).

configure_prosody() {
  mkdir -p "$STATE/prosody-data" "$STATE/prosody-certs"
  chmod 750 "$STATE/prosody-data"
  # No certificates and no mod_tls: clients get a plain stream without STARTTLS (loopback only).
  render prosody.cfg.lua.template "$STATE/prosody.cfg.lua" STATE XMPP_C2S_PORT XMPP_COMPONENT_PORT XMPP_HTTP_PORT \
    XMPP_DOMAIN MUC_DOMAIN UPLOAD_DOMAIN COMPONENT_DOMAIN COMPONENT_SECRET
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

# prosody_user USER PASS: prosodyctl writes straight into the data dir, which the running prosody reads on each
# login; it must get the same --config (before the command) or it would use /etc/prosody. `register` overwrites an
# existing password.
prosody_user() {
  prosodyctl --config "$STATE/prosody.cfg.lua" register "$1" "$XMPP_DOMAIN" "$2" >&2
}
