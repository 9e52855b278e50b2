#!/usr/bin/env bash
# Installs everything edge-auth needs on a machine with rustup, cargo, Node.js and npm. Idempotent: each
# step is skipped when already done. See README ("Development", the last paragraph) for why the binaries come
# from crates.io and npm rather than worker-build's own GitHub downloads.
set -euo pipefail
cd "$(dirname "$0")/.."

# The build's tools (rustup when absent, the wasm32 target, worker-build, wasm-bindgen-cli, the npm packages):
# the list scripts/build.sh --install uses too.
# shellcheck source=scripts/toolchain.sh
source scripts/toolchain.sh

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

toolchain_install

if [[ "${EDGE_AUTH_NEED_CHROMIUM:-0}" == 1 ]] && ! command -v chromium >/dev/null 2>&1; then
  log "installing Debian chromium (browser test)"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# A Korean font: the browser test's screenshots of the Korean pages (docs/pages.md) are unreadable without one.
if [[ "${EDGE_AUTH_NEED_CHROMIUM:-0}" == 1 ]] && ! fc-list :lang=ko 2>/dev/null | grep -q .; then
  log "installing fonts-nanum (Korean text in the browser test's screenshots)"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fonts-nanum >/dev/null
fi
# openssl: the e2e tests make their certificates at run time (the https run's TLS front, the x5c attack).
if ! command -v openssl >/dev/null 2>&1; then
  log "installing openssl (test certificates)"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssl >/dev/null
fi
# The XML canonicalisation oracle (tests/xml_c14n.rs, scripts/xml-oracle.py): Python lxml, and the system
# libxml2 for PrefixLists with #default (lxml cannot pass that prefix).
if ! python3 -c 'import lxml' >/dev/null 2>&1; then
  log "installing Python lxml (XML c14n oracle)"
  python3 -m pip install --user --quiet lxml 2>/dev/null || python3 -m pip install --user --quiet --break-system-packages lxml
fi
if ! python3 -c 'import ctypes, ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("xml2") else 1)' >/dev/null 2>&1; then
  log "installing libxml2 (XML c14n oracle)"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libxml2 >/dev/null
fi
log "toolchain ready"
