#!/usr/bin/env bash
# The main job, end to end on a fresh store: a busybox base image, an app image that extends it by one layer,
# their history and the shared layer, disk usage, and a save/load round trip through an OCI layout.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
strata() { node "$here/dist/src/cli/main.js" "$@"; }
work="$(mktemp -d)"
export STRATA_ROOT="${STRATA_ROOT:-$work/store}"
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# A busybox root filesystem from Debian's busybox-static.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
for applet in sh ls cat echo env; do ln "$work/rootfs/bin/busybox" "$work/rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

step strata import -c 'CMD ["sh"]' -m "busybox base" busybox.tar busybox:latest
strata import -c 'CMD ["sh"]' -m "busybox base" "$work/busybox.tar" busybox:latest

# An image that extends busybox by one layer: umoci adds /app/server.js to an OCI layout Strata saved.
step strata save --format oci-dir -o layout busybox:latest '&&' umoci insert ... '&&' strata load -i layout
strata save --format oci-dir -o "$work/layout" busybox:latest
mkdir -p "$work/app" && echo 'console.log("hello from the app layer")' > "$work/app/server.js"
umoci insert --image "$work/layout:latest" --tag app --history.created_by 'COPY server.js /usr/src/app/' "$work/app/server.js" /usr/src/app/server.js
# umoci copies the base's name annotation onto the new tag: give the app entry its own name.
node -e '
  const fs = require("fs"), file = process.argv[1], index = JSON.parse(fs.readFileSync(file));
  for (const m of index.manifests) if (m.annotations["org.opencontainers.image.ref.name"] === "app") m.annotations["io.containerd.image.name"] = "docker.io/library/app:latest";
  fs.writeFileSync(file, JSON.stringify(index));' "$work/layout/index.json"
strata load -i "$work/layout"

step strata images
strata images
step strata history app
strata history app
step strata history --tree app
strata history --tree app
step strata system df -v
strata system df -v
step du -sh '$STRATA_ROOT/layers/*'
du -sh "$STRATA_ROOT"/layers/* | sed "s|$STRATA_ROOT/||"

step strata save -o app.tar app '&&' strata --root other load -i app.tar
strata save -o "$work/app.tar" app
strata --root "$work/other" load -i "$work/app.tar"
strata --root "$work/other" images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}'
strata inspect --format '{{.Id}}' app
step strata system check
strata system check
