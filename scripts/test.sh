#!/usr/bin/env bash
# The project's test command (npm test): checks the shell scripts (scripts/shellcheck.sh), builds, starts the
# real stack (Redis, Prosody, Synapse) on loopback, runs the unit and integration tests in one run of Node's test
# runner, then checks that no bridge log of the run holds a secret (test/checks/log-secrets.ts), stops the stack.
# Bridge logs of each run stay in .stack/test/bridge-*.log. XMPP_SERVER=ejabberd (passed
# on to scripts/stack.sh through the environment) runs ejabberd instead of Prosody.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/shellcheck.sh

node="$(scripts/with-node.sh --print-path)"
# A clean build: a test file renamed or removed must not keep running from an old dist/.
rm -rf dist
"$node" node_modules/typescript/bin/tsc -p tsconfig.json

# PORT_OFFSET shifts every port, so that several test runs (say, in separate worktrees) can share a machine.
off="${PORT_OFFSET:-0}"
export STACK_DIR="${STACK_DIR:-$root/.stack/test${PORT_OFFSET:+-$off}}"
export REDIS_PORT=$((16379 + off)) XMPP_C2S_PORT=$((15222 + off)) XMPP_COMPONENT_PORT=$((15347 + off))
export XMPP_HTTP_PORT=$((15280 + off)) SYNAPSE_PORT=$((18008 + off))
as_port=$((19000 + off)) metrics_port=$((19001 + off)) media_port=$((19002 + off))
# The provisioning API is off in the stack's config; its tests turn it on, on this port.
export PROVISIONING_PORT=$((19003 + off))
export MATRIX_DOMAIN=matrix.test XMPP_DOMAIN=xmpp.test COMPONENT_DOMAIN=matrix.xmpp.test COMPONENT_SECRET=test-component-secret
export BRIDGE_CONFIG="$STACK_DIR/config.yaml" BRIDGE_REGISTRATION="$STACK_DIR/registration.yaml"

scripts/stack.sh down "$STACK_DIR" >/dev/null 2>&1 || true
rm -rf "$STACK_DIR"
mkdir -p "$STACK_DIR"
cat > "$BRIDGE_CONFIG" <<YAML
homeserver: { url: "http://127.0.0.1:$SYNAPSE_PORT", domain: "$MATRIX_DOMAIN" }
appservice: { bindAddress: 127.0.0.1, port: $as_port }
xmpp: { service: "xmpp://127.0.0.1:$XMPP_COMPONENT_PORT", domain: "$COMPONENT_DOMAIN", password: "$COMPONENT_SECRET" }
redis: { url: "redis://127.0.0.1:$REDIS_PORT/0" }
metrics: { bindAddress: 127.0.0.1, port: $metrics_port }
logging: { level: "${BRIDGE_LOG_LEVEL:-debug}", format: json }
# Prosody's upload service hands out loopback links in this stack: the admin allows that one host.
media: { port: $media_port, publicUrl: "http://127.0.0.1:$media_port/media", allowedHosts: ["127.0.0.1:$XMPP_HTTP_PORT"] }
YAML
bin/matrix-xmpp-bridge -r -u http://127.0.0.1:$as_port -c "$BRIDGE_CONFIG" -f "$BRIDGE_REGISTRATION"

trap 'scripts/stack.sh down "$STACK_DIR" >/dev/null 2>&1 || true' EXIT
REGISTRATION="$BRIDGE_REGISTRATION" scripts/stack.sh up "$STACK_DIR"
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a

# Arguments, if any, name the test files to run instead of all of them (e.g. dist/test/integration/bridging.test.js).
if [ $# -eq 0 ]; then set -- 'dist/test/unit/**/*.test.js' 'dist/test/integration/**/*.test.js'; fi
status=0
"$node" --test --test-concurrency=1 --test-timeout=600000 "$@" || status=$?
# Whatever ran, no bridge log it left may hold a secret (the tokens, the component secret, the file URL key).
"$node" dist/test/checks/log-secrets.js "$STACK_DIR" || status=1
exit "$status"
