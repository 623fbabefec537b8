#!/usr/bin/env bash
# Proves the README's quick start on a fresh machine: a minimal Debian bookworm (debootstrap)
# with only build-essential, ca-certificates, curl and git — no libpq-dev, no libssl-dev, no
# OpenSSL headers — and the Rust toolchain of the host bind-mounted read-only. Inside it:
# clone the repository, `cargo run --release -- serve --demo`, wait for /readyz, print `ldd`.
#
# Usage (as root, needs network to a Debian mirror and to crates.io):
#   scripts/fresh-machine-check.sh [CHROOT_DIR]        (default /var/tmp/zqb-fresh)
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), KEEP_CHROOT=1 to keep the
# chroot for a second run (debootstrap is skipped when it is already there).
set -euo pipefail

ROOT=${1:-/var/tmp/zqb-fresh}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
SYSROOT=$(rustc --print sysroot)

die() { echo "fresh-machine-check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and mounts need it)"
command -v debootstrap >/dev/null || die "install debootstrap (apt-get install debootstrap)"

if [ ! -x "$ROOT/usr/bin/cc" ]; then
    echo "==> debootstrap bookworm into $ROOT"
    debootstrap --variant=minbase --include=build-essential,ca-certificates,curl,git \
        bookworm "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $ROOT.debootstrap.log"
fi

# The point of the exercise: none of these may be present.
for pkg in libpq-dev libpq5 libssl-dev pkg-config; do
    if chroot "$ROOT" dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        die "$pkg is installed in the chroot; it must not be"
    fi
done
for header in /usr/include/openssl/ssl.h /usr/include/postgresql/libpq-fe.h; do
    [ ! -e "$ROOT$header" ] || die "$header exists in the chroot; it must not"
done
echo "==> chroot has no libpq-dev, libpq5, libssl-dev, pkg-config, OpenSSL or libpq headers"

MOUNTS=()
cleanup() {
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
    if [ "${KEEP_CHROOT:-0}" != 1 ]; then rm -rf --one-file-system "$ROOT" "$ROOT.debootstrap.log"; fi
}
trap cleanup EXIT
mount_into() { mkdir -p "$ROOT$2"; mount "${@:3}" "$1" "$ROOT$2"; MOUNTS+=("$ROOT$2"); }
mount_into proc /proc -t proc
mount_into /dev /dev --bind
mount_into "$SYSROOT" /opt/rust --bind -o ro
mount -o remount,bind,ro "$ROOT/opt/rust"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# Site-local CAs (e.g. an egress proxy's): a fresh machine on this network has them too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
    chroot "$ROOT" update-ca-certificates >/dev/null 2>&1
fi

# The repository as a fresh clone of the committed HEAD (nothing of the host's target/).
rm -rf "$ROOT/build" && mkdir -p "$ROOT/build"
git -C "$REPO" bundle create "$ROOT/build/repo.bundle" HEAD >/dev/null 2>&1
HEAD_SHA=$(git -C "$REPO" rev-parse HEAD)

cat >"$ROOT/build/run.sh" <<'INNER'
#!/bin/bash
set -euo pipefail
export PATH=/opt/rust/bin:/usr/bin:/bin CARGO_HOME=/build/cargo-home HOME=/build
cd /build
git -c advice.detachedHead=false clone -q repo.bundle zenqms-bridge && cd zenqms-bridge
echo "==> $(rustc --version), $(cc --version | head -1)"
echo "==> command 1: cargo run --release -- serve --demo"
start=$(date +%s)
# Build first (timed), then run exactly the README's command (a no-op rebuild).
TIMEFORMAT='==> clean release build: %R s wall, %U s user, %S s sys'
time cargo build --release --locked >build.log 2>&1 || { tail -40 build.log; exit 1; }
echo "==> built in $(( $(date +%s) - start )) s"
cargo run --release -- serve --demo >demo.log 2>&1 &
demo=$!
url=""
for _ in $(seq 1 120); do
    url=$(sed -n 's#.*SCIM base URL (for Okta): *\(http://[^/]*\)/scim/v2.*#\1#p' demo.log | head -1)
    [ -n "$url" ] && curl -fsS "$url/readyz" >/dev/null 2>&1 && break
    sleep 0.5
done
[ -n "$url" ] || { cat demo.log; kill $demo; exit 1; }
echo "==> $url/readyz: $(curl -fsS "$url/readyz")"
# SIGTERM: a script's background job ignores SIGINT; the bridge stops gracefully on TERM.
kill -TERM $demo; wait $demo || true
bin=target/release/zenqms-bridge
echo "==> $(stat -c %s $bin) bytes: $bin"
echo "==> ldd $bin"; ldd $bin
if ldd $bin | grep -E -q 'libpq|libssl|libcrypto'; then echo "links libpq/OpenSSL dynamically"; exit 1; fi
INNER
chmod +x "$ROOT/build/run.sh"
echo "==> building $HEAD_SHA inside the chroot"
chroot "$ROOT" /build/run.sh
echo "==> fresh-machine check passed"
