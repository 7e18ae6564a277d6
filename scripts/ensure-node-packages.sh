#!/usr/bin/env bash
# The signing tests verify Tocsin's alerts with the standardwebhooks npm package run by Node.js:
# install tests/signing/node's locked packages when missing or older than the lock file (quick no-op otherwise).
set -eu
cd "$(dirname "$0")/../tests/signing/node"
if ! command -v npm >/dev/null; then
  echo "The signing tests need Node.js and npm. Run: sudo apt-get install -y nodejs npm" >&2
  exit 1
fi
if [ node_modules/.package-lock.json -nt package-lock.json ] && [ -f node_modules/standardwebhooks/package.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
