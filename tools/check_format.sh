#!/usr/bin/env bash
# Checks that every tracked C++ file is formatted as .clang-format says, and
# lists the files that are not (exit 1). tools/test.sh runs it first, so a
# file that drifts fails CI with its name instead of drifting silently.
#
# To format: tools/check_format.sh --fix   (or clang-format -i FILE...)
#
# The check is tied to one clang-format major version (FORMAT_VERSION below):
# versions differ in small layout decisions, so a check run with another
# version would report files that are formatted correctly. tools/setup.sh
# installs Debian 12's clang-format, which is that version.
set -uo pipefail
cd "$(dirname "$0")/.."
readonly FORMAT_VERSION=14
fix=0
case "${1:-}" in
  --fix) fix=1 ;;
  "") ;;
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "check_format.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check_format.sh: clang-format is not installed (tools/setup.sh installs it)" >&2
  exit 1
fi
version=$(clang-format --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != "$FORMAT_VERSION" ]; then
  echo "check_format.sh: clang-format $version found; the check is made with version $FORMAT_VERSION" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc')
if [ "$fix" = 1 ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
drifted=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || drifted+=("$f")
done
if [ "${#drifted[@]}" -gt 0 ]; then
  echo "check_format.sh: ${#drifted[@]} of ${#files[@]} C++ files are not formatted as .clang-format says:"
  printf '  %s\n' "${drifted[@]}"
  echo "format them with: tools/check_format.sh --fix"
  exit 1
fi
echo "check_format.sh: all ${#files[@]} C++ files formatted"
