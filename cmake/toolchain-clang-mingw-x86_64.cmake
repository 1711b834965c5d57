# Cross-compiling for 64-bit Windows with clang instead of GCC, against the
# same Debian mingw-w64 headers and libraries (packages clang, lld and
# g++-mingw-w64-x86-64-posix). Compile-only in CI (preset windows-clang): it
# shows the code builds with a second compiler, whose warnings differ from
# GCC's, nearer to what a clang-cl or MSVC user meets.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(WSB_MINGW_TRIPLE x86_64-w64-mingw32)
include(${CMAKE_CURRENT_LIST_DIR}/mingw-common.cmake)
set(CMAKE_C_COMPILER clang)
set(CMAKE_CXX_COMPILER clang++)
set(CMAKE_C_COMPILER_TARGET ${WSB_MINGW_TRIPLE})
set(CMAKE_CXX_COMPILER_TARGET ${WSB_MINGW_TRIPLE})
# Debian's clang does not find the libstdc++ of mingw-w64's posix-thread GCC
# (it lives in /usr/lib/gcc/x86_64-w64-mingw32/<version>-posix), so its
# headers and libraries are named here; the GCC driver would also add
# winpthread, which libstdc++'s std::thread needs. lld links (the GNU linker
# of mingw-w64 would do as well, but clang looks for it under another name).
file(GLOB _wsb_mingw_gcc LIST_DIRECTORIES true /usr/lib/gcc/${WSB_MINGW_TRIPLE}/*-posix)
list(SORT _wsb_mingw_gcc COMPARE NATURAL ORDER DESCENDING)
list(GET _wsb_mingw_gcc 0 _wsb_mingw_gcc)
if(NOT IS_DIRECTORY "${_wsb_mingw_gcc}/include/c++")
  message(FATAL_ERROR "no mingw-w64 posix GCC (libstdc++) under /usr/lib/gcc/${WSB_MINGW_TRIPLE}: "
                      "install g++-mingw-w64-x86-64-posix")
endif()
# mingw-w64's GCC builds libstdc++ with emulated thread-local storage
# (__emutls_v.*); clang uses native TLS unless told, and then std::call_once
# (std::__once_callable) does not link.
set(CMAKE_CXX_FLAGS_INIT
    "-femulated-tls -isystem ${_wsb_mingw_gcc}/include/c++ -isystem ${_wsb_mingw_gcc}/include/c++/${WSB_MINGW_TRIPLE}")
set(CMAKE_C_FLAGS_INIT "-femulated-tls")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-fuse-ld=lld -L${_wsb_mingw_gcc}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-fuse-ld=lld -L${_wsb_mingw_gcc}")
set(CMAKE_CXX_STANDARD_LIBRARIES "-Wl,-Bstatic -lpthread")
set(CMAKE_C_STANDARD_LIBRARIES "-Wl,-Bstatic -lpthread")
