#!/usr/bin/env bash
# Configures and builds carerecord into build/ (binary: build/carerecord). Uses ccache when
# installed. BUILD_TYPE=Release|RelWithDebInfo|Debug (default RelWithDebInfo).
set -euo pipefail
cd "$(dirname "$0")/.."
build_type="${BUILD_TYPE:-RelWithDebInfo}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$build_type" >/dev/null
ninja -C build -j "${JOBS:-$(nproc)}" "$@"
