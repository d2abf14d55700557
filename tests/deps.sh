#!/usr/bin/env bash
# Installs the Debian 12 packages that building rotor, its tests and its
# benchmark need. Quiet and quick when everything is already there.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config
  libldns-dev libuv1-dev nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev
  libspdlog-dev libfmt-dev doctest-dev libcli11-dev libmaxminddb-dev
  nsd dnsperf bind9-dnsutils ldnsutils procps
  libcurl4-openssl-dev libssl-dev openssl
  prometheus-cpp-dev
  python3 curl
  libcpp-httplib-dev
  clang-14 libclang-rt-14-dev llvm-14
  etcd-server etcd-client ccache
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n env DEBIAN_FRONTEND=noninteractive)
else
  echo "deps: these packages are missing and I cannot become root (no passwordless sudo):" >&2
  echo "  ${missing[*]}" >&2
  echo "deps: install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done" >&2
