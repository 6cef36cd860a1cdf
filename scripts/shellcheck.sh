#!/usr/bin/env bash
# The first step of npm test: runs ShellCheck over every shell script of the project and fails on any finding.
# Installs Debian's shellcheck package when it is missing, as scripts/stack.sh does for the servers. Settings
# (sourced files are followed) are in .shellcheckrc.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { echo "lint: $*" >&2; }
die() { log "error: $*"; exit 1; }

if ! command -v shellcheck >/dev/null; then
  # shellcheck source=stack/apt.sh
  source scripts/stack/apt.sh
  log "installing shellcheck"
  apt_install shellcheck
fi
shellcheck scripts/*.sh scripts/stack/*.sh .ci/run bin/matrix-xmpp-bridge || die "shellcheck found the problems above"
