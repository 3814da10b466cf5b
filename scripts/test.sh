#!/usr/bin/env bash
# The project's test command: set up, build (warnings are errors), run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh -DQS_WERROR=ON
cd build && ctest --output-on-failure -j"$(nproc)"
