#!/bin/sh
# Acceptance on a real Debian root filesystem (not part of `npm test`: it needs the Debian mirror
# and root, and takes a few minutes):
#   1. debootstrap --variant=minbase bookworm into a temp dir;
#   2. make it an OCI image with the real tools (umoci init/new/insert, skopeo copy -> oci-archive);
#   3. oci-chunk build --max-layers N, then check: skopeo accepts the output, layers <= N, and every
#      dpkg/ component is named after a Debian source package of the image.
# Usage: sudo packages/oci-chunk/scripts/debian-rootfs.sh [max-layers]     (env: DEBIAN_MIRROR, SUITE, KEEP=1)
#        IMAGE_ONLY=<path>: stop after step 2, the image written as an oci-archive at <path> (benchmarks)
set -eu

MAX_LAYERS=${1:-32}
SUITE=${SUITE:-bookworm}
HERE=$(cd "$(dirname "$0")/.." && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NODE="$REPO/node_modules/.bin/node"
[ -x "$NODE" ] || NODE=node
CLI="$HERE/src/cli.ts"

if [ -z "${DEBIAN_MIRROR:-}" ]; then
  # The mirror apt is configured with (deb822 .sources or one-line sources.list).
  DEBIAN_MIRROR=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | sed -n -e 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\{0,1\}$/\1/p' \
             -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' \
    | head -n 1)
  DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi
for tool in debootstrap umoci skopeo; do
  command -v "$tool" >/dev/null 2>&1 || { echo "debian-rootfs: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "debian-rootfs: debootstrap needs root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/debian-rootfs.XXXXXX)
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)

echo "== debootstrap --variant=minbase $SUITE from $DEBIAN_MIRROR"
debootstrap --variant=minbase "$SUITE" "$WORK/rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
t_bootstrap=$(date +%s)

echo "== OCI image with umoci + skopeo"
umoci init --layout "$WORK/oci"
umoci new --image "$WORK/oci:$SUITE"
umoci insert --image "$WORK/oci:$SUITE" "$WORK/rootfs" /
umoci config --image "$WORK/oci:$SUITE" --config.cmd /bin/bash --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
skopeo copy --quiet "oci:$WORK/oci:$SUITE" "oci-archive:$WORK/debian.tar"
t_image=$(date +%s)
if [ -n "${IMAGE_ONLY:-}" ]; then
  mv "$WORK/debian.tar" "$IMAGE_ONLY"
  echo "debian-rootfs: image written to $IMAGE_ONLY"
  exit 0
fi

echo "== oci-chunk build --max-layers $MAX_LAYERS"
# /dev holds device nodes made by debootstrap: not image content.
"$NODE" "$CLI" build "$WORK/debian.tar" -o "$WORK/chunked.tar" --max-layers "$MAX_LAYERS" --compressed \
  --prune /dev/ --prune /proc/ --prune /sys/ --skip-special --tag "$SUITE" --alloc-report
t_chunk=$(date +%s)
skopeo inspect "oci-archive:$WORK/chunked.tar" >/dev/null

echo "== checks"
"$NODE" "$CLI" inspect "$WORK/chunked.tar" --json >"$WORK/inspect.json"
# Source package of every installed package (Source: without its version, else Package:).
awk '/^Package:/{p=$2} /^Source:/{s=$2} /^$/{if(p)print (s?s:p); p="";s=""} END{if(p)print (s?s:p)}' \
  "$WORK/rootfs/var/lib/dpkg/status" | sort -u >"$WORK/sources.txt"
"$NODE" -e '
  const fs = require("fs");
  const [inspectPath, sourcesPath, max] = process.argv.slice(1);
  const info = JSON.parse(fs.readFileSync(inspectPath, "utf8"));
  const sources = new Set(fs.readFileSync(sourcesPath, "utf8").split("\n").filter(Boolean));
  const components = info.layers.flatMap((l) => (l.component ?? "").split(" ").filter(Boolean));
  const dpkg = components.filter((c) => c.startsWith("dpkg/")).map((c) => c.slice(5));
  const strangers = dpkg.filter((s) => !sources.has(s));
  console.log(`layers: ${info.layers.length} (max ${max}), components: ${components.length}, dpkg source packages: ${dpkg.length} of ${sources.size} installed`);
  console.log(`examples: ${dpkg.slice(0, 12).join(", ")}`);
  if (info.layers.length > Number(max)) { console.error("FAIL: too many layers"); process.exit(1); }
  if (dpkg.length < sources.size / 2) { console.error("FAIL: few dpkg components"); process.exit(1); }
  if (strangers.length) { console.error(`FAIL: not Debian source packages: ${strangers.join(", ")}`); process.exit(1); }
' "$WORK/inspect.json" "$WORK/sources.txt" "$MAX_LAYERS"
"$NODE" "$CLI" inspect "$WORK/chunked.tar" | sed -n '1,12p'

echo "== times: debootstrap $((t_bootstrap - start)) s, image $((t_image - t_bootstrap)) s, chunk $((t_chunk - t_image)) s, total $(( $(date +%s) - start )) s"
echo "debian-rootfs: OK"
