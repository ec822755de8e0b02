# Cross build for aarch64, run under qemu-user (scripts/test.sh).
#
# With Debian's arm64 multiarch packages (scripts/setup.sh installs
# libc6, liburing-dev and libnuma-dev :arm64) the build is the full one,
# io/ included; qemu-user has no io_uring, so io/ runs on its epoll
# backend there.  Their libraries live in /usr/lib/aarch64-linux-gnu and
# the loader is the host's /lib/ld-linux-aarch64.so.1, which finds them
# through ld.so.cache: qemu then runs without -L.  (With -L the cross
# sysroot's loader went on to load multiarch's libc through that cache,
# and every program spun in libc.)
#
# Without them, configure with -DRINGO_CROSS_NO_URING=ON: io/ is left out,
# and qemu runs with -L on the cross toolchain's sysroot.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
if(EXISTS /usr/lib/aarch64-linux-gnu/pkgconfig/liburing.pc)
  # "/" as a root: find_library looks in /usr/lib/aarch64-linux-gnu
  set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
  set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
else()
  set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
endif()
# The loader decides the emulator: once multiarch's libc is there, -L hangs
# (above), whether or not liburing came with it.
if(EXISTS /lib/ld-linux-aarch64.so.1)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /usr/aarch64-linux-gnu)
endif()
