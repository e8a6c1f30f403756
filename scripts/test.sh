#!/usr/bin/env bash
# Runs every test (README: "scripts/test.sh"). On a fresh Debian machine with Go 1.26 and
# python3 + moto preinstalled, it installs what the tests need, then vets and tests everything.
# Integration tests start their own moto server (internal/testenv/moto), so nothing is started
# here. Missing tools fail the run: tests never skip. .ci/run calls this script.
set -euo pipefail

cd "$(dirname "$0")/.."

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  else
    sudo "$@"
  fi
}

# libfaketime lets the moto harness move the server's clock (users and keys
# made "200 days ago"). Debian's faketime package pulls in libfaketime.
faketime_lib() {
  ls /usr/lib/*-linux-gnu/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1 \
    /usr/local/lib/faketime/libfaketimeMT.so.1 2>/dev/null | head -n 1
}
if [ -z "$(faketime_lib)" ]; then
  echo "test: installing faketime (libfaketimeMT.so.1 not found)"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y faketime
fi
if [ -z "$(faketime_lib)" ]; then
  echo "test: libfaketimeMT.so.1 still missing after installing faketime" >&2
  exit 1
fi

# cfn-lint checks the CloudFormation templates under deploy/ (deploy's Go test runs it). It is a
# Python tool with no Debian package; install it with pip where a package index is reachable.
if ! command -v cfn-lint >/dev/null 2>&1; then
  echo "test: cfn-lint not found (pip install cfn-lint); the deploy/ templates test needs it" >&2
  exit 1
fi

# Headless Chromium runs the HTML report's browser test (internal/report, through chromedp).
if ! command -v chromium >/dev/null 2>&1; then
  echo "test: installing chromium (not found)"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "test: chromium still missing after installing it" >&2
  exit 1
fi

if ! python3 -c 'import moto, moto.server' 2>/dev/null; then
  echo "test: python3 cannot import moto (and its server); install it: pip install 'moto[server]==5.2.1'" >&2
  exit 1
fi
echo "test: $(go version); moto $(python3 -c 'import moto; print(moto.__version__)'); faketime $(faketime_lib); $(chromium --version 2>/dev/null)"

go vet ./...
go test ./... "$@"
