#!/usr/bin/env bash
# The deployment tests check deploy/ with the real tools: Debian's nginx (`nginx -t`) and systemd
# (`systemd-analyze verify`). Install whichever is missing (as root), without starting nginx, or
# say how.
set -eu
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's ${missing[*]} for the deployment tests…"
  # No service may start from the install: the tests run nginx -t only.
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ $had_policy = 1 ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  status=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || status=$?
  [ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
  exit $status
fi
echo "The deployment tests need Debian's ${missing[*]}. Run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
exit 1
