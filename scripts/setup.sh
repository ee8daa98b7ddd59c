#!/usr/bin/env bash
# usage: scripts/setup.sh
#
# Installs every Debian 12 package that CPR's build, tests, demo and benches
# need. Idempotent: does nothing when all are installed; runs `apt-get update`
# only when something is missing. Runs as root (CI) or through sudo.
set -euo pipefail

PACKAGES=(
  # toolchain and checkers
  build-essential cmake ninja-build clang clang-format clang-tidy cppcheck
  libclang-rt-14-dev # libFuzzer and sanitizer runtimes for clang
  # libraries CPR links
  libssl-dev openssl libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libarchive-dev
  libfmt-dev libcpp-httplib-dev libisal-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  etcd-server etcd-client python3-etcd3 python3-yaml hyperfine
  python3-cryptography # CSRs and certificates made without CPR in the signer/pki tests
  chromium             # the drill's HTML report rendered and screenshotted in a test
  time # /usr/bin/time for peak RSS
)

missing=()
for p in "${PACKAGES[@]}"; do
  # installed = dpkg status "install ok installed"
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "setup: missing packages: ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
echo "setup: done"
