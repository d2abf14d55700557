#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build/fuzz and runs each for
# SECONDS (default 20) on a temporary copy of its corpus, so the committed
# corpus does not grow. Exits 1 naming the targets that crashed and where the
# crash files are. `tests/fuzz/run.sh 600` is the long run.
# ROTOR_FUZZ_TARGETS="query config" runs only those; ROTOR_FUZZ_JOBS (default
# 1) runs that many targets at once.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-20}
targets=(${ROTOR_FUZZ_TARGETS:-query config zone_file api_body})
jobs=${ROTOR_FUZZ_JOBS:-1}
build=build/fuzz

if [[ ! -f $build/build.ninja ]]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DROTOR_FUZZ=ON -DROTOR_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)"

work=$(mktemp -d "${TMPDIR:-/tmp}/rotor-fuzz.XXXXXX")
crashes=$PWD/$build/crashes
mkdir -p "$crashes"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local target=$1 dict=() corpus=$work/$1
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$target"/* "$corpus"/
  case $target in
    query) dict=(-dict=tests/fuzz/dns.dict) ;;
    config | api_body) dict=(-dict=tests/fuzz/json.dict) ;;
  esac
  # Known crashes first (-runs=0 replays), then fuzzing; stdin closed so that
  # nothing a target opens can wait on it.
  local regressions=tests/fuzz/regressions/$target
  mkdir -p "$work/empty"
  [[ -d $regressions ]] || regressions=$work/empty
  "$build"/tests/fuzz/fuzz_"$target" -runs=0 "$regressions" >"$work/$target.log" 2>&1 </dev/null &&
  "$build"/tests/fuzz/fuzz_"$target" "${dict[@]}" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -timeout=10 -max_len=4096 -print_final_stats=1 -artifact_prefix="$crashes/$target-" \
    "$corpus" "$regressions" >>"$work/$target.log" 2>&1 </dev/null
}

failed=()
running=()
finish() {  # waits for the oldest running target and reports it
  local target=${running[0]}
  running=("${running[@]:1}")
  if wait "${pids[$target]}"; then
    printf 'fuzz %-9s ok   %s\n' "$target" \
      "$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$work/$target.log" | tail -1), $(grep -E '^stat::number_of_executed_units' "$work/$target.log" | awk '{print $2}') runs, $(grep -E '^stat::average_exec_per_sec' "$work/$target.log" | awk '{print $2}') exec/s"
  else
    failed+=("$target")
    printf 'fuzz %-9s FAILED (log: %s)\n' "$target" "$work/$target.log"
    grep -E 'ERROR|SUMMARY|terminate|what\(\)|Test unit written' "$work/$target.log" 2>/dev/null |
      head -8 | sed 's/^/    /' || true
  fi
}
declare -A pids
for target in "${targets[@]}"; do
  run_one "$target" &
  pids[$target]=$!
  running+=("$target")
  if ((${#running[@]} >= jobs)); then finish; fi
done
while ((${#running[@]} > 0)); do finish; done

if ((${#failed[@]} > 0)); then
  echo "fuzz: FAILED: ${failed[*]}; crash files in $crashes (copy one into tests/fuzz/regressions/<target>/ once fixed); logs in $work"
  exit 1
fi
rm -rf "$work"
