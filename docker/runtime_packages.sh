#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries a binary loads, one per line, so
# the runtime image installs exactly those on whatever Debian release the base image is (no
# hard-coded, release-specific names). Run in the build stage, where the -dev packages pulled
# the runtime libraries in. Fails naming any library no package owns, except those under
# BUNDLED_PREFIX, which the image copies as they are (the CUDA libraries from PyPI wheels).
#   docker/runtime_packages.sh BINARY [BUNDLED_PREFIX]
set -euo pipefail
binary=$1
bundled=${2:-}
status=0
while read -r lib; do
  if [[ -n $bundled && $lib == "$bundled"* ]]; then continue; fi
  # Merged /usr: dpkg may know /lib/... or /usr/lib/...; alternatives (OpenBLAS) resolve to
  # the real file.
  for path in "$lib" "/usr$lib" "$(readlink -f "$lib")"; do
    if owner=$(dpkg-query -S "$path" 2>/dev/null); then
      echo "${owner%%:*}"
      continue 2
    fi
  done
  echo "runtime_packages: no package owns $lib" >&2
  status=1
done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
exit $status
