#!/usr/bin/env bash
# The main job, end to end on a fresh store: a busybox base image; `strata build` of examples/app (the seeds'
# tutorial Dockerfile), its history, the image run; a rebuild that comes from the cache and one after a change;
# then the walkthrough of Docker's "image layers" guide: a container that changes files, `commit -m -c` into a
# new image that shares the base layer, its history and layer stack, the new image run with its new default
# command, disk usage, and a save/load round trip. Needs root (overlayfs and runc).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
strata() { node "$here/dist/src/strata-bin.cjs" "$@"; }
work="$(mktemp -d)"
export STRATA_ROOT="${STRATA_ROOT:-$work/store}"
trap 'strata rm -f app-container >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# A busybox root filesystem from Debian's busybox-static.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
for applet in sh ls cat echo env mkdir sed; do ln "$work/rootfs/bin/busybox" "$work/rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

step strata import -c 'CMD ["sh"]' -m "busybox base" busybox.tar busybox:latest
strata import -c 'CMD ["sh"]' -m "busybox base" "$work/busybox.tar" busybox:latest

# Build the tutorial image from its Dockerfile, show its history, run it.
cp -r "$here/examples/app" "$work/app"
step strata build -t expressweb examples/app
strata build -t expressweb "$work/app"
step strata history expressweb
strata history expressweb
step strata run --rm expressweb
strata run --rm expressweb
step strata build -t expressweb examples/app '  # again: every step from the cache'
strata build -t expressweb "$work/app"
echo 'echo "Hello again, from a rebuilt last layer"' > "$work/app/src/start.sh"
step strata build -t expressweb examples/app '  # after changing src/start.sh: only the last COPY and after'
strata build -t expressweb "$work/app"
strata run --rm expressweb

step strata run --name app-container busybox sh -c "mkdir /app && echo 'echo Hello from the app layer' > /app/app.sh"
strata run --name app-container busybox sh -c "mkdir /app && echo 'echo Hello from the app layer' > /app/app.sh"
step strata diff app-container
strata diff app-container
step strata ps -a -s
strata ps -a -s

step strata commit -m "Add app" -c 'CMD ["sh", "/app/app.sh"]' app-container sample-app
strata commit -m "Add app" -c 'CMD ["sh", "/app/app.sh"]' app-container sample-app
step strata history sample-app
strata history sample-app
step strata history --tree sample-app
strata history --tree sample-app
step strata run --rm sample-app
strata run --rm sample-app

step strata images
strata images
step strata system df -v
strata system df -v

step strata save -o app.tar sample-app '&&' strata --root other load -i app.tar
strata save -o "$work/app.tar" sample-app
strata --root "$work/other" load -i "$work/app.tar"
strata --root "$work/other" images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}'
strata rm app-container
step strata system check
strata system check
