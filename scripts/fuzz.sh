#!/usr/bin/env bash
# Builds the libFuzzer targets (every fuzz/*.cpp) with clang and AddressSanitizer into
# build-fuzz/, then runs each for FUZZ_SECONDS seconds (default 60) from its seed corpus
# fuzz/corpus/NAME/, with fuzz/NAME.dict as its dictionary when there is one. New inputs go to
# build-fuzz/corpus/NAME/ (the seeds in git stay small); a crash leaves its input in
# build-fuzz/, prints the end of the target's log (build-fuzz/NAME.log) and fails the script.
# Usage: scripts/fuzz.sh [NAME...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++}" -DCARERECORD_FUZZ=ON \
  -DCARERECORD_TESTS=OFF -DCARERECORD_BENCH=OFF >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in fuzz/*.cpp; do targets+=("$(basename "$source" .cpp)"); done
fi
ninja -C build-fuzz -j "${JOBS:-$(nproc)}" "${targets[@]}"
for target in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$target" "fuzz/corpus/$target"
  dictionary=()
  [ -f "fuzz/$target.dict" ] && dictionary=(-dict="../fuzz/$target.dict")
  echo "== $target: ${seconds}s (log: build-fuzz/$target.log)"
  # The fuzzer's progress goes to its log; a failure prints the end of it, the crash included.
  if ! (cd build-fuzz && "./fuzz/$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=4096 -print_final_stats=1 -print_funcs=0 "${dictionary[@]}" \
    "corpus/$target" "../fuzz/corpus/$target" >"$target.log" 2>&1); then
    tail -n 60 "build-fuzz/$target.log"
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "build-fuzz/$target.log" || true
done
