#!/usr/bin/env bash
# Browser tests drive Debian's Chromium; install it when missing (as root) or say how.
set -eu
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser tests…"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "Browser tests need Debian's Chromium. Run: sudo apt-get update && sudo apt-get install -y chromium" >&2
exit 1
