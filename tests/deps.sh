#!/usr/bin/env bash
# Installs the Debian 12 packages that building rotor, its tests and its
# benchmark need, and the npm packages of tests/openapi (npm ci from its
# lockfile). Quiet and quick when everything is already there.
# The web console's npm packages come from api/console/package-lock.json
# through `npm ci`, which the build runs in build/<preset>/console; its
# browser test drives Debian's chromium.
# unbound is only a test's validating resolver, started by it on loopback: it
# is installed with its service kept from starting (a policy-rc.d that says
# no, for that install alone) and then disabled, so no resolver runs on port
# 53, none starts at boot, and unbound-resolvconf never points the system's
# resolv.conf at it.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential g++ cmake ninja-build pkg-config
  libldns-dev libuv1-dev nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev
  libspdlog-dev libfmt-dev doctest-dev libcli11-dev libmaxminddb-dev
  nsd dnsperf bind9-dnsutils ldnsutils procps
  libcurl4-openssl-dev libssl-dev openssl libhttp-parser-dev
  prometheus-cpp-dev
  python3 curl
  libcpp-httplib-dev
  clang-14 libclang-rt-14-dev llvm-14
  etcd-server etcd-client ccache
  liburing-dev
  chromium
)
# Installed apart, with its service blocked (install_without_service).
service_packages=(unbound)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done
# Node.js for tests/openapi and the console's build: Debian's (18 on Debian 12) unless one is there.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

# tests/openapi's packages, again whenever the lockfile is newer than them.
install_npm_packages() {
  local folder=tests/openapi
  local installed=$folder/node_modules/.package-lock.json
  if [[ -f "$installed" && ! "$folder/package-lock.json" -nt "$installed" ]]; then
    return
  fi
  echo "deps: npm ci in $folder" >&2
  npm ci --prefix "$folder" --no-audit --no-fund --loglevel=error >/dev/null
}

missing_services=()
for package in "${service_packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing_services+=("$package")
  fi
done

if ((${#missing[@]} == 0 && ${#missing_services[@]} == 0)); then
  install_npm_packages
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n env DEBIAN_FRONTEND=noninteractive)
else
  echo "deps: these packages are missing and I cannot become root (no passwordless sudo):" >&2
  echo "  ${missing[*]} ${missing_services[*]}" >&2
  echo "deps: install them with: sudo apt-get install ${missing[*]} ${missing_services[*]}" >&2
  echo "deps: (and stop and disable the services of: ${missing_services[*]})" >&2
  exit 1
fi

# apt-get install of packages whose daemon must not run as a service: invoke-rc.d
# and deb-systemd-invoke ask /usr/sbin/policy-rc.d, and 101 means "do not start".
# An existing policy-rc.d (a container's) is left as it is. Then the units are
# disabled, so nothing starts at boot either.
install_without_service() {
  local policy=/usr/sbin/policy-rc.d placed=0
  if [[ ! -e "$policy" ]]; then
    "${as_root[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    placed=1
  fi
  local status=0
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null || status=$?
  if ((placed)); then
    "${as_root[@]}" rm -f "$policy"
  fi
  ((status == 0)) || return "$status"
  local package
  for package in "$@"; do
    if command -v systemctl >/dev/null; then
      "${as_root[@]}" systemctl disable --now "$package.service" "$package-resolvconf.service" \
        >/dev/null 2>&1 || true
    fi
    if [[ -x /etc/init.d/$package ]] && command -v update-rc.d >/dev/null; then
      "${as_root[@]}" update-rc.d "$package" disable >/dev/null 2>&1 || true
    fi
  done
}

echo "deps: installing ${missing[*]} ${missing_services[*]}" >&2
"${as_root[@]}" apt-get update -qq
if ((${#missing[@]} > 0)); then
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ((${#missing_services[@]} > 0)); then
  install_without_service "${missing_services[@]}"
fi
install_npm_packages
echo "deps: done" >&2
