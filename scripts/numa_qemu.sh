#!/usr/bin/env bash
# scripts/numa_qemu.sh [BUILD_DIR] [TEST...] — run test binaries on a
# machine with two NUMA nodes: a QEMU guest (TCG; NUMA_QEMU_ACCEL=kvm
# for KVM) with one CPU and 512 MiB on each node, booting
# Debian 12's cloud kernel with a busybox initramfs that holds the tests
# and the shared libraries they need (NUMA_QEMU_CPUS=k: k CPUs on each
# node, interleaved: node 0 has the even ones).  The dev and CI machines have one
# node, where gc_numa (arenas on the asking P's node) can only skip.
#   scripts/numa_qemu.sh out/rel gc_numa
# Prints each test's output and "numa_qemu: <test> exit <code> (<s> s)"; exits 1
# if any test failed (77, a skip, counts as a failure here: on two nodes
# nothing should skip), 2 if the guest could not be run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-out/rel}
shift || true
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(gc_numa)
cd "$here"

as_root() { if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi; }
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
    echo "numa_qemu: installing ${need[*]}" >&2
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

work=${NUMA_QEMU_DIR:-/tmp/ringo-numa-qemu}
mkdir -p "$work"
# The kernel: Debian's cloud image (serial console, CONFIG_NUMA, io_uring),
# unpacked from its package without installing it.
kernel=$(ls "$work"/x/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
if [ -z "$kernel" ]; then
    kpkg() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -n 1; }
    pkg=$(kpkg)
    if [ -z "$pkg" ]; then
        as_root apt-get update -qq >&2
        pkg=$(kpkg)
    fi
    [ -n "$pkg" ] || { echo "numa_qemu: no linux-image-cloud-amd64 in apt's lists (apt-get update?)" >&2; exit 2; }
    (cd "$work" && rm -f ./*.deb && apt-get download "$pkg" >&2 && dpkg-deb -x ./*.deb x)
    kernel=$(ls "$work"/x/boot/vmlinuz-* | head -n 1)
fi

# The initramfs: busybox, the tests, their libraries, and an /init that
# runs each test and powers off.
root=$work/root
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,t}
cp /bin/busybox "$root/bin/"
for a in sh mount echo poweroff cat date; do ln -s busybox "$root/bin/$a"; done
for t in "${tests[@]}"; do
    [ -x "$build/$t" ] || { echo "numa_qemu: no $build/$t (build the tests first)" >&2; exit 2; }
    cp "$build/$t" "$root/t/"
    for lib in $(ldd "$build/$t" | awk '/=> \// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
done
{
    echo '#!/bin/sh'
    echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp'
    echo 'echo "numa_qemu: nodes: $(cat /sys/devices/system/node/online)"'
    for t in "${tests[@]}"; do
        echo "s=\$(date +%s); /t/$t; echo \"numa_qemu: $t exit \$? (\$((\$(date +%s) - s)) s)\""
    done
    echo 'poweroff -f'
} >"$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

# TCG by default: under KVM nested in this project's VMs the guest died
# in the kernel's first cmpxchg16b ("emulation failure").
accel=(-accel tcg -cpu max)
[ "${NUMA_QEMU_ACCEL:-tcg}" = kvm ] && accel=(-accel kvm -cpu host)
log=$work/console.log
# NUMA_QEMU_CPUS CPUs on each node (default 1), numbered so that the
# nodes interleave: node 0 has the even CPUs, node 1 the odd ones.
k=${NUMA_QEMU_CPUS:-1}
[[ "$k" =~ ^[1-8]$ ]] || { echo "numa_qemu: NUMA_QEMU_CPUS=$k: want 1 to 8" >&2; exit 2; }
n0=() n1=()
for ((i = 0; i < k; i++)); do n0+=(cpus=$((2 * i))); n1+=(cpus=$((2 * i + 1))); done
timeout 600 qemu-system-x86_64 "${accel[@]}" -m 1024 -smp $((2 * k)) \
    -object memory-backend-ram,id=m0,size=512M -object memory-backend-ram,id=m1,size=512M \
    -numa "node,nodeid=0,$(IFS=,; echo "${n0[*]}"),memdev=m0" \
    -numa "node,nodeid=1,$(IFS=,; echo "${n1[*]}"),memdev=m1" \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 rdinit=/init panic=-1 quiet" \
    -nographic -no-reboot >"$log" 2>&1 || true
grep -v '^\[' "$log" | sed -n 's/.*\(numa_qemu: nodes\)/\1/; /numa_qemu: nodes/,$p'
grep -q 'numa_qemu: nodes: 0-1' "$log" || { echo "numa_qemu: the guest did not come up with two nodes (see $log)" >&2; exit 2; }
fail=0
for t in "${tests[@]}"; do
    grep -q "numa_qemu: $t exit 0" "$log" || fail=1
done
exit $fail
