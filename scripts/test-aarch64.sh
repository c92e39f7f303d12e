#!/usr/bin/env bash
# Cross-builds the workspace for aarch64-unknown-linux-gnu (Raspberry Pi 4/5, i.MX8) and runs
# the engine's and the daemon's tests on the aarch64 binaries under qemu-user emulation.
#
#   scripts/test-aarch64.sh          # as root on Debian 12 x86_64, after scripts/setup.sh
#
# Route (../shared facts, "aarch64"): rustup here has only the x86_64 std, so the toolchain
# comes from Debian: a trixie chroot with trixie-backports' rustc, cargo and
# libstd-rust-dev:arm64, gcc-aarch64-linux-gnu, and the arm64 C library (multiarch), so
# aarch64 programs find their loader and libraries at the usual paths. binfmt_misc runs
# aarch64 executables through qemu-aarch64-static (registered with the F flag, so it works
# inside the chroot): the tests start the aarch64 toolcalld themselves. The x86_64
# dbus-daemon of the chroot is the bus.
#
# Cached between runs under $CACHE (default /var/cache/toolcalld-aarch64): the chroot, cargo's
# registry and the target directory. First run on 2 cores: chroot ~5 min, cold debug build
# ~45 min, release build of the two programs ~37 min; then ~25 min with the caches warm.
#
# What runs on aarch64 (emulated): tokenizer parity with llama.cpp; logits of the tiny bundle
# and of the default model (its 4-bit default bundle and its float32 form) against the numpy reference computed on x86_64 (model_parity: the same
# tolerance as on x86_64, see engine/tests/model_parity.rs), KV-cache parity and the engine's
# attention op against tract's own; the grammar property test on the tiny bundle (the first
# 20 of its 300 random schemas, same seed; TOOLCALL_PROPERTY_CASES=300 for all); the D-Bus
# end-to-end tests with the tiny bundle (private dbus-daemon, toolcalld, Rust clients, named
# errors); and one real-model call through the
# release-built toolcalld + toolcallctl on a private bus, whose chosen call must equal the
# x86_64 build's answer to the same request. The release binaries' glibc requirement is checked
# against Raspberry Pi OS bookworm's 2.36. Emulated speed says nothing about a board's speed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${CACHE:-/var/cache/toolcalld-aarch64}
CHROOT=$CACHE/chroot
TARGET=aarch64-unknown-linux-gnu
# The CPU qemu emulates: the Raspberry Pi 4's. With qemu's default ("max", which has SVE2 with
# 512-bit vectors) tract takes its SVE paths, which qemu runs ~10x slower than NEON code
# (toolcall-bench on the tiny bundle: prefill 50 vs 443 tok/s); cortex-a76 is the Pi 5's.
QEMU_CPU=${QEMU_CPU:-cortex-a72}
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot, binfmt_misc)" >&2; exit 1; }
[ -f model/bundles/smollm2-135m-toolcall-q4/bundle.json ] && [ -x target/debug/toolcallctl ] \
  || { echo "run scripts/setup.sh first (bundles and the x86_64 build)" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

step "host: debootstrap, qemu-user-static, binfmt_misc"
need=()
for pkg in debootstrap qemu-user-static; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  # Debian's qemu-user-static registration, with F (open the interpreter now: works in chroots).
  printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
    > /proc/sys/fs/binfmt_misc/register
fi

step "chroot: Debian trixie with the aarch64 Rust toolchain ($CHROOT)"
if [ ! -f "$CHROOT/.toolcalld-ready" ]; then
  rm -rf "$CHROOT"
  mkdir -p "$CACHE"
  debootstrap --variant=minbase trixie "$CHROOT" http://deb.debian.org/debian
  cat > "$CHROOT/etc/apt/sources.list" <<'EOF'
deb http://deb.debian.org/debian trixie main
deb http://deb.debian.org/debian trixie-updates main
deb http://deb.debian.org/debian trixie-backports main
EOF
  chroot "$CHROOT" dpkg --add-architecture arm64
  chroot "$CHROOT" apt-get update -qq
  chroot "$CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t trixie-backports \
    rustc cargo libstd-rust-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc libc6-dev \
    libc6:arm64 libgcc-s1:arm64 dbus-daemon ca-certificates pkg-config
  touch "$CHROOT/.toolcalld-ready"
fi
# Certificate authorities the host trusts beyond Debian's (e.g. a company proxy's) reach
# crates.io from the chroot too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$CHROOT/usr/local/share/ca-certificates/"
  chroot "$CHROOT" update-ca-certificates >/dev/null
fi
chroot "$CHROOT" rustc --version

step "mounts"
mkdir -p "$CHROOT/src" "$CHROOT/cache/cargo" "$CHROOT/cache/target" "$CACHE/cargo" "$CACHE/target"
mounted=()
bind() { mountpoint -q "$2" || { mount --bind "$1" "$2"; mounted+=("$2"); }; }
cleanup() { for m in "${mounted[@]}"; do umount -l "$m" || true; done; }
trap cleanup EXIT
bind /proc "$CHROOT/proc"
bind /dev "$CHROOT/dev"
bind "$ROOT" "$CHROOT/src"
bind "$CACHE/cargo" "$CHROOT/cache/cargo"
bind "$CACHE/target" "$CHROOT/cache/target"
mkdir -p "$CHROOT/tmp" && chmod 1777 "$CHROOT/tmp"

in_chroot() {
  chroot "$CHROOT" env -i PATH=/usr/bin:/bin HOME=/root CARGO_HOME=/cache/cargo \
    CARGO_TARGET_DIR=/cache/target CARGO_BUILD_TARGET=$TARGET \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    RUST_BACKTRACE=1 TOOLCALL_PROPERTY_CASES=${TOOLCALL_PROPERTY_CASES:-20} QEMU_CPU=$QEMU_CPU \
    bash -c "cd /src && $*"
}

step "cross-build ($TARGET)"
started=$(date +%s)
in_chroot cargo build --workspace --all-targets --locked
echo "build: $(( $(date +%s) - started )) s"

step "release build of toolcalld and toolcallctl for boards ($TARGET, --release)"
started=$(date +%s)
in_chroot cargo build --release --locked -p toolcalld -p toolcall-client --bins
echo "release build: $(( $(date +%s) - started )) s"
ls -l $CHROOT/cache/target/$TARGET/release/toolcalld $CHROOT/cache/target/$TARGET/release/toolcallctl

step "glibc the aarch64 binaries need (Raspberry Pi OS bookworm has 2.36)"
for profile in debug release; do
  for bin in toolcalld toolcallctl; do
    need=$(chroot "$CHROOT" aarch64-linux-gnu-objdump -T "/cache/target/$TARGET/$profile/$bin" \
      | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    echo "$profile/$bin: highest symbol version $need"
    [ "$(printf '%s\n' "$need" GLIBC_2.36 | sort -V | tail -1)" = GLIBC_2.36 ] \
      || { echo "$profile/$bin needs $need, newer than bookworm's 2.36" >&2; exit 1; }
  done
done

step "engine tests on aarch64 (emulated): tokenizer, tiny-bundle logits, grammar property"
in_chroot cargo test --workspace --locked --test tokenizer_parity --test grammar_property
in_chroot cargo test --workspace --locked --test model_parity tiny

step "D-Bus end-to-end tests on aarch64 (emulated, tiny bundle)"
# The Python example needs the host's venv: an x86_64-host check, skipped here. Tests whose
# timing assumes native speed are skipped too: the fault drills' windows, and sixteen clients
# x ten calls, whose queued requests pass the 20 s request deadline under emulation (they get
# Timeout, the right answer for an overloaded daemon, but not what that test expects).
in_chroot cargo test --workspace --locked --test service -- \
  --skip python_voice_assistant_example_runs --skip sixteen_clients_get_results_or_busy

step "default model's logits on aarch64 (4-bit and float32 forms) against the numpy reference computed on x86_64"
in_chroot cargo test --workspace --locked --test model_parity default

step "one real-model call: the aarch64 release binary vs x86_64"
# The engine tests' three home tools (a 302-token system turn).
query="Set a timer for 10 minutes"
cp engine/tests/fixtures/home_tools.json "$CHROOT/tmp/tools.json"
cp tests/bus/session.conf "$CHROOT/tmp/bus.conf"
call_on() { # dir-with-binaries-inside-chroot label
  in_chroot "rm -f /tmp/aarch64-bus; dbus-daemon --config-file=/tmp/bus.conf --address=unix:path=/tmp/aarch64-bus --nofork & bus=\$!; sleep 1;
    TOOLCALLD_REQUEST_TIMEOUT_MS=7200000 TOOLCALLD_SESSION_IDLE_TIMEOUT_S=0 $1/toolcalld --bus unix:path=/tmp/aarch64-bus --model /src/model/bundles/smollm2-135m-toolcall-q4 & d=\$!;
    for i in \$(seq 600); do $1/toolcallctl --address unix:path=/tmp/aarch64-bus status >/dev/null 2>&1 && break; sleep 1; done;
    $1/toolcallctl --address unix:path=/tmp/aarch64-bus call --tools /tmp/tools.json '$query' > /tmp/result-$2.json; rc=\$?;
    kill \$d \$bus; exit \$rc"
}
call_on /src/target/debug x86_64
call_on /cache/target/$TARGET/release aarch64
.venv/bin/python - "$CHROOT/tmp/result-x86_64.json" "$CHROOT/tmp/result-aarch64.json" <<'EOF'
import json, sys
x86, arm = (json.load(open(p)) for p in sys.argv[1:])
print("x86_64 :", json.dumps(x86["function_calls"]), "confidence", round(x86["confidence"], 4))
print("aarch64:", json.dumps(arm["function_calls"]), "confidence", round(arm["confidence"], 4))
assert x86["function_calls"] == arm["function_calls"], "the chosen calls differ"
assert abs(x86["confidence"] - arm["confidence"]) < 1e-3, "confidence differs by more than 1e-3"
print("same call on both architectures")
EOF
echo "aarch64 tests passed"
