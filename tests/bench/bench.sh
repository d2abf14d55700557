#!/usr/bin/env bash
# rotor's benchmark suite: one command, one table. See tests/bench/README.md.
#
# Starts rotor, NSD, Knot DNS, gdnsd and a UDP echo server (the floor: no DNS
# work) on 127.0.0.1 with the same zone, one worker each, pinned to one core,
# and runs dnsperf against each from the other core: per workload a peak run
# (no rate limit) and a fixed-load run (dnsperf -Q, the same rate for every
# server: half of rotor's peak in that workload). Per run it reports QPS, mean
# latency, lost queries and the server's CPU time (utime+stime of its whole
# process tree, from /proc) per answered query; fixed-load runs add p99
# latency. Then rotor under registry churn (the whole process on the worker's
# core, then with cpu_affinity: the worker alone there, the control plane on
# the client core; the goal's verdict) and rotor's thread scaling, the
# receive paths on the echo floor, the prober's and the registry's
# micro-benchmarks, and last every goal of issue 18 with its verdict.
#
# Usage: tests/bench/bench.sh      (as root the first time: it installs the peers)
# Environment:
#   BENCH_SECONDS    length of each dnsperf run (default 10)
#   BENCH_ROUNDS     rounds of the DNS workloads (default 1), one server after
#                    another in each round, so that the machine's drift falls on
#                    every server alike; with more than one, the table shows
#                    each figure's median over the rounds and each goal its
#                    ratio per round and their median (its verdict)
#   BENCH_CLIENTS    dnsperf clients, i.e. sockets or TCP connections (default 4)
#   BENCH_OUTSTANDING  dnsperf -q, queries in flight (default 200)
#   BENCH_SERVERS    subset of "rotor nsd knot gdnsd echo"
#   BENCH_WORKLOADS  subset of "static array geo nx tcp churn threads io probes writes"
#   BENCH_QPS        fixed offered load for every workload (default: half of
#                    rotor's peak in each workload, or of the first server's)
#   BENCH_CHURN_RATE registry changes per second under churn (default 1000)
#   BENCH_CHURN_PAIRS  half-peak runs without and with churn, alternated, of
#                    rotor with cpu_affinity (worker and control plane on
#                    cores of their own; default 3 pairs)
#   BENCH_BUILD_DIR  build tree holding rotor, rotor_udp_echo and the
#                    micro-benchmarks (default build/release, configured and
#                    built with the release preset); only what a run needs is built
#   ROTOR_BIN, ECHO_BIN   binaries to use instead (a given one is not built)
#   SERVER_CPU / CLIENT_CPU   cores for the server and for dnsperf (default 0 / 1)
# shellcheck disable=SC2016,SC2054  # literal $ORIGIN lines; commas inside option values
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-1}
clients=${BENCH_CLIENTS:-4}
outstanding=${BENCH_OUTSTANDING:-200}
servers_wanted=${BENCH_SERVERS:-rotor nsd knot gdnsd echo}
all_workloads="static array geo nx tcp churn threads io probes writes"
workloads_wanted=${BENCH_WORKLOADS:-$all_workloads}
churn_rate=${BENCH_CHURN_RATE:-1000}
churn_pairs=${BENCH_CHURN_PAIRS:-3}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
build_dir=${BENCH_BUILD_DIR:-build/release}
rotor_bin=${ROTOR_BIN:-$build_dir/rotor}
echo_bin=${ECHO_BIN:-$build_dir/tests/bench/rotor_udp_echo}
churn_arrays=20

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }
has() { [[ " $1 " == *" $2 "* ]]; }

for s in $servers_wanted; do
  has "rotor nsd knot gdnsd echo" "$s" || die "BENCH_SERVERS: unknown server '$s' (rotor nsd knot gdnsd echo)"
done
for w in $workloads_wanted; do
  has "$all_workloads" "$w" || die "BENCH_WORKLOADS: unknown workload '$w' ($all_workloads)"
done
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 ]] || die "BENCH_SECONDS must be a whole number of seconds"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a whole number, at least 1"
[[ $churn_pairs =~ ^[1-9][0-9]*$ ]] || die "BENCH_CHURN_PAIRS must be a whole number, at least 1"
# rotor runs first: its peak sets the fixed load of the others.
servers=""
for s in rotor nsd knot gdnsd echo; do has "$servers_wanted" "$s" && servers+="$s "; done
servers=${servers% }

