#!/usr/bin/env bash
# Installs what carerecord needs to build and test on Debian 12 (bookworm): compilers, Boost 1.81,
# SQLite, zstd, OpenSSL, argon2, CLI11, GoogleTest, Google Benchmark, wrk, clang with its libFuzzer
# runtime for the fuzz targets, and Node.js for the interoperability test. Safe to run again; does nothing that is already done.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config ccache
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libzstd-dev libssl-dev libargon2-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 curl wrk clang-format git openssl
  clang libclang-rt-14-dev
)

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js: use the one present (any >= 18), else Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
