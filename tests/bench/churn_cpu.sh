#!/usr/bin/env bash
# The CPU one registry change costs rotor end to end, HTTP included, with no
# DNS load: what bench.sh's churn rows infer from the difference of two
# dnsperf runs, measured directly (tests/bench/README.md, "Registry writes").
#
# Starts `rotor serve` on SERVER_CPU (default 0) with a fresh registry, makes
# through the API what bench.sh's setup_churn makes (20 arrays of 8 and 4
# instances of web.bench.test), warms the API's threads up with one second of
# churn, then runs churn.py on CLIENT_CPU (default 1) and prints rotor's
# process CPU (utime + stime from /proc, every thread) per change.
#
# Usage: tests/bench/churn_cpu.sh [ROTOR_BIN...]   (default build/release/rotor)
# Several binaries are measured in turn, ROUNDS times (default 3), alternating,
# so that a busy machine's drift falls on each alike.
# Environment:
#   CHURN_SECONDS   length of a measured run (default 5)
#   CHURN_RATE      changes per second asked of churn.py (default 1000)
#   ROUNDS          runs per binary (default 3)
#   BUSY_SERVER_CPU 1: a busy loop at nice 0 shares the server's core, as a
#                   saturated DNS worker would (the API threads run at nice
#                   +10; the achieved rate then shows the share they get)
#   SERVER_CPU / CLIENT_CPU   cores (default 0 / 1)
#   PER_SWAP        1: what one snapshot swap costs the serving threads
#                   themselves. rotor runs with cpu_affinity (its one worker
#                   on SERVER_CPU, everything else on CLIENT_CPU) and a busy
#                   loop on SERVER_CPU (as bench.sh's run_churn_pinned_alone);
#                   each run also prints the rotor-worker-0 (TCP loop) and
#                   rotor-udp-0 threads' run time (/proc/PID/task/TID/schedstat)
#                   during the churn minus during as long a run without, over
#                   the snapshots published (rotor_snapshot_generation).
#   THREADS         1: also print every rotor thread's share of a change: its
#                   run time (/proc/PID/task/TID/schedstat) per change, its
#                   time slices (wake-ups) and voluntary and involuntary
#                   context switches per change, labelled by its first rotor
#                   frame (gdb, after the run) or its name
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${CHURN_SECONDS:-5}
rate=${CHURN_RATE:-1000}
rounds=${ROUNDS:-3}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
busy=${BUSY_SERVER_CPU:-0}
per_swap=${PER_SWAP:-0}
[[ $per_swap == 1 ]] && busy=1
threads=${THREADS:-0}
bins=("$@")
((${#bins[@]} > 0)) || bins=(build/release/rotor)
for bin in "${bins[@]}"; do [[ -x $bin ]] || { echo "churn_cpu: $bin is not executable" >&2; exit 1; }; done
ticks_per_s=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/rotor-churn-cpu-XXXXXX)
rotor_pid="" busy_pid=""
cleanup() {  # under set -e: a false test here would end it before the rm
  if [[ -n $rotor_pid ]]; then kill "$rotor_pid" 2>/dev/null; wait "$rotor_pid" 2>/dev/null || true; fi
  if [[ -n $busy_pid ]]; then kill "$busy_pid" 2>/dev/null; wait "$busy_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap stops rotor and the
# busy loop (without this a killed run left the loop spinning on the core).
trap 'exit 130' INT TERM HUP PIPE

cat >"$work/bench.test.zone" <<'EOF'
$ORIGIN bench.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN A 192.0.2.2
EOF
cat >"$work/rotor.json" <<EOF
{"zones": ["$work/bench.test.zone"],
 "arrays": [{"name": "web.bench.test.", "instances": [{"address": "192.0.2.201", "health": "up"}]}]}
EOF

if [[ $per_swap == 1 ]]; then
  sed -i "1a\\ \"cpu_affinity\": {\"workers\": [$server_cpu], \"control\": [$client_cpu]}," "$work/rotor.json"
fi

# Run time in ns of rotor's thread named $2 (/proc/PID/task/TID/schedstat), 0 if none.
thread_ns() {
  local task
  for task in /proc/"$1"/task/*; do
    [[ $(cat "$task/comm" 2>/dev/null) == "$2" ]] && awk '{print $1}' "$task/schedstat" && return
  done
  echo 0
}
generation() {  # api
  curl -s "http://$1/metrics" | awk '/^rotor_snapshot_generation / {g = $2} END {print g + 0}'
}

arrays=$(seq -s, -f 'churn%g.bench.test' 1 20)
churn() {  # api rate seconds [extra churn.py arguments]
  taskset -c "$client_cpu" python3 tests/bench/churn.py --api "$1" --rate "$2" --seconds "$3" \
    --arrays "$arrays" "${@:4}"
}

measure() {  # bin: prints one line
  local bin=$1 api port a i body t0 t1 out ok launch idle0 idle1 udp0 udp1 w0 w1 u0 u1 g0 g1 swap=""
  api=""
  launch=(taskset -c "$server_cpu")
  [[ $per_swap == 1 ]] && launch=()
  # A free UDP port may be taken for TCP: another try with another port.
  for _ in 1 2 3; do
    rm -f "$work"/rotor.db*
    port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "${launch[@]}" "$bin" serve --config "$work/rotor.json" --db "$work/rotor.db" \
      --listen "127.0.0.1:$port" --api 127.0.0.1:0 --threads 1 --log-level warn \
      >"$work/rotor.out" 2>"$work/rotor.err" &
    rotor_pid=$!
    for _ in $(seq 1 100); do
      grep -q '^api ' "$work/rotor.out" 2>/dev/null && break
      kill -0 "$rotor_pid" 2>/dev/null || break
      sleep 0.1
    done
    api=$(awk '/^api / {print $2}' "$work/rotor.out")
    [[ -n $api ]] && break
    kill "$rotor_pid" 2>/dev/null; wait "$rotor_pid" 2>/dev/null || true; rotor_pid=""
  done
  [[ -n $api ]] || { cat "$work/rotor.err" >&2; exit 1; }
  for a in $(seq 1 20); do
    body=$(for i in $(seq 1 8); do printf '{"address": "203.0.113.%d"}\n' "$i"; done | paste -sd, -)
    curl -sf -X PUT -H 'Content-Type: application/json' -d '{}' "http://$api/v1/arrays/churn$a.bench.test" >/dev/null
    curl -sf -X PUT -H 'Content-Type: application/json' -d "[$body]" \
      "http://$api/v1/arrays/churn$a.bench.test/instances" >/dev/null
  done
  for i in 209 210 211 212; do
    curl -sf -X POST -H 'Content-Type: application/json' -d "{\"address\": \"192.0.2.$i\", \"state\": \"draining\"}" \
      "http://$api/v1/arrays/web.bench.test/instances" >/dev/null
  done
  churn "$api" 500 1 >/dev/null 2>&1  # the API's worker threads exist from here on
  sleep 0.5
  if [[ $per_swap == 1 ]]; then
    idle0=$(thread_ns "$rotor_pid" rotor-worker-0); udp0=$(thread_ns "$rotor_pid" rotor-udp-0)
    sleep "$seconds"
    idle1=$(thread_ns "$rotor_pid" rotor-worker-0); udp1=$(thread_ns "$rotor_pid" rotor-udp-0)
    g0=$(generation "$api")
    w0=$(thread_ns "$rotor_pid" rotor-worker-0); u0=$(thread_ns "$rotor_pid" rotor-udp-0)
  fi
  [[ $threads == 1 ]] && thread_times >"$work/threads.before"
  t0=$(awk '{print $14 + $15}' "/proc/$rotor_pid/stat")
  out=$(churn "$api" "$rate" "$seconds" --bench-array web.bench.test --bench-states draining,disabled \
          --bench-addresses 192.0.2.209,192.0.2.210,192.0.2.211,192.0.2.212 2>&1 | head -1)
  t1=$(awk '{print $14 + $15}' "/proc/$rotor_pid/stat")
  if [[ $per_swap == 1 ]]; then
    w1=$(thread_ns "$rotor_pid" rotor-worker-0); u1=$(thread_ns "$rotor_pid" rotor-udp-0)
    g1=$(generation "$api")
    swap=$(awk -v w=$((w1 - w0 - idle1 + idle0)) -v u=$((u1 - u0 - udp1 + udp0)) -v g=$((g1 - g0)) \
      'BEGIN { if (g > 0) printf "  snapshots %5d  a swap: tcp loop %6.1f us, udp thread %6.1f us", g, w / 1e3 / g, u / 1e3 / g }')
  fi
  [[ $threads == 1 ]] && thread_times >"$work/threads.after" && thread_labels >"$work/threads.labels"
  kill "$rotor_pid"; wait "$rotor_pid" 2>/dev/null || true; rotor_pid=""
  ok=$(grep -o 'ok [0-9]*' <<<"$out" | awk '{print $2}')
  [[ ${ok:-0} -gt 0 ]] || { echo "churn_cpu: $bin: no change succeeded: $out" >&2; exit 1; }
  awk -v bin="$bin" -v ticks=$((t1 - t0)) -v hz="$ticks_per_s" -v ok="$ok" -v s="$seconds" \
    -v swap="$swap" \
    'BEGIN { printf "%-40s changes %6d  achieved %5.0f/s  rotor cpu %6.1f us/change%s\n", bin, ok, ok / s, ticks / hz * 1e6 / ok, swap }'
  [[ $threads == 1 ]] && thread_table "$ok"
  return 0
}

thread_times() {  # one line per thread of rotor: tid run_ns slices voluntary involuntary
  local task tid run slices
  for task in /proc/"$rotor_pid"/task/*; do
    tid=${task##*/}
    read -r run _ slices <"$task/schedstat" || continue
    awk -v tid="$tid" -v run="$run" -v slices="$slices" \
      '/^voluntary_ctxt/ { v = $2 } /^nonvoluntary_ctxt/ { n = $2 } END { print tid, run, slices, v, n }' "$task/status"
  done
}

thread_labels() {  # tid label: the first rotor or library frame of its stack, else its name
  local task
  for task in /proc/"$rotor_pid"/task/*; do echo "${task##*/} $(tr ' ' _ <"$task/comm")"; done
  command -v gdb >/dev/null || return 0
  gdb -p "$rotor_pid" -batch -ex 'thread apply all bt 40' 2>/dev/null |
    awk '/^Thread .*LWP/ { match($0, /LWP [0-9]+/); lwp = substr($0, RSTART + 4, RLENGTH - 4); done = 0; next }
         /^#/ && lwp != "" && !done {
           s = $0; sub(/^#[0-9]+ +(0x[0-9a-f]+ in )?/, "", s); sub(/[ (].*/, "", s)
           if ($0 ~ /OnDemandPool/) s = "api-connection"  # idle again once churn.py has left
           if (s ~ /^(rotor::|httplib::|uv_run|api-connection)/) { print lwp, substr(s, 1, 60); done = 1 } }' || true
}

thread_table() {  # changes: the threads that ran during the churn, per change
  # The last label of a thread wins (gdb's over its name).
  awk '{ label[$1] = $2 } END { for (t in label) print t, label[t] }' "$work/threads.labels" | sort >"$work/threads.names"
  join <(sort "$work/threads.before") <(sort "$work/threads.after") | join -a1 - "$work/threads.names" |
    awk -v ok="$1" '{ run = ($6 - $2) / 1e3 / ok; if (run < 0.05) next
      printf "  thread %-7s %7.2f us  slices %6.3f  voluntary %6.3f  involuntary %6.3f  %s\n",
             $1, run, ($7 - $3) / ok, ($8 - $4) / ok, ($9 - $5) / ok, $10; total += run }
      END { printf "  all threads %.1f us/change\n", total }'
  echo "  (threads started during the churn are not counted)"
}

if [[ $busy == 1 ]]; then
  taskset -c "$server_cpu" bash -c 'while :; do :; done' &
  busy_pid=$!
fi
echo "rotor CPU per registry change: churn.py at $rate/s for $seconds s, no DNS load$([[ $busy == 1 ]] && echo ", a nice-0 busy loop on core $server_cpu")$([[ $per_swap == 1 ]] && echo ", cpu_affinity: the worker on core $server_cpu, the rest on $client_cpu")"
for _ in $(seq 1 "$rounds"); do
  for bin in "${bins[@]}"; do measure "$bin"; done
done