# --- tools: Debian packages, installed only when missing ---------------------
need_pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || need_pkgs+=("$2"); }
need dnsperf dnsperf
need taskset util-linux
need dig bind9-dnsutils
need python3 python3
has "$servers" nsd && need nsd nsd
has "$servers" knot && need knotd knot
if has "$servers" knot && ! dpkg -s knot-module-geoip >/dev/null 2>&1; then need_pkgs+=(knot-module-geoip); fi
has "$servers" gdnsd && need gdnsd gdnsd
if ((${#need_pkgs[@]} > 0)); then
  if [[ $(id -u) != 0 ]]; then
    die "missing ${need_pkgs[*]}: run as root (the script installs them with apt-get) or" \
        "run: sudo apt-get install ${need_pkgs[*]}"
  fi
  say "installing ${need_pkgs[*]}"
  # Debian starts a freshly installed daemon on port 53; the benchmark never
  # uses those (it starts its own on free ports).
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}" >/dev/null; then
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}" >/dev/null
  fi
fi

# Only what this run uses and was not given is built.
build_targets=()
if [[ -z ${ROTOR_BIN:-} ]] && has "$servers" rotor; then build_targets+=(rotor); fi
if [[ -z ${ECHO_BIN:-} ]] && { has "$servers" echo || has "$workloads_wanted" io; }; then
  build_targets+=(rotor_udp_echo)
fi
has "$workloads_wanted" probes && build_targets+=(rotor_probes_bench)
has "$workloads_wanted" writes && build_targets+=(rotor_registry_write_bench)
if ((${#build_targets[@]} > 0)); then
  # Ninja makes this a no-op when the build is current.
  if [[ -z ${BENCH_BUILD_DIR:-} ]]; then
    cmake --preset release >/dev/null
  elif [[ ! -f $build_dir/build.ninja && ! -f $build_dir/Makefile ]]; then
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  say "building ${build_targets[*]} in $build_dir"
  cmake --build "$build_dir" -j 2 --target "${build_targets[@]}" >/dev/null
fi
if has "$servers" rotor; then [[ -x $rotor_bin ]] || die "$rotor_bin is not executable"; fi
if has "$servers" echo || has "$workloads_wanted" io; then [[ -x $echo_bin ]] || die "$echo_bin is not executable"; fi

work=$(mktemp -d /tmp/rotor-bench-XXXXXX)
server_pid=""
churn_pid=""
busy_pid=""
stop_pid() {
  local pid=$1
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$busy_pid"
  stop_pid "$churn_pid"
  stop_pid "$server_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port free for both UDP and TCP on 127.0.0.1.
free_port() {
  python3 - <<'EOF'
import socket
for _ in range(100):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(port)
    break
EOF
}

# --- zones ------------------------------------------------------------------
# One zone for everyone. Its array names differ per server: rotor serves them
# as instance arrays, NSD and Knot as static RRsets of the answered shape,
# gdnsd through its plugins (multifo, geoip).
common_zone() {
  echo '$ORIGIN bench.test.'
  echo '$TTL 3600'
  echo '@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300'
  echo '  IN NS ns1'
  echo '  IN MX 10 mail'
  echo 'ns1 IN A 192.0.2.1'
  echo 'mail IN A 192.0.2.25'
  echo 'www IN A 192.0.2.10'
  for i in $(seq 1 10); do echo "host$i IN A 198.51.100.$i"; done
  echo 'txt IN TXT "v=spf1 -all"'
}
zone_rotor=$work/bench.test.zone
common_zone >"$zone_rotor"
zone_static=$work/bench.test.static.zone
{
  common_zone
  for i in $(seq 1 5); do echo "web 30 IN A 192.0.2.$((200 + i))"; done
  for i in $(seq 1 5); do echo "web 30 IN AAAA 2001:db8::$((200 + i))"; done
} >"$zone_static"
# Knot's geoip module answers from its own file, and the zone keeps a default.
zone_knot=$work/bench.test.knot.zone
{
  cat "$zone_static"
  for i in 1 2 3 4; do echo "geo 30 IN A 192.0.2.$((20 + i))"; done
} >"$zone_knot"
cat >"$work/knot-geo.conf" <<'EOF'
geo.bench.test:
  - net: 10.1.0.0/16
    A: [ 192.0.2.11, 192.0.2.12, 192.0.2.13, 192.0.2.14 ]
  - net: 10.2.0.0/16
    A: [ 192.0.2.21, 192.0.2.22, 192.0.2.23, 192.0.2.24 ]
EOF

# --- queries ----------------------------------------------------------------
declare -A wl_file wl_mode wl_extra wl_title
wl_title=([static]="static A" [array]="array A+AAAA" [geo]="geo A, ECS" [nx]="10% NXDOMAIN"
          [tcp]="static A, TCP")
echo 'www.bench.test A' >"$work/q_static.txt"
printf 'web.bench.test A\nweb.bench.test AAAA\n' >"$work/q_array.txt"
echo 'geo.bench.test A' >"$work/q_geo.txt"
{
  for i in $(seq 1 9); do
    echo "www.bench.test A"
    for j in $(seq 1 8); do echo "host$(((i + j) % 10 + 1)).bench.test A"; done
    echo "missing$i.bench.test A"
  done
} >"$work/q_nx.txt"
for w in static array geo nx; do wl_file[$w]=$work/q_$w.txt; wl_mode[$w]=udp; wl_extra[$w]=""; done
wl_file[tcp]=$work/q_static.txt; wl_mode[tcp]=tcp; wl_extra[tcp]=""
# EDNS Client Subnet (option 8): family 1, source /24, scope 0, 10.1.0.0 (region eu).
wl_extra[geo]="-E 8:000118000a0100"

# --- measurement --------------------------------------------------------------
hz=$(getconf CLK_TCK)
# utime+stime in clock ticks of a process and all its descendants (threads
# are included in a process's own counters).
tree_ticks() {
  local pid=$1 total=0 child
  if [[ -r /proc/$pid/stat ]]; then
    # Fields after the ")" of the command name: utime and stime are 12 and 13.
    total=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
  fi
  for child in $(pgrep -P "$pid" || true); do
    total=$((total + $(tree_ticks "$child")))
  done
  echo "$total"
}

# CPU time in nanoseconds of rotor's DNS serving threads alone: the
# rotor-worker-N (TCP loop) and rotor-udp-N (UDP socket) tasks of process $1.
# Each task's exact run time from /proc/PID/task/TID/schedstat (its first
# field); without it, utime+stime from .../stat. utime+stime are sampled at
# each clock tick (10 ms): a 10 s run of a worker at a fifth of its core is
# ~200 samples, +-7%, too coarse for a 5% goal (a first try read -19%).
# With "others" as $2: every other live thread's instead (the control plane).
worker_ns() {
  local pid=$1 which=${2:-workers} total=0 task name ns serving
  for task in /proc/"$pid"/task/*; do
    name=$(cat "$task/comm" 2>/dev/null) || continue
    serving=""
    case $name in rotor-worker-* | rotor-udp-*) serving=1 ;; esac
    [[ ($which == workers && -n $serving) || ($which == others && -z $serving) ]] || continue
    if ns=$(awk '{print $1}' "$task/schedstat" 2>/dev/null) && [[ -n $ns ]]; then
      total=$((total + ns))
    else
      total=$((total + $(sed 's/^.*) //' "$task/stat" 2>/dev/null | awk -v hz="$hz" '{printf "%.0f", ($12 + $13) * 1e9 / hz}')))
    fi
  done
  echo "$total"
}
# How many times rotor's serving threads went to sleep (voluntary context
# switches: a recvmmsg or epoll wait that found nothing): fewer sleeps per
# query means bigger batches per wake-up, and cheaper queries.
worker_sleeps() {
  local pid=$1 total=0 task name n
  for task in /proc/"$pid"/task/*; do
    name=$(cat "$task/comm" 2>/dev/null) || continue
    case $name in rotor-worker-* | rotor-udp-*) ;; *) continue ;; esac
    n=$(awk '/^voluntary_ctxt_switches:/ {print $2}' "$task/status" 2>/dev/null)
    total=$((total + ${n:-0}))
  done
  echo "$total"
}
# Set: measure() records the serving threads' cpu too (R[key|wcpu]).
measure_worker_cpu=""
# A scheduling prefix for dnsperf (run_churn_pinned's chrt), else none.
dnsperf_sched=()

declare -A R        # R[workload|server|kind|field]; kind: peak, fixed; fields: qps mean p99 lost cpu (wcpu)
declare -A RR       # RR[round|workload|server|kind|field]: each round's figures (BENCH_ROUNDS > 1)
declare -A fixed_q  # workload -> offered load of its fixed-load runs
declare -A note     # workload|server -> why a row is missing or different
runs_done=0

# Runs dnsperf once against the running server and records the results under
# key $1 (workload|server|kind). $2 port, $3 workload, $4 offered rate (0:
# none), $5 cores for dnsperf.
measure() {
  local key=$1 port=$2 w=$3 rate=$4 cpus=$5 out=$work/dnsperf.out before after
  local args=(-s 127.0.0.1 -p "$port" -d "${wl_file[$w]}" -m "${wl_mode[$w]}" -l "$seconds"
              -c "$clients" -q "$outstanding" -O suppress=timeouts,unexpected)
  # shellcheck disable=SC2206  # word splitting wanted
  [[ -n ${wl_extra[$w]} ]] && args+=(${wl_extra[$w]})
  # -v prints every response's latency: the source of p99, but it costs the
  # generator about a tenth of its throughput, so peak runs go without.
  ((rate > 0)) && args+=(-Q "$rate" -v)
  local wbefore=0 wafter=0 obefore=0 oafter=0 sbefore=0 safter=0
  if [[ -n $measure_worker_cpu ]]; then
    wbefore=$(worker_ns "$server_pid"); obefore=$(worker_ns "$server_pid" others); sbefore=$(worker_sleeps "$server_pid")
  fi
  before=$(tree_ticks "$server_pid")
  taskset -c "$cpus" "${dnsperf_sched[@]}" dnsperf "${args[@]}" >"$out" 2>&1 || true
  after=$(tree_ticks "$server_pid")
  if [[ -n $measure_worker_cpu ]]; then
    wafter=$(worker_ns "$server_pid"); oafter=$(worker_ns "$server_pid" others); safter=$(worker_sleeps "$server_pid")
  fi
  runs_done=$((runs_done + 1))
  local completed lost qps mean
  completed=$(awk '/Queries completed:/ {print $3; exit}' "$out")
  lost=$(awk '/Queries lost:/ {print $3; exit}' "$out")
  qps=$(awk '/Queries per second:/ {print $4; exit}' "$out")
  mean=$(awk '/Average Latency \(s\):/ {print $4; exit}' "$out")
  if [[ -z $completed || $completed == 0 ]]; then
    say "no query answered in run $key:"
    grep -v '^>' "$out" | head -20 >&2
    R[$key|qps]=0; R[$key|lost]=${lost:-?}; R[$key|cpu]="-"; R[$key|mean]="-"; R[$key|p99]="-"; R[$key|wcpu]="-"
    return 0
  fi
  R[$key|qps]=$(printf '%.0f' "$qps")
  R[$key|lost]=$lost
  R[$key|mean]=$(awk -v s="$mean" 'BEGIN {printf "%.3f", s * 1000}')
  R[$key|cpu]=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$completed" \
                  'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  if [[ -n $measure_worker_cpu ]]; then
    R[$key|wcpu]=$(awk -v t=$((wafter - wbefore)) -v n="$completed" 'BEGIN {printf "%.3f", t / 1e3 / n}')
    R[$key|other_us]=$(awk -v t=$((oafter - obefore)) 'BEGIN {printf "%.0f", t / 1e3}')
    R[$key|sleeps]=$(awk -v t=$((safter - sbefore)) -v n="$completed" 'BEGIN {printf "%.0f", t * 1000 / n}')
  fi
  R[$key|p99]="-"
  if ((rate > 0)); then
    # Lines "> RCODE NAME TYPE SECONDS"; lost queries have none.
    R[$key|p99]=$(awk '/^> / {print $NF}' "$out" | python3 -c '
import math, sys
v = sorted(float(x) for x in sys.stdin if x.strip())
print("%.3f" % (v[max(0, math.ceil(0.99 * len(v)) - 1)] * 1000) if v else "-")')
  fi
  rm -f "$out"
  say "$(printf '%-24s qps %8s  mean %6s ms  p99 %6s ms  lost %6s  cpu %6s us/q' "$key" \
    "${R[$key|qps]}" "${R[$key|mean]}" "${R[$key|p99]}" "${R[$key|lost]}" "${R[$key|cpu]}")$(
    [[ -n $measure_worker_cpu ]] && echo "  workers ${R[$key|wcpu]} us/q, ${R[$key|sleeps]} sleeps/kq")"
}

# Peak and fixed-load runs of one workload against the running server.
measure_workload() {
  local s=$1 w=$2 port=$3
  measure "$w|$s|peak" "$port" "$w" 0 "$client_cpu"
  if [[ -z ${fixed_q[$w]:-} ]]; then
    local peak=${R[$w|$s|peak|qps]}
    fixed_q[$w]=${BENCH_QPS:-$(((peak + 1) / 2))}
    ((fixed_q[$w] > 0)) || fixed_q[$w]=1000
  fi
  measure "$w|$s|fixed" "$port" "$w" "${fixed_q[$w]}" "$client_cpu"
}

answers() {  # port name type [dig options]: the A/AAAA records answered, one a line
  dig +short +time=1 +tries=2 @127.0.0.1 -p "$1" "$2" "$3" "${@:4}" 2>/dev/null | grep -v '^;' || true
}
wait_answering() {
  local port=$1
  for _ in $(seq 1 100); do
    [[ -n $(answers "$port" www.bench.test A) ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
wait_line() {  # file pattern: waits for a line of a starting server's stdout
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# Checks that an answer has the wanted number of records; else notes it.
check_count() {  # server workload port name type want [dig options]
  local got
  got=$(answers "$3" "$4" "$5" "${@:7}" | wc -l)
  if [[ $got != "$6" ]]; then
    say "$1: $4 $5 has $got answers, not $6"
    note[$2|$1]="WRONG: $got answers, not $6"
  fi
}

# The geo answer for a client in 10.1/16 (ECS): the 4 eu addresses, 192.0.2.11-14.
check_geo() {  # server port
  local got
  got=$(answers "$2" geo.bench.test A +subnet=10.1.0.0/24 | sort | paste -sd' ')
  if [[ $got != "192.0.2.11 192.0.2.12 192.0.2.13 192.0.2.14" ]]; then
    say "$1: geo.bench.test A with ECS 10.1.0.0/24 answers '$got', not the 4 eu addresses"
    note[geo|$1]="WRONG: $got"
  fi
}

# --- servers ------------------------------------------------------------------
rotor_config=$work/rotor.json
{
  echo '{'
  echo "  \"zones\": [\"$zone_rotor\"],"
  echo '  "regions": [{"name": "eu", "lat": 50.1, "lon": 8.7, "prefer": ["us"]},'
  echo '              {"name": "us", "lat": 40.7, "lon": -74.0, "prefer": ["eu"]}],'
  echo '  "networks": [{"cidr": "10.1.0.0/16", "region": "eu"}, {"cidr": "10.2.0.0/16", "region": "us"}],'
  echo '  "arrays": ['
  # 8 IPv4 and 8 IPv6 instances, the first 5 of each up.
  echo '    {"name": "web.bench.test.", "ttl": 30, "degraded_ttl": 10, "policy": "round_robin", "instances": ['
  for i in $(seq 1 8); do
    health=up; [[ $i -gt 5 ]] && health=down
    echo "      {\"address\": \"192.0.2.$((200 + i))\", \"health\": \"$health\"},"
    sep=,; [[ $i -eq 8 ]] && sep=
    echo "      {\"address\": \"2001:db8::$((200 + i))\", \"health\": \"$health\"}$sep"
  done
  echo '    ]},'
  # 4 instances per region; the ECS of the geo queries puts the client in eu.
  # max_answers 4 answers the eu tier alone, the shape of gdnsd's geoip answer.
  echo '    {"name": "geo.bench.test.", "ttl": 30, "policy": "geo", "max_answers": 4, "instances": ['
  for i in 1 2 3 4; do echo "      {\"address\": \"192.0.2.$((10 + i))\", \"region\": \"eu\", \"health\": \"up\"},"; done
  for i in 1 2 3 4; do
    sep=,; [[ $i -eq 4 ]] && sep=
    echo "      {\"address\": \"192.0.2.$((20 + i))\", \"region\": \"us\", \"health\": \"up\"}$sep"
  done
  echo '    ]}'
  echo '  ]'
  echo '}'
} >"$rotor_config"
# The same with response rate limiting on, at a rate no run reaches: every
# reply passes, but each one updates the one table all workers share (all of
# dnsperf's queries come from 127.0.0.1, so from one slot). The threads
# workload measures what that sharing costs.
rotor_config_rrl=$work/rotor-rrl.json
sed '1a\  "rrl": {"responses_per_second": 1000000, "slip": 0},' "$rotor_config" >"$rotor_config_rrl"

# The same with cpu_affinity: rotor's DNS worker on the server core and
# everything else (API, registry writes, snapshot building, probes) on the
# client core, as a deployment that keeps its control plane off the
# answering cores runs it (README, cpu_affinity).
rotor_config_pinned=$work/rotor-pinned.json
sed "1a\\  \"cpu_affinity\": {\"workers\": [$server_cpu], \"control\": [$client_cpu]}," "$rotor_config" \
  >"$rotor_config_pinned"

port="" api=""
# Each start_* sets port and server_pid (and api for rotor), or fails.
start_rotor() {  # threads cores [config]
  local threads=$1 cpus=$2 config=${3:-$rotor_config}
  port=$(free_port)
  rm -f "$work"/rotor.db*  # a fresh registry: the config's health applies
  taskset -c "$cpus" "$rotor_bin" serve --config "$config" --db "$work/rotor.db" \
    --listen "127.0.0.1:$port" --api 127.0.0.1:0 --threads "$threads" --log-level warn \
    >"$work/rotor.out" 2>"$work/rotor.err" &
  server_pid=$!
  wait_line "$work/rotor.out" '^api ' || { cat "$work/rotor.err" >&2; return 1; }
  api=$(awk '/^api / {print $2}' "$work/rotor.out")
  wait_answering "$port"
}

start_nsd() {
  port=$(free_port)
  cat >"$work/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@$port
  username: ""
  chroot: ""
  pidfile: "$work/nsd.pid"
  zonesdir: "$work"
  database: ""
  zonelistfile: "$work/zone.list"
  xfrdfile: "$work/xfrd.state"
  xfrdir: "$work"
  server-count: 1
  rrl-ratelimit: 0
  round-robin: yes
  minimal-responses: yes
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: "$zone_static"
EOF
  taskset -c "$server_cpu" nsd -d -c "$work/nsd.conf" >"$work/nsd.log" 2>&1 &
  server_pid=$!
  wait_answering "$port" || { cat "$work/nsd.log" >&2; return 1; }
}

start_knot() {
  port=$(free_port)
  mkdir -p "$work/knot"
  cat >"$work/knot.conf" <<EOF
server:
    rundir: "$work/knot"
    listen: 127.0.0.1@$port
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    answer-rotation: on
    edns-client-subnet: on
log:
  - target: stderr
    any: warning
database:
    storage: "$work/knot"
mod-geoip:
  - id: geo
    mode: subnet  # before config-file, whose check depends on it
    config-file: "$work/knot-geo.conf"
    ttl: 30
zone:
  - domain: bench.test
    file: "$zone_knot"
    module: mod-geoip/geo
    journal-content: none
    zonefile-sync: -1
EOF
  taskset -c "$server_cpu" knotd -c "$work/knot.conf" >"$work/knot.log" 2>&1 &
  server_pid=$!
  wait_answering "$port" || { cat "$work/knot.log" >&2; return 1; }
}

start_gdnsd() {
  port=$(free_port)
  local dir=$work/gdnsd
  mkdir -p "$dir/zones" "$dir/run" "$dir/state"
  {
    common_zone
    echo 'web 30 IN DYNA multifo!web'
    echo 'geo 30 IN DYNA geoip!geo'
  } >"$dir/zones/bench.test"
  cat >"$dir/config" <<EOF
options => {
  listen => [ "127.0.0.1:$port" ]
  udp_threads => 1
  tcp_threads => 1
  run_dir => "$dir/run"
  state_dir => "$dir/state"
}
plugins => {
  multifo => {
    service_types => up
    web => {
      addrs_v4 => [ $(for i in $(seq 1 8); do printf '192.0.2.%d, ' $((200 + i)); done) ]
      addrs_v6 => [ $(for i in $(seq 1 8); do printf '"2001:db8::%d", ' $((200 + i)); done) ]
    }
  }
  geoip => {
    maps => {
      bench => {
        datacenters => [ eu, us ]
        nets => { 10.1.0.0/16 => [ eu, us ], 10.2.0.0/16 => [ us, eu ] }
      }
    }
    resources => {
      geo => {
        map => bench
        service_types => up
        dcmap => {
          eu => [ 192.0.2.11, 192.0.2.12, 192.0.2.13, 192.0.2.14 ]
          us => [ 192.0.2.21, 192.0.2.22, 192.0.2.23, 192.0.2.24 ]
        }
      }
    }
  }
}
EOF
  # 3 of the 8 addresses of each family forced DOWN, as rotor's array has them.
  for i in 6 7 8; do
    echo "192.0.2.$((200 + i))/up => DOWN"
    echo "\"2001:db8::$((200 + i))/up\" => DOWN"
  done >"$dir/state/admin_state"
  taskset -c "$server_cpu" gdnsd -c "$dir" start >"$work/gdnsd.log" 2>&1 &
  server_pid=$!
  wait_answering "$port" || { cat "$work/gdnsd.log" >&2; return 1; }
}

# udp_echo.cc's receive path: rotor's (blocking recvmmsg threads), so that
# rotor / echo floor compares like with like; the io workload tries the others.
echo_mode=blocking
start_echo() {
  port=$(free_port)
  taskset -c "$server_cpu" "$echo_bin" 127.0.0.1 "$port" "$echo_mode" >"$work/echo.out" 2>&1 &
  server_pid=$!
  wait_line "$work/echo.out" '^listening ' || { cat "$work/echo.out" >&2; return 1; }
}

# --- the runs -----------------------------------------------------------------
run_workloads=""
for w in static array geo nx tcp; do has "$workloads_wanted" "$w" && run_workloads+="$w "; done
# Churn is compared with the array workload of the same run.
if has "$workloads_wanted" churn && has "$servers" rotor && ! has "$run_workloads" array; then
  run_workloads+="array "
fi

runs=0
for s in $servers; do
  for w in $run_workloads; do
    case "$s|$w" in nsd\|geo | echo\|tcp) ;; *) runs=$((runs + 2 * rounds)) ;; esac
  done
done
if has "$servers" rotor; then
  has "$workloads_wanted" churn && runs=$((runs + 5 + 2 * churn_pairs))
  has "$workloads_wanted" threads && runs=$((runs + 8))
fi
echo_modes="blocking epoll drain busy-poll uring"
has "$workloads_wanted" io && runs=$((runs + 10))
# The micro-benchmarks, in seconds: the prober's two modes (warm-up 3 s each)
# and the registry writes (about a minute).
micro_seconds=0
has "$workloads_wanted" probes && micro_seconds=$((micro_seconds + 3 * (seconds + 5)))
has "$workloads_wanted" writes && micro_seconds=$((micro_seconds + 60))
say "$runs runs of $seconds s$( ((micro_seconds > 0)) && echo " and the micro-benchmarks"):" \
    "about $(((runs * (seconds * 10 + 15) + micro_seconds * 10 + 599) / 600)) min"
started=$(date +%s)


generation() {
  curl -s "http://$api/metrics" | awk '/^rotor_snapshot_generation / {g = $2} END {print g + 0}'
}
# What the churn driver changes, made through the API: the config owns the
# instances it lists (the API refuses to change them, 409), so the churned
# ones are the API's. 20 arrays of 8 that nobody queries, and 4 instances of
# the benchmarked array web.bench.test that churn flips between draining
# and disabled, so that its snapshot entry changes but its answers (5 A, 5
# AAAA) do not.
setup_churn() {
  local a i body
  for a in $(seq 1 $churn_arrays); do
    body=$(for i in $(seq 1 8); do printf '{"address": "203.0.113.%d"}\n' "$i"; done | paste -sd, -)
    if ! curl -sf -X PUT -H 'Content-Type: application/json' -d '{}' \
           "http://$api/v1/arrays/churn$a.bench.test" >/dev/null ||
       ! curl -sf -X PUT -H 'Content-Type: application/json' -d "[$body]" \
           "http://$api/v1/arrays/churn$a.bench.test/instances" >/dev/null; then
      say "could not make churn$a.bench.test through the API"
      return 1
    fi
  done
  for i in 209 210 211 212; do
    curl -sf -X POST -H 'Content-Type: application/json' -d "{\"address\": \"192.0.2.$i\", \"state\": \"draining\"}" \
      "http://$api/v1/arrays/web.bench.test/instances" >/dev/null ||
      { say "could not add 192.0.2.$i to web.bench.test through the API"; return 1; }
  done
}

# At a fixed load the driver runs as SCHED_IDLE: it gets only the time dnsperf
# leaves (there is room at half of peak), so it cannot delay dnsperf's reading
# of answers, which dnsperf's latencies would charge to rotor. At peak dnsperf
# leaves no time, so the driver runs at normal priority and takes dnsperf's:
# what the peak row loses is the generator's, and the verdict at peak is the
# capacity model (the cpu per change times the change rate) instead.
churn_args() {  # the driver's arguments, the same for every churn run
  echo --api "$api" --rate "$churn_rate" --seconds "$seconds" \
    --arrays "$(seq -s, -f 'churn%g.bench.test' 1 $churn_arrays)" \
    --bench-array web.bench.test --bench-states draining,disabled \
    --bench-addresses 192.0.2.209,192.0.2.210,192.0.2.211,192.0.2.212
}
run_churn() {  # key rate [normal]: one dnsperf run on the array workload while the driver churns
  local key=$1 rate=$2 args sched=()
  ((rate > 0)) && [[ ${3:-} != normal ]] && sched=(chrt --idle 0)
  read -r -a args <<<"$(churn_args)"
  local before
  before=$(generation)
  taskset -c "$client_cpu" "${sched[@]}" python3 tests/bench/churn.py "${args[@]}" >"$work/churn.out" 2>"$work/churn.err" &
  churn_pid=$!
  measure "$key" "$port" array "$rate" "$client_cpu"
  wait "$churn_pid" || true
  churn_pid=""
  R[$key|churn]=$(awk '/^churn:/ {print $NF}' "$work/churn.out")
  R[$key|churn_line]=$(cat "$work/churn.out" "$work/churn.err")
  R[$key|generations]=$(($(generation) - before))
  say "$(cat "$work/churn.out" "$work/churn.err"); snapshots published: ${R[$key|generations]}"
}

# The CPU one change costs rotor, measured directly: the driver alone (no
# dnsperf) for one run, rotor's process CPU over the changes it made, with a
# busy loop on the server core as a saturated DNS worker would keep it (an
# idle core would charge every request the VM's halt and wake-up: 154 us a
# change against ~60 busy, in the runs of 07:45). The difference of two
# dnsperf runs (with and without churn) says the same only roughly: on this
# VM a core kept awake by the API's wake-ups answers queries cheaper, which
# can make that difference negative (tests/bench/README.md, Known limits).
run_churn_alone() {
  local args before after ok
  read -r -a args <<<"$(churn_args)"
  taskset -c "$server_cpu" bash -c 'while :; do :; done' &
  busy_pid=$!
  before=$(tree_ticks "$server_pid")
  taskset -c "$client_cpu" python3 tests/bench/churn.py "${args[@]}" >"$work/churn.out" 2>"$work/churn.err" || true
  after=$(tree_ticks "$server_pid")
  stop_pid "$busy_pid"; busy_pid=""
  ok=$(awk '/^churn:/ {for (i = 1; i < NF; i++) if ($i == "ok") print $(i + 1)}' "$work/churn.out")
  R[churn|rotor|alone|churn]=$(awk '/^churn:/ {print $NF}' "$work/churn.out")
  R[churn|rotor|alone|us]=$(awk -v t=$((after - before)) -v hz="$hz" -v n="${ok:-0}" \
    'BEGIN {if (n + 0 > 0) printf "%.0f", t / hz * 1e6 / n; else print "-"}')
  say "churn alone: $(cat "$work/churn.out" "$work/churn.err"); rotor cpu per change ${R[churn|rotor|alone|us]} us"
}

# Issue 18's churn goal as a deployment with cpu_affinity sees it: rotor
# (one worker) with its DNS worker pinned to the server core and every other
# thread to the client core, at the array workload's half-peak load, without
# churn and with the same driver at the same rate, BENCH_CHURN_PAIRS times,
# each pair in the other order than the last (so drift falls on both alike).
# Each run records the serving threads' own cpu per answered query (their
# /proc/PID/task/TID/schedstat, see worker_ns): with churn it includes what the changes cost the
# worker itself (taking each new snapshot, letting the old one go, colder
# caches), not the API's, the database's or the composer's work, which runs
# on the control core. A saturated worker spending x% more per answer
# answers x% fewer, so that ratio minus one is the loss at saturation. The
# control core here is dnsperf's too (2 cores), and the driver runs at
# normal priority: as SCHED_IDLE (run_churn's choice at half peak) it only
# got what dnsperf and rotor's control plane left, 230-554 changes/s at
# 13:25 with other builds on the machine. Its p99 is not this run's measure
# (the worker's cpu per answer is), so the latency it adds does not matter.
run_churn_pinned() {
  local i order kind
  say "starting rotor with cpu_affinity: worker on core $server_cpu, everything else on core $client_cpu"
  if ! start_rotor 1 "$server_cpu,$client_cpu" "$rotor_config_pinned"; then
    say "rotor with cpu_affinity did not start"; cat "$work/rotor.err" >&2
    stop_pid "$server_pid"; server_pid=""; return 0
  fi
  if setup_churn; then
    measure_worker_cpu=1
    # dnsperf before the control plane and the driver on their shared core,
    # so that churn does not change how it bunches its queries (the worker's
    # cpu per answer follows its wake-ups per answer: sleeps/kq).
    dnsperf_sched=(chrt --fifo 1)
    for i in $(seq 1 "$churn_pairs"); do
      order="none churn"; ((i % 2 == 0)) && order="churn none"
      for kind in $order; do
        if [[ $kind == none ]]; then
          measure "pinned|$i|none" "$port" array "${fixed_q[array]}" "$client_cpu"
        else
          run_churn "pinned|$i|churn" "${fixed_q[array]}" normal
        fi
      done
      R[pinned|$i|order]=${order// /, }
    done
    measure_worker_cpu=""
    dnsperf_sched=()
    run_churn_pinned_alone
  fi
  stop_pid "$server_pid"; server_pid=""
}

# The same changes without the DNS load: what they cost the worker
# directly. The worker's TCP loop (rotor-worker-0) takes every snapshot the
# composer publishes (a libuv wake-up); its run time over a churn run minus
# over as long a run without, over the snapshots published, is the cost of
# one swap (taking the new snapshot, letting the old one go). Under load the
# UDP thread takes each one too (idle, it looks only every 100 ms), so the
# loss is that cost times the serving threads times the snapshots a second,
# over a second of core. A busy loop keeps the server core awake, as a
# saturated worker does (see run_churn_alone). Not counted: queries after a
# swap running on colder caches (the pairs above include those).
run_churn_pinned_alone() {
  local args w0 w1 w2 w3 o2 o3 ok g0 g1 serving
  read -r -a args <<<"$(churn_args)"
  serving=$(for t in /proc/"$server_pid"/task/*; do cat "$t/comm"; done 2>/dev/null | grep -c '^rotor-\(worker\|udp\)-')
  taskset -c "$server_cpu" bash -c 'while :; do :; done' &
  busy_pid=$!
  w0=$(tcp_loop_ns "$server_pid")
  sleep "$seconds"
  w1=$(tcp_loop_ns "$server_pid")
  o2=$(worker_ns "$server_pid" others)
  g0=$(generation)
  w2=$(tcp_loop_ns "$server_pid")
  taskset -c "$client_cpu" python3 tests/bench/churn.py "${args[@]}" >"$work/churn.out" 2>"$work/churn.err" || true
  w3=$(tcp_loop_ns "$server_pid")
  g1=$(generation)
  o3=$(worker_ns "$server_pid" others)
  stop_pid "$busy_pid"; busy_pid=""
  ok=$(awk '/^churn:/ {for (i = 1; i < NF; i++) if ($i == "ok") print $(i + 1)}' "$work/churn.out")
  R[pinned|alone|churn]=$(awk '/^churn:/ {print $NF}' "$work/churn.out")
  R[pinned|alone|snapshots]=$((g1 - g0))
  R[pinned|alone|serving]=$serving
  R[pinned|alone|idle_us]=$(((w1 - w0) / 1000))
  R[pinned|alone|churn_us]=$(((w3 - w2) / 1000))
  R[pinned|alone|ctl_us]=$(awk -v t=$((o3 - o2)) -v n="${ok:-0}" 'BEGIN {if (n + 0 > 0) printf "%.0f", t / 1e3 / n; else print "-"}')
  R[pinned|alone|swap_us]=$(awk -v c=$((w3 - w2)) -v i=$((w1 - w0)) -v g=$((g1 - g0)) \
    'BEGIN {if (g > 0) printf "%.1f", (c - i) / 1e3 / g; else print "-"}')
  # At the goal's rate: the snapshots a second scale with the changes (up to
  # one per publish_interval).
  R[pinned|alone|loss]=$(awk -v u="${R[pinned|alone|swap_us]}" -v g=$((g1 - g0)) -v s="$seconds" -v n="$serving" \
    -v ok="${ok:-0}" -v r="$churn_rate" \
    'BEGIN {if (u == "-" || ok + 0 <= 0) print "-"; else printf "%.2f%%", u * n * (g / s) * (r / (ok / s)) / 1e4}')
  say "churn alone, cpu_affinity: $(cat "$work/churn.out" "$work/churn.err"); rotor-worker-0 ran ${R[pinned|alone|churn_us]} us" \
      "against ${R[pinned|alone|idle_us]} us without changes, ${R[pinned|alone|snapshots]} snapshots:" \
      "${R[pinned|alone|swap_us]} us a swap; control plane ${R[pinned|alone|ctl_us]} us per change"
}
# Run time in nanoseconds of the worker's TCP loop thread alone (rotor-worker-0).
tcp_loop_ns() {
  local task
  for task in /proc/"$1"/task/*; do
    [[ $(cat "$task/comm" 2>/dev/null) == rotor-worker-0 ]] && awk '{print $1}' "$task/schedstat" && return
  done
  echo 0
}

# The DNS workloads, BENCH_ROUNDS times; the fixed loads are set in round 1.
for round in $(seq 1 "$rounds"); do
[[ -n $run_workloads ]] || break  # only micro-benchmarks, io or threads asked for
((rounds > 1)) && say "round $round of $rounds"
for s in $servers; do
  say "starting $s"
  if ! "start_$s" 1 "$server_cpu"; then
    say "$s did not start"
    for w in $run_workloads; do note[$w|$s]="did not start"; done
    stop_pid "$server_pid"; server_pid=""
    continue
  fi
  # Made at the start, so that every rotor run has the same registry. Churn
  # runs in the first round only.
  churn_ready=""
  if [[ $s == rotor && $round == 1 ]] && has "$workloads_wanted" churn && setup_churn; then churn_ready=1; fi
  # The answers must have the benchmarked shape before their cost means anything.
  case $s in
    rotor | nsd | knot | gdnsd)
      for w in $run_workloads; do
        case $w in
          static | tcp) check_count "$s" "$w" "$port" www.bench.test A 1 ;;
          array) check_count "$s" array "$port" web.bench.test A 5
                 check_count "$s" array "$port" web.bench.test AAAA 5 ;;
          geo) [[ $s == nsd ]] || check_geo "$s" "$port" ;;
        esac
      done ;;
  esac
  for w in $run_workloads; do
    case "$s|$w" in
      nsd\|geo) note[$w|$s]="no geo: left out"; continue ;;
      echo\|tcp) note[$w|$s]="UDP only"; continue ;;
    esac
    measure_workload "$s" "$w" "$port"
    # Right after the array runs it is compared with, so that the machine's
    # state drifts as little as possible in between.
    if [[ $s == rotor && $w == array && -n $churn_ready ]]; then
      run_churn "churn|rotor|peak" 0
      run_churn "churn|rotor|fixed" "${fixed_q[array]}"
      run_churn_alone
    fi
  done
  stop_pid "$server_pid"; server_pid=""
  [[ $s == rotor && -n $churn_ready ]] && run_churn_pinned
done
if ((rounds > 1)); then
  for key in "${!R[@]}"; do
    case $key in static\|* | array\|* | geo\|* | nx\|* | tcp\|*) RR[$round|$key]=${R[$key]} ;; esac
  done
fi
done
# With several rounds, each figure of the DNS workloads is the median of its
# rounds' (a round without it, "-", left out).
median() {  # values...: their median, or "-"
  printf '%s\n' "$@" | awk '$1 != "-" && $1 != "" {v[n++] = $1 + 0} END {
    if (n == 0) {print "-"; exit}
    for (i = 1; i < n; i++) for (j = i; j > 0 && v[j - 1] > v[j]; j--) {t = v[j]; v[j] = v[j - 1]; v[j - 1] = t}
    m = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
    print (m == int(m) ? sprintf("%d", m) : sprintf("%.3f", m) + 0)}'
}
# Every round's value of one key of R, in round order.
per_round() {  # key
  local r
  for r in $(seq 1 "$rounds"); do echo "${RR[$r|$1]:--}"; done
}
if ((rounds > 1)); then
  for key in "${!R[@]}"; do
    case $key in churn\|*) continue ;; esac
    [[ -n ${RR[1|$key]+x} ]] || continue
    # shellcheck disable=SC2046  # one value per line
    R[$key]=$(median $(per_round "$key"))
  done
fi

# The receive paths of issue 18, tried on the echo floor (udp_echo.cc): what
# each would save per query, at peak and at the static workload's fixed load.
if has "$workloads_wanted" io; then
  io_q=${fixed_q[static]:-${BENCH_QPS:-}}
  for mode in $echo_modes; do
    say "starting the echo, receive path $mode, on core $server_cpu"
    echo_mode=$mode
    if start_echo; then
      measure "io|$mode|peak" "$port" static 0 "$client_cpu"
      if [[ -z $io_q ]]; then
        io_q=$(((${R[io|$mode|peak|qps]} + 1) / 2))
        ((io_q > 0)) || io_q=1000
      fi
      measure "io|$mode|fixed" "$port" static "$io_q" "$client_cpu"
    else
      note[io|$mode]="did not start"
    fi
    stop_pid "$server_pid"; server_pid=""
  done
fi

# Thread scaling: --threads 1 and 2, without and with the shared RRL table,
# each at peak and at one fixed load (half of the first run's peak) so that
# their CPU per query compares.
if has "$servers" rotor && has "$workloads_wanted" threads; then
  threads_q=""
  for variant in plain rrl; do
    config=$rotor_config; [[ $variant == rrl ]] && config=$rotor_config_rrl
    for t in 1 2; do
      key="threads|rotor-$variant-$t"
      say "starting rotor --threads $t ($variant) on cores $server_cpu,$client_cpu"
      if start_rotor "$t" "$server_cpu,$client_cpu" "$config"; then
        measure "$key|peak" "$port" static 0 "$server_cpu,$client_cpu"
        if [[ -z $threads_q ]]; then
          threads_q=${BENCH_QPS:-$(((${R[$key|peak|qps]} + 1) / 2))}
          ((threads_q > 0)) || threads_q=1000
        fi
        measure "$key|fixed" "$port" static "$threads_q" "$server_cpu,$client_cpu"
      else
        note[$key]="did not start"
      fi
      stop_pid "$server_pid"; server_pid=""
    done
  done
fi

# The prober's CPU per HTTP check (issue 18: <= 50 us at 10,000 checks/s on
# one thread), fresh connections and check.reuse_connection, through the real
# ProberPool against a forked loopback backend (tests/bench/probes_bench.cc),
# and between them the kernel floor of a fresh check: the same exchange with
# bare sockets and epoll, no checker.
if has "$workloads_wanted" probes; then
  pin=()
  [[ $server_cpu == 0 && $client_cpu == 1 ]] && pin=(--pin)  # prober on 0, backend on 1
  say "rotor_probes_bench: 10,000 http targets at 1 s, fresh connections, their kernel floor, kept connections, $seconds s each"
  if "$build_dir/tests/bench/rotor_probes_bench" --seconds "$seconds" "${pin[@]}" >"$work/probes.out" 2>&1; then
    # Table rows: mode checks/s prober-us process-us down p99-late(2 words) verdict...
    while read -r mode checks us _ _ _ _ verdict; do
      R[probes|$mode|checks]=$checks; R[probes|$mode|us]=$us; R[probes|$mode|verdict]=$verdict
      say "probes $mode: $checks checks/s, $us us per check: $verdict"
    done < <(awk '/^CPU per HTTP check/ {t = 1; next} t && /^(fresh|floor|reuse) +[0-9]/ {print}' "$work/probes.out")
  else
    say "rotor_probes_bench failed:"; tail -5 "$work/probes.out" >&2
  fi
fi

# The CPU of one registry change below the socket (issue 18: <= 120 us end to
# end; the churn rows give the figure with the HTTP API), 100 and 10,000
# arrays, tests/bench/registry_write_bench.cc.
if has "$workloads_wanted" writes; then
  say "rotor_registry_write_bench: PATCHes of one instance, 100 and 10,000 arrays"
  if "$build_dir/tests/bench/rotor_registry_write_bench" --only-zone-file >"$work/writes.out" 2>&1; then
    R[writes|worst]=$(awk '/^worst / {print $2}' "$work/writes.out")
    say "$(grep '^worst ' "$work/writes.out")"
  else
    say "rotor_registry_write_bench failed:"; tail -5 "$work/writes.out" >&2
  fi
fi
elapsed=$(($(date +%s) - started))

# --- the table ----------------------------------------------------------------
get() { echo "${R[$1]:--}"; }
ratio() {  # a b: a/b with two decimals, or "-"
  awk -v a="$1" -v b="$2" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-"}'
}
# One goal of issue 18: rotor's cpu us per query over a peer's, in one
# workload, at fixed load and at peak, with its verdict.
# With several rounds, the ratio is the median of the rounds' ratios (each
# from one round, where the two servers ran minutes apart), listed below it.
goal_line() {  # workload peer goal title
  local w=$1 p=$2 goal=$3 title=$4 fixed peak verdict kind r
  if ((rounds > 1)); then
    declare -A each=()
    for kind in fixed peak; do
      each[$kind]=""
      for r in $(seq 1 "$rounds"); do
        each[$kind]+=" $(ratio "${RR[$r|$w|rotor|$kind|cpu]:--}" "${RR[$r|$w|$p|$kind|cpu]:--}")"
      done
    done
    # shellcheck disable=SC2086  # one value per word
    fixed=$(median ${each[fixed]})
    # shellcheck disable=SC2086
    peak=$(median ${each[peak]})
    [[ $fixed == "-" ]] || fixed=$(printf '%.2f' "$fixed")
    [[ $peak == "-" ]] || peak=$(printf '%.2f' "$peak")
  else
    fixed=$(ratio "$(get "$w|rotor|fixed|cpu")" "$(get "$w|$p|fixed|cpu")")
    peak=$(ratio "$(get "$w|rotor|peak|cpu")" "$(get "$w|$p|peak|cpu")")
  fi
  verdict=$(awk -v f="$fixed" -v k="$peak" -v g="$goal" 'BEGIN {
    if (f == "-" || k == "-") print "not measured";
    else if (f + 0 <= g + 0 && k + 0 <= g + 0) print "met";
    else if (f + 0 <= g + 0) print "NOT MET (met at fixed load only)";
    else if (k + 0 <= g + 0) print "NOT MET (met at peak only)";
    else print "NOT MET" }')
  goal "$w: rotor / $title, cpu per query" "$fixed fixed, $peak peak" "<= $goal both" "$verdict"
  if ((rounds > 1)) && [[ $verdict != "not measured" ]]; then
    printf '      rounds: fixed%s; peak%s\n' "${each[fixed]}" "${each[peak]}"
  fi
}
# One line of the goals table: what, figure, goal, verdict.
goal() { printf '  %-52s %-26s %-19s %s\n' "$1" "$2" "$3" "$4"; }
with_unit() { [[ $1 == "-" || -z $1 ]] && echo "-" || echo "$1 $2"; }  # figure unit
# met / NOT MET of a figure against an upper bound; "not measured" without one.
at_most() {  # figure bound
  awk -v f="$1" -v g="$2" 'BEGIN {if (f == "" || f == "-") print "not measured"; else if (f + 0 <= g + 0) print "met"; else print "NOT MET"}'
}
echo
echo "rotor benchmark: $seconds s per run, dnsperf -c $clients -q $outstanding; each server one worker on core $server_cpu, dnsperf on core $client_cpu"
echo "peak: no rate limit. fixed: dnsperf -Q at the same offered load for every server (half of the first measured server's peak,"
echo "rotor's when it runs). cpu us/q: utime+stime of the server's process tree per answered query. p99 only at fixed load: dnsperf 2.10"
echo "has no latency histogram, p99 comes from its -v per-response lines, which cost the generator ~10% at peak."
if ((rounds > 1)); then
  echo "$rounds rounds of the DNS workloads, every server in each: each figure below is the median of the rounds'; the goals"
  echo "take the median of the rounds' ratios (each from one round) and list them"
fi
versions="$("$rotor_bin" --version 2>/dev/null || echo rotor)"
for pkg in nsd knot gdnsd dnsperf; do
  versions+=", $pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo '?')"
done
echo "versions: $versions; kernel $(uname -r), $(nproc) cores"
echo
fmt='%-15s %-7s | %8s %7s %7s %7s | %7s %8s %7s %7s %7s %7s | %s\n'
# shellcheck disable=SC2059
printf "$fmt" workload server "peak qps" "mean ms" lost "cpu us" "fixed Q" qps "mean ms" "p99 ms" lost "cpu us" note
printf '%s\n' "$(printf '%.0s-' $(seq 1 122))"
for w in $run_workloads; do
  for s in $servers; do
    n=${note[$w|$s]:-}
    if [[ $s == gdnsd && $w == array && -z $n ]]; then n="multifo, 3 of 8 DOWN via admin_state"; fi
    if [[ $s == gdnsd && $w == geo && -z $n ]]; then n="geoip plugin, nets map, no GeoIP db"; fi
    if [[ $s == knot && $w == geo && -z $n ]]; then n="geoip module, mode subnet"; fi
    if [[ $s == nsd || $s == knot ]] && [[ $w == array && -z $n ]]; then n="static 5 A + 5 AAAA"; fi
    if [[ $s == echo && -z $n ]]; then n="floor: no DNS work"; fi
    if [[ -z ${R[$w|$s|peak|qps]:-} ]]; then
      # shellcheck disable=SC2059
      printf "$fmt" "${wl_title[$w]}" "$s" - - - - - - - - - - "$n"
      continue
    fi
    # shellcheck disable=SC2059
    printf "$fmt" "${wl_title[$w]}" "$s" "$(get "$w|$s|peak|qps")" "$(get "$w|$s|peak|mean")" \
      "$(get "$w|$s|peak|lost")" "$(get "$w|$s|peak|cpu")" "${fixed_q[$w]}" "$(get "$w|$s|fixed|qps")" \
      "$(get "$w|$s|fixed|mean")" "$(get "$w|$s|fixed|p99")" "$(get "$w|$s|fixed|lost")" \
      "$(get "$w|$s|fixed|cpu")" "$n"
  done
done

if has "$servers" rotor && [[ $servers != rotor ]]; then
  echo
  echo "ratios, rotor / peer in the same workload (cpu us per query at fixed load, at peak; qps at peak):"
  for w in $run_workloads; do
    for p in nsd gdnsd knot echo; do
      has "$servers" "$p" || continue
      [[ -n ${R[$w|$p|peak|qps]:-} && -n ${R[$w|rotor|peak|qps]:-} ]] || continue
      printf '  %-15s rotor/%-6s cpu %5s fixed, %5s peak   qps %5s\n' "${wl_title[$w]}" "$p" \
        "$(ratio "$(get "$w|rotor|fixed|cpu")" "$(get "$w|$p|fixed|cpu")")" \
        "$(ratio "$(get "$w|rotor|peak|cpu")" "$(get "$w|$p|peak|cpu")")" \
        "$(ratio "$(get "$w|rotor|peak|qps")" "$(get "$w|$p|peak|qps")")"
    done
  done
  if [[ -n ${R[array|rotor|peak|qps]:-} && -n ${R[static|rotor|peak|qps]:-} ]]; then
    printf '  rotor array / rotor static A             cpu %5s fixed, %5s peak\n' \
      "$(ratio "$(get array\|rotor\|fixed\|cpu)" "$(get static\|rotor\|fixed\|cpu)")" \
      "$(ratio "$(get array\|rotor\|peak\|cpu)" "$(get static\|rotor\|peak\|cpu)")"
  fi
fi

peak_drop="-" fixed_drop="-" churn_verdict="not measured" change_us="-" peak_loss="-" peak_busy="-"
if [[ -n ${R[churn|rotor|peak|qps]:-} ]]; then
  # Churn ran in round 1: it is compared with round 1's array runs.
  base() { if ((rounds > 1)); then echo "${RR[1|$1]:--}"; else get "$1"; fi; }
  echo
  echo "under churn: rotor, array A+AAAA, churn.py PATCHing instance state at $churn_rate/s requested: 10% on 4 instances of"
  echo "web.bench.test (draining <-> disabled: never answered), the rest on $churn_arrays other arrays (enabled <-> draining), all"
  echo "made through the API; driver on the dnsperf core (SCHED_IDLE at half peak, normal at peak); publish_interval 20 ms"
  cfmt='  %-30s %9s %9s %8s %8s %7s %7s %12s %10s\n'
  # shellcheck disable=SC2059
  printf "$cfmt" run qps "mean ms" "p99 ms" lost "cpu us" "" "changes/s" snapshots
  for kind in peak fixed; do
    label="peak"; [[ $kind == fixed ]] && label="Q ${fixed_q[array]} (half peak)"
    # shellcheck disable=SC2059
    printf "$cfmt" "$label, no churn" "$(base "array|rotor|$kind|qps")" "$(base "array|rotor|$kind|mean")" \
      "$(base "array|rotor|$kind|p99")" "$(base "array|rotor|$kind|lost")" "$(base "array|rotor|$kind|cpu")" "" - -
    # shellcheck disable=SC2059
    printf "$cfmt" "$label, churn" "$(get "churn|rotor|$kind|qps")" "$(get "churn|rotor|$kind|mean")" \
      "$(get "churn|rotor|$kind|p99")" "$(get "churn|rotor|$kind|lost")" "$(get "churn|rotor|$kind|cpu")" "" \
      "$(get "churn|rotor|$kind|churn" | tr -d '/s')" "$(get "churn|rotor|$kind|generations")"
  done
  drop() { awk -v a="$1" -v b="$2" 'BEGIN {if (a + 0 > 0) printf "%.1f%%", (a - b) / a * 100; else print "-"}'; }
  peak_drop=$(drop "$(base array\|rotor\|peak\|qps)" "$(get churn\|rotor\|peak\|qps)")
  fixed_drop=$(drop "$(base array\|rotor\|fixed\|qps)" "$(get churn\|rotor\|fixed\|qps)")
  # At the same offered load, the server CPU that churn adds, per change
  # (rough: see run_churn_alone); the driver alone gives the figure used.
  added_us=$(awk -v c="$(get churn\|rotor\|fixed\|cpu)" \
    -v n="$(base array\|rotor\|fixed\|cpu)" -v q="$(get churn\|rotor\|fixed\|qps)" \
    -v r="$(get churn\|rotor\|fixed\|churn | tr -d '/s')" \
    'BEGIN {if (r + 0 > 0 && c + 0 > 0) printf "%.0f", (c - n) * q / r; else print "-"}')
  change_us=$(get churn\|rotor\|alone\|us)
  # A worker whose core is saturated answers 1e6 / (cpu us/q) queries a
  # second; every us the changes take on that core is answers lost: at
  # `churn_rate` changes/s of change_us each, change_us * rate / 1e6 of them.
  peak_loss=$(awk -v u="$change_us" -v r="$churn_rate" 'BEGIN {if (u == "-" || u + 0 < 0) print "-"; else printf "%.1f%%", u * r / 1e4}')
  # How much of its core rotor used at "peak": well below 1, dnsperf was the limit.
  peak_busy=$(awk -v c="$(get churn\|rotor\|peak\|cpu)" -v q="$(get churn\|rotor\|peak\|qps)" \
    'BEGIN {if (c + 0 > 0 && q + 0 > 0) printf "%.2f", c * q / 1e6; else print "-"}')
  churn_verdict=$(awk -v m="${peak_loss%\%}" -v b="${fixed_drop%\%}" \
    -v f="$(get churn\|rotor\|fixed\|churn | tr -d '/s')" -v want="$churn_rate" 'BEGIN {
      if (m == "-" || b == "-") print "not measured";
      else if (f + 0 < 0.9 * want) print "NOT MET (the driver reached " f "/s of " want "/s)";
      else if (m + 0 < 5 && b + 0 < 5) print "met"; else print "NOT MET" }')
  churn_p99=$(get churn\|rotor\|fixed\|p99)
  churn_p99_verdict=$(awk -v p="$churn_p99" 'BEGIN {if (p == "-") print "not measured"; else if (p + 0 < 1) print "met"; else print "NOT MET"}')
  echo "  throughput drop under churn: $fixed_drop at half peak (measured); at peak $peak_loss of a saturated core" \
       "(model, whole process on the worker's core: the cpu per change below times $churn_rate/s; the peak rows measured $peak_drop with rotor using $peak_busy of its core:" \
       "dnsperf's limit, and the driver took dnsperf's cpu); goal (issue 18) < 5% at $churn_rate changes/s, both   $churn_verdict;" \
       "p99 at half peak with churn $churn_p99 ms (goal < 1 ms)   $churn_p99_verdict"
  echo "  server cpu per registry change: $change_us us" \
    "(rotor's process cpu over the changes, the driver alone at $(get churn\|rotor\|alone\|churn), the server core kept busy; goal (issue 18) <= 120 us)" \
    "  $(at_most "$change_us" 120);" \
    "the cpu us/q churn added at half peak, times qps, over changes/s: $added_us us (rough: a core kept awake answers cheaper)"
fi

pinned_loss="-" pinned_verdict="not measured" pinned_each=""
if [[ -n ${R[pinned|1|none|qps]:-} ]]; then
  echo
  echo "under churn with cpu_affinity: rotor's DNS worker pinned to core $server_cpu, every other thread of rotor (API, registry"
  echo "writes, snapshot building, probes) to core $client_cpu: the layout of a deployment that gives its control plane a core of its"
  echo "own; on this 2-core VM that core is dnsperf's (SCHED_FIFO here) and the driver's too. Array A+AAAA at Q ${fixed_q[array]} (half peak), the same"
  echo "driver (normal priority), rate and arrays as above, $churn_pairs pairs alternated. w us/q: run time (schedstat) of the rotor-worker-N"
  echo "and rotor-udp-N threads alone per answered query; sleeps/kq: their voluntary context switches per 1000 answers (fewer:"
  echo "bigger batches per wake-up); ctl us/ch: the other live threads' run time with churn minus without, over the changes."
  echo "loss: a saturated worker spending x% more per answer answers x% fewer, so (w us/q with churn) / (without) - 1,"
  echo "scaled to $churn_rate/s when the driver made fewer (a cost linear in the change rate; under half of it: left out). It counts what changes cost the"
  echo "worker itself (snapshot swaps, colder caches), not their HTTP, SQLite and composer work (ctl us/ch, on the control core)."
  pfmt='  %-4s %-11s %8s %8s %8s %8s %8s %8s %7s %9s %9s %8s %8s\n'
  # shellcheck disable=SC2059
  printf "$pfmt" pair order "qps 0" "qps ch" "w us/q 0" "w us/q ch" "sleep 0" "sleep ch" "p99 ch" changes/s snapshots \
    "ctl us/ch" loss
  losses=()
  for i in $(seq 1 "$churn_pairs"); do
    n=$(get "pinned|$i|none|wcpu") c=$(get "pinned|$i|churn|wcpu")
    f=$(get "pinned|$i|churn|churn" | tr -d '/s')
    l=$(awk -v n="$n" -v c="$c" -v f="$f" -v want="$churn_rate" 'BEGIN {
      if (n + 0 > 0 && c + 0 > 0 && f + 0 >= want / 2) printf "%+.1f%%", (c / n - 1) * 100 * want / f; else print "-"}')
    [[ $l != "-" ]] && losses+=("${l%\%}")
    control_us=$(awk -v c="$(get "pinned|$i|churn|other_us")" -v n="$(get "pinned|$i|none|other_us")" \
      -v f="$f" -v s="$seconds" 'BEGIN {if (f + 0 > 0 && c != "-" && n != "-") printf "%.0f", (c - n) / (f * s); else print "-"}')
    # shellcheck disable=SC2059
    printf "$pfmt" "$i" "$(get "pinned|$i|order")" "$(get "pinned|$i|none|qps")" "$(get "pinned|$i|churn|qps")" \
      "$n" "$c" "$(get "pinned|$i|none|sleeps")" "$(get "pinned|$i|churn|sleeps")" "$(get "pinned|$i|churn|p99")" \
      "$f" "$(get "pinned|$i|churn|generations")" "$control_us" "$l"
    pinned_each+="${pinned_each:+, }$l"
  done
  if ((${#losses[@]} > 0)); then
    pinned_loss=$(median "${losses[@]}" | awk '{printf "%+.1f%%", $1}')
  fi
  direct=$(get pinned\|alone\|loss)
  # Both figures must be under the goal: the pairs include cache effects but
  # can hide a small cost in the load's shape, the direct one cannot.
  pinned_verdict=$(awk -v m="${pinned_loss%\%}" -v d="${direct%\%}" -v f="$(get pinned\|alone\|churn | tr -d '/s')" \
    -v want="$churn_rate" 'BEGIN {
      if (m == "-" || d == "-") print "not measured";
      else if (f + 0 < 0.9 * want) print "NOT MET (the driver reached " f "/s of " want "/s)";
      else if (m + 0 < 5 && d + 0 < 5) print "met"; else print "NOT MET" }')
  echo "  the same changes without the DNS load (driver alone at $(get pinned\|alone\|churn), a busy loop on core $server_cpu): the worker's"
  echo "  TCP loop, which takes every snapshot, ran $(get pinned\|alone\|churn_us) us against $(get pinned\|alone\|idle_us) us without changes, over" \
       "$(get pinned\|alone\|snapshots) snapshots: $(get pinned\|alone\|swap_us) us a swap; times $(get pinned\|alone\|serving) serving threads" \
       "and the snapshots a second at $churn_rate changes/s: $direct of a saturated worker's core (direct);" \
       "the control plane $(get pinned\|alone\|ctl_us) us per change on core $client_cpu"
  echo "  answers lost at saturation under $churn_rate changes/s, control plane on its own core: $pinned_loss from the pairs" \
       "(median of $pinned_each), $direct direct; goal (issue 18) < 5% both   $pinned_verdict"
fi

if [[ -n ${R[io|blocking|peak|qps]:-} ]]; then
  echo
  echo "receive paths (issue 18) on the echo floor, static A queries; fixed: dnsperf -Q $io_q; vs blocking: cpu us/q over"
  echo "blocking's (rotor's path: recvmmsg threads); saves: the cpu us/q it would take off rotor's static answer (fixed load),"
  echo "in percent of it (negative: it would cost more)"
  for mode in $echo_modes; do
    printf '  %-9s peak qps %8s  cpu %6s us/q   fixed qps %8s  cpu %6s us/q  lost %6s   vs blocking %5s fixed, %5s peak   saves %s %s\n' \
      "$mode" "$(get "io|$mode|peak|qps")" "$(get "io|$mode|peak|cpu")" "$(get "io|$mode|fixed|qps")" \
      "$(get "io|$mode|fixed|cpu")" "$(get "io|$mode|fixed|lost")" \
      "$(ratio "$(get "io|$mode|fixed|cpu")" "$(get io\|blocking\|fixed\|cpu)")" \
      "$(ratio "$(get "io|$mode|peak|cpu")" "$(get io\|blocking\|peak\|cpu)")" \
      "$(awk -v e="$(get io\|blocking\|fixed\|cpu)" -v m="$(get "io|$mode|fixed|cpu")" -v r="$(get static\|rotor\|fixed\|cpu)" \
          'BEGIN {if (r + 0 > 0 && m + 0 > 0 && e + 0 > 0) printf "%+.0f%%", (e - m) / r * 100; else print "-"}')" \
      "${note[io|$mode]:-}"
  done
fi

if [[ -n ${R[threads|rotor-plain-1|peak|qps]:-} ]]; then
  echo
  echo "thread scaling: rotor static A, server and dnsperf both on cores $server_cpu,$client_cpu (the generator shares the cores);"
  echo "fixed: dnsperf -Q $threads_q for every row, so cpu us/q compares; rrl: the shared rate-limit table on, nothing limited"
  for variant in plain rrl; do
    for t in 1 2; do
      key="threads|rotor-$variant-$t"
      printf '  %-5s --threads %s   peak qps %8s  cpu %6s us/q   fixed qps %8s  cpu %6s us/q  lost %s %s\n' "$variant" "$t" \
        "$(get "$key|peak|qps")" "$(get "$key|peak|cpu")" "$(get "$key|fixed|qps")" "$(get "$key|fixed|cpu")" \
        "$(get "$key|fixed|lost")" "${note[$key]:-}"
    done
  done
  # The model (tests/bench/README.md, Thread scaling): a worker on a core of
  # its own answers 1e6 / c queries a second, c its cpu us per query; with N
  # workers each costs c2, measured with 2 workers (their cross-core costs
  # included), assumed not to grow further. Peak c is a saturated worker that
  # batches (the capacity); fixed-load c is dominated by wake-ups (a bound).
  for kind in peak fixed; do
    awk -v kind="$kind" -v c1="$(get "threads|rotor-plain-1|$kind|cpu")" -v c2="$(get "threads|rotor-plain-2|$kind|cpu")" \
        -v r1="$(get "threads|rotor-rrl-1|$kind|cpu")" -v r2="$(get "threads|rotor-rrl-2|$kind|cpu")" 'BEGIN {
      if (c1 + 0 <= 0 || c2 + 0 <= 0) { print "  model (" kind "): not enough runs"; exit }
      printf "  %-5s a second worker costs %+.1f%% cpu per query", kind, (c2 / c1 - 1) * 100
      if (r1 + 0 > 0 && r2 + 0 > 0)
        printf "; with the shared RRL table %+.1f%% (RRL alone, one worker: %+.1f%%)", (r2 / r1 - 1) * 100, (r1 / c1 - 1) * 100
      printf "\n        model, N workers on N cores of their own: N x 1e6 / %.2f us =", c2
      n = split("1 2 4 8 16", ns, " ")
      for (i = 1; i <= n; i++) printf " %d: %.0fk", ns[i], ns[i] * 1000 / c2
      printf " qps\n"
    }'
  done
fi

# --- every goal of issue 18, with its verdict -----------------------------------
# Goals without a number (try the receive paths, model thread scaling, show
# the compression's cost) are "measured" once their figures are printed.
measured() { [[ -n $1 && $1 != "-" ]] && echo measured || echo "not measured"; }
echo
echo "goals (issue 18): figure, goal, verdict (\"not measured\": the workload did not run or had no answer)"
goal_line array gdnsd 0.95 "gdnsd multifo"
goal_line array echo 1.10 "the echo floor"
goal_line static nsd 0.95 "NSD"
goal_line static knot 0.95 "Knot DNS"
goal_line static echo 1.10 "the echo floor"
if [[ -n ${R[probes|fresh|us]:-} || -n ${R[probes|reuse|us]:-} ]]; then
  goal "HTTP check, fresh connection, prober cpu" "$(get "probes|fresh|us") us at $(get "probes|fresh|checks")/s" \
    "<= 50 us at 10k/s" "$(get "probes|fresh|verdict")"
  # What the kernel alone costs for a fresh check on this machine (bare
  # sockets and epoll, same exchange and rate): the 50 us are in reach only
  # if this is under them, and the checker may cost at most 50 / floor times it.
  floor_us=$(get "probes|floor|us")
  floor_reach=$(awk -v f="$floor_us" 'BEGIN {if (f == "-" || f + 0 <= 0) print "not measured";
    else if (f + 0 <= 50) print "50 us in reach"; else print "50 us out of reach here"}')
  goal "  its kernel floor (bare sockets + epoll), cpu" "$(with_unit "$floor_us" us) at $(get "probes|floor|checks")/s" \
    "(under 50 us?)" "$floor_reach"
  floor_allowed=$(awk -v f="$floor_us" 'BEGIN {if (f == "-" || f + 0 <= 0) print "-"; else printf "%.2f", 50 / f}')
  floor_ratio=$(ratio "$(get "probes|fresh|us")" "$floor_us")
  goal "  fresh check / its kernel floor, cpu" "$floor_ratio" "<= $floor_allowed (50 us)" \
    "$(at_most "$floor_ratio" "$floor_allowed")"
  goal "HTTP check, reuse connection, prober cpu" "$(get "probes|reuse|us") us at $(get "probes|reuse|checks")/s" \
    "<= 50 us at 10k/s" "$(get "probes|reuse|verdict")"
else
  goal "HTTP check, prober cpu (rotor_probes_bench)" "-" "<= 50 us at 10k/s" "not measured"
fi
goal "registry change through the API (churn), cpu" "$(with_unit "$change_us" us)" "<= 120 us" "$(at_most "$change_us" 120)"
goal "registry change below the socket, worst row, cpu" "$(with_unit "$(get writes\|worst)" us)" "<= 120 us" \
  "$(at_most "$(get writes\|worst)" 120)"
# Measured with cpu_affinity (run_churn_pinned): the verdict. The older
# model (the whole process on the worker's core) stays beside it.
goal "answers lost under $churn_rate changes/s, cpu_affinity" "$pinned_loss pairs, $(get pinned\|alone\|loss) direct" "< 5% both" "$pinned_verdict"
goal "  same, whole process on the worker core (model)" "$peak_loss peak, $fixed_drop half" "< 5% both" "$churn_verdict"
io_best="-" io_measured=0
for mode in $echo_modes; do
  [[ -n ${R[io|$mode|fixed|cpu]:-} && ${R[io|$mode|fixed|cpu]} != "-" ]] || continue
  io_measured=$((io_measured + 1))
  [[ $mode == blocking ]] && continue
  r=$(ratio "$(get "io|$mode|fixed|cpu")" "$(get io\|blocking\|fixed\|cpu)")
  if [[ $io_best == "-" ]] || awk -v a="$r" -v b="${io_best#* }" 'BEGIN {exit !(a + 0 < b + 0)}'; then io_best="$mode $r"; fi
done
io_verdict="not measured"
((io_measured == 5)) && io_verdict=measured
((io_measured > 0 && io_measured < 5)) && io_verdict="measured $io_measured of 5"
io_figure="-"; [[ $io_best != "-" ]] && io_figure="${io_best% *} ${io_best#* }x fixed"
goal "receive paths on the echo floor, best vs blocking" "$io_figure" "try each" "$io_verdict"
threads_loss=$(awk -v c1="$(get threads\|rotor-plain-1\|peak\|cpu)" -v c2="$(get threads\|rotor-plain-2\|peak\|cpu)" \
  'BEGIN {if (c1 + 0 > 0 && c2 + 0 > 0) printf "%+.1f%%", (c2 / c1 - 1) * 100; else print "-"}')
goal "thread scaling: a second worker's cpu/q, model" "$threads_loss peak" "N x minus loss" "$(measured "$threads_loss")"
nx_ratio=$(ratio "$(get nx\|rotor\|fixed\|cpu)" "$(get nx\|nsd\|fixed\|cpu)")
goal "name compression: 10% NXDOMAIN, rotor / NSD cpu" "$nx_ratio fixed" "suffix table" "$(measured "$nx_ratio")"

echo
echo "$runs_done runs in ${elapsed} s"
