# shellcheck shell=bash
# apt_install PACKAGE...: installs Debian packages that a script of this project needs and the machine lacks.
# Sourced by scripts/stack.sh and scripts/shellcheck.sh, which define log and die.

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
