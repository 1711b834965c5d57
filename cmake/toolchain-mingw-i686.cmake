# Cross-compiling for 32-bit Windows. Only compiled, never run: it exists to catch
# pointer-size bugs such as a pointer squeezed into a DWORD completion key.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86)
set(WSB_MINGW_TRIPLE i686-w64-mingw32)
include(${CMAKE_CURRENT_LIST_DIR}/mingw-common.cmake)
