# Cross build for 64-bit Arm Linux with Debian's cross compiler
# (gcc-aarch64-linux-gnu) and multiarch libraries (libssl-dev:arm64,
# libcurl4-openssl-dev:arm64, libjansson-dev:arm64 after
# `dpkg --add-architecture arm64`). Usually with the agent only:
#   cmake -S . -B build/aarch64 -DSTS_AGENT_ONLY=ON \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# For another sysroot (Yocto, Buildroot), set STS_SYSROOT to its root.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(STS_CROSS_TRIPLE aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${STS_CROSS_TRIPLE}-gcc)
set(CMAKE_STRIP ${STS_CROSS_TRIPLE}-strip CACHE FILEPATH "strip for the target")

if(DEFINED ENV{STS_SYSROOT})
  set(CMAKE_SYSROOT $ENV{STS_SYSROOT})
  set(CMAKE_FIND_ROOT_PATH $ENV{STS_SYSROOT})
  set(ENV{PKG_CONFIG_SYSROOT_DIR} $ENV{STS_SYSROOT})
  set(ENV{PKG_CONFIG_LIBDIR}
      "$ENV{STS_SYSROOT}/usr/lib/pkgconfig:$ENV{STS_SYSROOT}/usr/share/pkgconfig")
else()
  # Debian multiarch: the target's libraries live beside the host's, under
  # /usr/lib/aarch64-linux-gnu, with their own pkg-config directory.
  set(CMAKE_LIBRARY_ARCHITECTURE ${STS_CROSS_TRIPLE})
  set(CMAKE_FIND_ROOT_PATH /usr/${STS_CROSS_TRIPLE})
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${STS_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig")
endif()

# Programs (pkg-config, the embed script's cmake) come from the host;
# libraries and headers only from the target.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
