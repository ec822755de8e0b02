#!/usr/bin/env bash
# scripts/test.sh — set up, build and pass every test:
#   1. RelWithDebInfo build, whole ctest suite (gcc)
#   2. ASan+UBSan build (fiber annotations), whole suite (clang)
#   3. TSan build (fiber annotations), whole suite (clang)
#   4. aarch64 cross build, core's context-switch/stack tests, sync's
#      suite, io's on its epoll backend and gc's ctest-qemu tests under
#      qemu-user
#   5. valgrind (memcheck, leaks) on core tests
#   6. on two-node QEMU guests (x86-64; scripts/numa_qemu.sh): gc_numa and heap
#      tests; core_topo and scheduler/sync tests with two CPUs a node
# Prints one closing line "N passed, N failed".  Usage:
#   scripts/test.sh [quick]   quick: step 1 only
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || { echo "setup failed: 0 passed, 1 failed"; exit 1; }
J=${JOBS:-$(nproc)}
passed=0 failed=0 skipped=0
failures=()

count() { # name, ctest log
    local p f
    p=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed' "$2" || true)
    f=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(Failed|\*\*\*|Not Run)' "$2" | grep -vc '\*\*\*Skipped' || true)
    s=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$2" || true)
    skipped=$((skipped + s))
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" = 0 ] || failures+=("$1: $(grep -E '\*\*\*|Failed|Not Run' "$2" | grep -v Skipped | grep -oE '[a-z]+_[a-z0-9_]+' | sort -u | tr '\n' ' ')")
    echo "== $1: $p passed, $f failed, $s skipped"
}

build() { # dir, cmake args...
    local dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGO_TESTS=ON "$@" >"$dir.cmake.log" 2>&1 &&
    cmake --build "$dir" -j"$J" >"$dir.build.log" 2>&1 || {
        echo "== build $dir failed:"; tail -n 30 "$dir.build.log" "$dir.cmake.log"
        failed=$((failed + 1)); failures+=("build $dir"); return 1; }
}

suite() { # name, dir, ctest args...
    local name=$1 dir=$2; shift 2
    (cd "$dir" && ctest --output-on-failure -j2 "$@") >"$dir.ctest.log" 2>&1
    count "$name" "$dir.ctest.log"
    grep -E '^(ringo|SKIP)|CHECK failed|ERROR: .*Sanitizer|WARNING: ThreadSanitizer' "$dir.ctest.log" | sort | uniq -c | head -20
}

