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

# Debian's kubectl 1.20 (package kubernetes-client) for the recovery API tests.
# It conflicts with the kubectl some machine images install at /usr/bin/kubectl,
# so it is unpacked (dpkg-deb -x) into a folder of its own, never installed.
KUBECTL120_DIR=${CPR_KUBECTL120_DIR:-/opt/cpr/kubectl-1.20}
unpack_kubectl120() {
  [ -x "$KUBECTL120_DIR/usr/bin/kubectl" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download kubernetes-client >/dev/null) || {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null
    (cd "$tmp" && apt-get download kubernetes-client >/dev/null)
  }
  "${SUDO[@]}" mkdir -p "$KUBECTL120_DIR"
  "${SUDO[@]}" dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$KUBECTL120_DIR"
  rm -rf "$tmp"
  echo "setup: kubectl 1.20 unpacked into $KUBECTL120_DIR"
}

SUDO=()
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi

missing=()
for p in "${PACKAGES[@]}"; do
  # installed = dpkg status "install ok installed"
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages installed"
  unpack_kubectl120
  exit 0
fi

if [ "$(id -u)" != 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
  echo "setup: missing packages: ${missing[*]}; run as root or install sudo" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
echo "setup: done"
unpack_kubectl120
