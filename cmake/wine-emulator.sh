#!/bin/sh
# CMAKE_CROSSCOMPILING_EMULATOR for the windows-cross preset: runs a Windows test
# binary under Wine with a prefix that belongs to the build folder, so that
# nothing outside the build is touched and a fresh clone starts clean.
# WSB_WINEPREFIX is set by the preset; the default keeps direct use working.
# Wine refuses a relative prefix, so the default is made absolute from this
# script's own location.
here=$(cd "$(dirname "$0")" && pwd)
: "${WINEPREFIX:=${WSB_WINEPREFIX:-$here/../build/windows-cross/wineprefix}}"
export WINEPREFIX
export WINEDEBUG="${WINEDEBUG:--all}"
# No desktop integration or Gecko/Mono installers pop up in a headless prefix.
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=;winemenubuilder.exe=d}"
# Wine's server exits 3 s after the last Wine process of the prefix. A test
# suite starts one Wine program after another, and a program that starts
# while that server is shutting down dies before running any code ("wine
# client error:0: recvmsg: Connection reset by peer"; in 2 of 3 full ctest
# runs here, and the likely cause of an unexplained fault.win-iocp failure in
# CI). So the server is started first and told to stay 30 s after its last
# client instead; when one is already running this returns at once (exit 2).
#
# The first Wine program of a new server also starts Wine's own services
# (services.exe, winedevice.exe, ...), which inherit that program's stdout
# and stderr and keep them open until the server exits. A caller that reads
# the program's output through a pipe (CTest's execute_process, Python's
# subprocess.run) would wait for that end of file: 32 s for every such call
# that found no server running. So a newly started server gets its services
# from a program whose output goes nowhere, before the real one runs.
if wineserver -p30 >/dev/null 2>&1; then
  wine cmd.exe /c exit </dev/null >/dev/null 2>&1 || true
fi
exec wine "$@"
