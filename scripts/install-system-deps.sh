#!/bin/sh
# Installs the system tools the OCI tests check against (skopeo, umoci, getfattr/setfattr), the
# peers and image builder of the re-chunker's benchmark (pigz, debootstrap; npm run bench:oci), the
# browser the HTML report's test drives (Debian's chromium, /usr/bin/chromium) and the terminal the
# watch-mode test presses keys in (tmux), only when one is missing. Debian/Ubuntu (Ubuntu's chromium
# package is a snap stub); needs root (or sudo) and the
# distribution mirror.
set -eu
missing=""
command -v skopeo >/dev/null 2>&1 || missing="$missing skopeo"
command -v umoci >/dev/null 2>&1 || missing="$missing umoci"
command -v getfattr >/dev/null 2>&1 || missing="$missing attr"
command -v pigz >/dev/null 2>&1 || missing="$missing pigz"
[ -x /usr/sbin/debootstrap ] || command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
if [ -z "$missing" ]; then
  echo "install-system-deps: skopeo, umoci, attr, pigz, debootstrap, chromium and tmux are present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-system-deps: installing$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
