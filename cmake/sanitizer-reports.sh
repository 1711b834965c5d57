#!/bin/sh
# The CTest test sanitizer.reports (cmake/wsb_helpers.cmake): fails, printing
# them, when programs of this ASan or TSan build left sanitizer reports in the
# folder $1 (cmake/sanitizer_options.cpp sends them there). Reports it has
# shown are moved to $1/seen/, so that a later run only fails for its own.
dir=${1:?usage: sanitizer-reports.sh DIR}
[ -d "$dir" ] || { echo "sanitizer-reports: no folder $dir"; exit 1; }
found=0
for f in "$dir"/report.*; do
  [ -f "$f" ] || continue
  found=$((found + 1))
  echo "==== $f"
  cat "$f"
  mkdir -p "$dir/seen"
  mv "$f" "$dir/seen/"
done
if [ "$found" -gt 0 ]; then
  echo "sanitizer-reports: $found report(s); they are kept in $dir/seen/"
  exit 1
fi
echo "sanitizer-reports: no report in $dir"
