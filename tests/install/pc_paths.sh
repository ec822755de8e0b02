#!/bin/sh
# ringo.pc finds the headers and libraries where `cmake --install` put them,
# whatever CMAKE_INSTALL_LIBDIR is: Debian's GNUInstallDirs makes it
# lib/<multiarch> (two levels) for the prefix /usr.  Configures only (no
# build), stages the generated ringo.pc where the install puts it, and asks
# pkg-config.  Usage: tests/install/pc_paths.sh [SOURCE_DIR]
set -eu
src=$(cd "${1:-.}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for libdir in lib lib64 lib/x86_64-linux-gnu; do
    cmake -S "$src" -B "$tmp/b" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR="$libdir" \
        -DRINGO_TESTS=OFF -DRINGO_BENCH=OFF -DRINGO_EXAMPLES=OFF >"$tmp/cmake.log" 2>&1 ||
        { cat "$tmp/cmake.log"; exit 1; }
    stage="$tmp/stage"
    mkdir -p "$stage/usr/$libdir/pkgconfig"
    cp "$tmp/b/ringo.pc" "$stage/usr/$libdir/pkgconfig/"
    inc=$(PKG_CONFIG_PATH="$stage/usr/$libdir/pkgconfig" pkg-config --variable=includedir ringo)
    lib=$(PKG_CONFIG_PATH="$stage/usr/$libdir/pkgconfig" pkg-config --variable=libdir ringo)
    inc=$(realpath -m "$inc"); lib=$(realpath -m "$lib")
    if [ "$inc" != "$stage/usr/include" ] || [ "$lib" != "$stage/usr/$libdir" ]; then
        echo "libdir $libdir: ringo.pc says includedir $inc, libdir $lib;" \
             "want $stage/usr/include, $stage/usr/$libdir"
        fail=1
    else
        echo "libdir $libdir: ok"
    fi
    rm -rf "$tmp/b" "$stage"
done
exit $fail