mkdir -p out
if build out/release; then
    suite release out/release
    # warning-clean with gcc (the sanitizer builds check clang)
    w=$(grep -c 'warning:' out/release.build.log || true)
    if [ "$w" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("gcc warnings: $w"); grep -m5 'warning:' out/release.build.log; fi
    # installable, found by CMake and by pkg-config; only rg_ symbols exported
    rm -rf out/prefix out/consumer
    if cmake --install out/release --prefix "$PWD/out/prefix" >out/install.log 2>&1 &&
       cmake -S tests/install -B out/consumer -DCMAKE_PREFIX_PATH="$PWD/out/prefix" >>out/install.log 2>&1 &&
       cmake --build out/consumer >>out/install.log 2>&1 &&
       LD_LIBRARY_PATH="$PWD/out/prefix/lib" timeout 60 out/consumer/consumer_cmake >>out/install.log 2>&1 &&
       timeout 60 out/consumer/consumer_static >>out/install.log 2>&1 &&
       LD_LIBRARY_PATH="$PWD/out/prefix/lib" timeout 60 out/consumer/consumer_cxx >>out/install.log 2>&1 &&
       PKG_CONFIG_PATH="$PWD/out/prefix/lib/pkgconfig" cc tests/install/consumer.c -o out/consumer/consumer_pc \
           $(PKG_CONFIG_PATH="$PWD/out/prefix/lib/pkgconfig" pkg-config --cflags --libs ringo) >>out/install.log 2>&1 &&
       LD_LIBRARY_PATH="$PWD/out/prefix/lib" timeout 60 out/consumer/consumer_pc >>out/install.log 2>&1 &&
       sh tests/install/pc_paths.sh . >>out/install.log 2>&1 &&
       ! nm -D --defined-only out/prefix/lib/libringo.so | awk '$2 ~ /[TDB]/ {print $3}' | grep -v '^rg_' >>out/install.log; then
        passed=$((passed + 1)); echo "== install: passed"
    else
        failed=$((failed + 1)); failures+=("install"); tail -n 20 out/install.log
    fi
fi
if [ "${1:-}" != quick ]; then
    if build out/asan -DCMAKE_C_COMPILER=clang -DRINGO_SANITIZE=address -DRINGO_BENCH=OFF; then
        w=$(grep -c 'warning:' out/asan.build.log || true)
        if [ "$w" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("clang warnings: $w"); grep -m5 'warning:' out/asan.build.log; fi
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 suite asan out/asan
    fi
    if build out/tsan -DCMAKE_C_COMPILER=clang -DRINGO_SANITIZE=thread -DRINGO_BENCH=OFF; then
        TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" suite tsan out/tsan
    fi
    # io/ runs there on its epoll backend (qemu-user has no io_uring):
    # each suite's _epoll twin, and the suites that have none but
    # io_fallback (seccomp under qemu-user) and io_fairness (io_uring only)
    arm_io=(-DRINGO_CROSS_NO_URING=OFF)
    [ -e /usr/lib/aarch64-linux-gnu/pkgconfig/liburing.pc ] || arm_io=(-DRINGO_CROSS_NO_URING=ON)
    if build out/arm64 -DCMAKE_TOOLCHAIN_FILE=scripts/aarch64.cmake "${arm_io[@]}" \
             -DRINGO_MIMALLOC=OFF -DRINGO_BENCH=OFF -DRINGO_EXAMPLES=OFF; then
        RINGO_PROCS=2 suite aarch64-qemu out/arm64 \
            -R 'core_(ctx|yield|overflow|tls|sleep|badinput|shutdown|stw|blocking|spawn)|sync_|gc_|io_(.*_epoll|faults_reset|shutdown_hop)$'
    fi
    # NUMA placement needs two nodes, these machines have one: gc_numa and
    # the heap tests whose arenas then sit on two nodes, in a QEMU guest
    # (one CPU a node); then, on two CPUs a node numbered so that the nodes
    # interleave, the P-to-CPU grouping (core_topo) and the scheduler and
    # sync tests with Ps on both nodes.  (The heap tests take minutes
    # there: four TCG CPUs on two.)
    if [ "$(uname -m)" = x86_64 ]; then
        numa_run() { # label, NUMA_QEMU_CPUS, tests...
            local label=$1 k=$2 log=out/$1.log np=0 nf=0
            shift 2
            NUMA_QEMU_CPUS=$k timeout 900 scripts/numa_qemu.sh out/release "$@" >"$log" 2>&1
            for t in "$@"; do
                if grep -q "numa_qemu: $t exit 0" "$log"; then np=$((np + 1)); else nf=$((nf + 1)); failures+=("$label $t"); fi
            done
            passed=$((passed + np)); failed=$((failed + nf))
            echo "== $label: $np passed, $nf failed"; grep -E 'pages checked|Ps on .* allowed CPUs' "$log"
            [ "$nf" = 0 ] || tail -n 20 "$log"
        }
        numa_run numa-qemu 1 gc_numa gc_alloc gc_gctest gc_parallel gc_scavenge gc_reach gc_stress
        numa_run numa-qemu-4cpu 2 core_topo core_steal core_runnext core_parkrace sync_chan sync_select sync_lock sync_ctx
    fi
    # valgrind: its own build (mimalloc off: Debian's libmimalloc exports
    # free(), which valgrind redirects, and mi_free is that symbol) and the
    # epoll backend (valgrind 3.19 does not model io_uring_enter as a
    # blocking call: a P asleep in it stops every thread).
    if build out/vg -DRINGO_MIMALLOC=OFF -DRINGO_BENCH=OFF -DRINGO_EXAMPLES=OFF; then
        vlog=out/valgrind.log; : >"$vlog"; vp=0; vf=0
        for t in core_shutdown core_blocking core_tls core_sleep; do
            if RINGO_IO=epoll timeout -s KILL 300 valgrind -q --error-exitcode=9 --leak-check=full \
                 --errors-for-leak-kinds=definite out/vg/$t >>"$vlog" 2>&1; then
                vp=$((vp + 1)); else vf=$((vf + 1)); failures+=("valgrind $t"); fi
        done
        passed=$((passed + vp)); failed=$((failed + vf))
        echo "== valgrind: $vp passed, $vf failed"
    fi
fi
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
