#!/usr/bin/env bash
# Installs every Debian package the build and the tests need. Idempotent:
# does nothing (and needs no network) when everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git python3
  nlohmann-json3-dev libgtest-dev libgmock-dev
  libutf8proc-dev libcli11-dev libyaml-cpp-dev libcpp-httplib-dev
  python3-numpy python3-jinja2 python3-requests python3-jsonschema
  clang libclang-rt-14-dev
  libssl-dev zlib1g-dev libbrotli-dev  # cpp-httplib's header is built with OpenSSL/zlib/brotli on
  nodejs chromium                      # e2e_chat_page: the chat page in headless Chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The chat page's browser test drives Chromium with playwright-core (npm; no
# browser download). The page itself is committed prebuilt (webui/dist/).
cd "$(dirname "$0")/../webui"
if [ ! -d node_modules/playwright-core ] && command -v npm >/dev/null 2>&1; then
  echo "setup: npm ci in webui/ (playwright-core for the browser test)"
  npm ci --no-audit --no-fund --loglevel=error || echo "setup: npm ci failed; the chat page browser test will be skipped"
fi
