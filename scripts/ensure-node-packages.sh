#!/usr/bin/env bash
# Node.js packages the tests use, each folder from its own lock file:
#   tests/signing/node  — the standardwebhooks npm package verifies Tocsin's signatures;
#   tests/browser/node  — axe-core checks every page's accessibility in Chromium.
# A folder is installed when missing or older than its lock file (a quick no-op otherwise).
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v npm >/dev/null; then
  echo "The signing and accessibility tests need Node.js and npm. Run: sudo apt-get install -y nodejs npm" >&2
  exit 1
fi
install_locked() {  # folder, a file that proves the install is complete
  cd "$root/$1"
  if [ node_modules/.package-lock.json -nt package-lock.json ] && [ -f "node_modules/$2" ]; then
    return 0
  fi
  npm ci --no-audit --no-fund --loglevel=error
}
install_locked tests/signing/node standardwebhooks/package.json
install_locked tests/browser/node axe-core/axe.min.js
