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
exec wine "$@"
