#!/usr/bin/env bash
# scripts/setup.sh — install what ringo needs on Debian 12 (apt-get, as
# root), only the packages that are missing.  Idempotent.
#   scripts/setup.sh          build and test dependencies
#   scripts/setup.sh bench    also what the peer benchmarks need
set -euo pipefail
PKGS=(build-essential cmake pkg-config liburing-dev libnuma-dev libmimalloc-dev
      clang libclang-rt-14-dev valgrind
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
      qemu-system-x86 busybox-static cpio)
# The aarch64 cross build's liburing and libnuma (and libc: qemu-user runs
# it on the host's /lib/ld-linux-aarch64.so.1), from Debian's arm64 archive
# (multiarch).  Optional: without them the cross build leaves io/ out
# (scripts/aarch64.cmake, scripts/test.sh).
ARM=()
if [ "$(dpkg --print-architecture)" = amd64 ]; then
    ARM=(libc6:arm64 liburing-dev:arm64 libnuma-dev:arm64)
fi
if [ "${1:-}" = bench ]; then
    PKGS+=(linux-perf strace hyperfine)
fi
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
# wait (up to 10 min) for an apt run already going, as on a machine that
# runs apt at boot, instead of failing on its lock: install waits by itself
# (DPkg::Lock::Timeout); update ignores that option in apt 2.6 and is
# retried
LOCK=(-o DPkg::Lock::Timeout=600)
missing_of() { # packages... -> those not installed, on stdout
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}
apt_update() {
    for try in $(seq 60); do
        $SUDO apt-get update -qq && return 0
        [ "$try" = 60 ] && return 1
        echo "setup: apt-get update failed (lock held?), retrying in 10 s"; sleep 10
    done
}
apt_install() {
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${LOCK[@]}" install -y -qq --no-install-recommends "$@" >/dev/null
}
mapfile -t missing < <(missing_of "${PKGS[@]}")
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt_update
    apt_install "${missing[@]}"
fi
mapfile -t missing < <(missing_of "${ARM[@]}")
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} (arm64 multiarch, for the aarch64 io tests)"
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
    fi
    if ! { apt_update && apt_install "${missing[@]}"; }; then
        echo "setup: WARNING: the arm64 packages did not install; the aarch64 run leaves io/ out"
    fi
fi
echo "setup: dependencies present"
