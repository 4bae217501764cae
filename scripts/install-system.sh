#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/system-packages.txt that are not installed yet.
set -euo pipefail
cd "$(dirname "$0")/.."

wanted=$(grep -vE '^\s*(#|$)' scripts/system-packages.txt)
if [ -n "${GEOGRID_EXTRA_PACKAGES:-}" ]; then wanted="$wanted $GEOGRID_EXTRA_PACKAGES"; fi
missing=()
for pkg in $wanted; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
