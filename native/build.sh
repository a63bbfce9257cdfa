#!/usr/bin/env bash
# Build Nimbus' native artifacts into native/build/:
#   nimbus-monitor   per-sandbox monitor + exec helper + port relay (links libcrun statically)
#   libnimbus.so     shared library for bun:ffi (libcrun + our small wrappers; no libcrun deps at runtime)
#   nimbus-init      static PID 1 for sandboxes (signal forwarding, zombie reaping), bind-mounted in
#
# libcrun comes from Debian's crun source package (same version as the `crun` binary, 1.8.1):
# Debian's libcrun.a ships no headers and its objects are PIE, not PIC, so it cannot go into a
# shared library. We build libcrun.a ourselves with -fPIC, once, into native/build/crun-src.
# yajl, libseccomp and libcap are linked from Debian's static archives so `ldd` shows only
# libc-level dependencies. Idempotent: does nothing when outputs are newer than their inputs.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/build"
SRC="$OUT/crun-src"
CRUN_VERSION="${CRUN_VERSION:-1.8.1}"
JOBS="$(nproc 2>/dev/null || echo 2)"
mkdir -p "$OUT"

log() { echo "[native] $*" >&2; }

need_apt=()
for p in build-essential autoconf automake libtool pkg-config libyajl-dev libseccomp-dev libcap-dev dpkg-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >&2
fi

# 1. crun source (deb-src), configured and built as a PIC static library.
LIBCRUN_A="$SRC/.libs/libcrun.a"
if [[ ! -f "$LIBCRUN_A" ]]; then
  if [[ ! -f "$SRC/configure.ac" ]]; then
    if ! ls /etc/apt/sources.list.d/ 2>/dev/null | grep -q nimbus-src; then
      # the same mirror and release the machine already uses for binary packages
      mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)"
      [[ -n "$mirror" ]] || mirror="$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)"
      [[ -n "$mirror" ]] || mirror="http://deb.debian.org/debian"
      codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
      log "adding deb-src entry /etc/apt/sources.list.d/nimbus-src.sources ($mirror $codename)"
      cat >/etc/apt/sources.list.d/nimbus-src.sources <<SRCS
Types: deb-src
URIs: $mirror
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRCS
      apt-get update -q >&2
    fi
    tmp="$(mktemp -d "$OUT/.src.XXXXXX")"
    (cd "$tmp" && apt-get source -q "crun=$CRUN_VERSION*" >&2 || apt-get source -q crun >&2)
    d="$(find "$tmp" -maxdepth 1 -mindepth 1 -type d -name 'crun-*' | head -n1)"
    [[ -n "$d" ]] || { log "apt-get source crun produced no tree"; exit 1; }
    rm -rf "$SRC"
    mv "$d" "$SRC"
    rm -rf "$tmp"
  fi
  log "configuring libcrun (PIC, static, no systemd)"
  (cd "$SRC" && { [[ -x configure ]] || ./autogen.sh >&2; } &&
    ./configure -q --disable-systemd --disable-criu --enable-static --disable-shared --with-pic \
      ac_cv_search_gcry_check_version=no \
      CFLAGS="-O2 -g -fPIC" >&2 &&
    make -j"$JOBS" libcrun.la >&2)
fi

CRUN_INC=(-I"$SRC" -I"$SRC/src" -I"$SRC/src/libcrun" -I"$SRC/libocispec/src" -I"$SRC/libocispec/yajl/src/headers")
ARCH_LIB=/usr/lib/x86_64-linux-gnu
[[ -d "$ARCH_LIB" ]] || ARCH_LIB="/usr/lib/$(gcc -dumpmachine)"
STATIC_DEPS=("$ARCH_LIB/libyajl_s.a" "$ARCH_LIB/libseccomp.a" "$ARCH_LIB/libcap.a")
CFLAGS_COMMON=(-O2 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE "${CRUN_INC[@]}")

newer() { # newer OUT IN... : true when OUT is missing or older than any IN
  local out="$1"; shift
  [[ -f "$out" ]] || return 0
  for f in "$@"; do [[ "$f" -nt "$out" ]] && return 0; done
  return 1
}

MON_SRCS=("$HERE"/monitor.c "$HERE"/relay.c "$HERE"/exec.c "$HERE"/common.c)
HDRS=("$HERE"/nimbus.h)
if newer "$OUT/nimbus-monitor" "${MON_SRCS[@]}" "${HDRS[@]}" "$LIBCRUN_A" "$HERE/build.sh"; then
  log "linking nimbus-monitor"
  gcc "${CFLAGS_COMMON[@]}" -o "$OUT/nimbus-monitor.tmp" "${MON_SRCS[@]}" "$LIBCRUN_A" "${STATIC_DEPS[@]}" -lm
  mv "$OUT/nimbus-monitor.tmp" "$OUT/nimbus-monitor"
fi

if newer "$OUT/libnimbus.so" "$HERE/ffi.c" "${HDRS[@]}" "$LIBCRUN_A" "$HERE/build.sh"; then
  log "linking libnimbus.so"
  # libcrun without cloned_binary.o (its re-exec constructor must never run inside the server;
  # ffi.c supplies a no-op ensure_cloned_binary)
  objs="$OUT/libcrun-objs"
  rm -rf "$objs" && mkdir -p "$objs"
  (cd "$objs" && ar x "$LIBCRUN_A" && rm -f ./*cloned_binary*.o)
  ar rcs "$OUT/libcrun-nocb.a" "$objs"/*.o
  rm -rf "$objs"
  gcc "${CFLAGS_COMMON[@]}" -fPIC -shared -o "$OUT/libnimbus.so.tmp" "$HERE/ffi.c" \
    "$OUT/libcrun-nocb.a" "${STATIC_DEPS[@]}" -lm \
    -Wl,--exclude-libs,ALL -Wl,-z,defs -Wl,-soname,libnimbus.so
  mv "$OUT/libnimbus.so.tmp" "$OUT/libnimbus.so"
fi
if newer "$OUT/nimbus-init" "$HERE/init.c" "$HERE/build.sh"; then
  log "linking nimbus-init (static)"
  # runs inside arbitrary images: no dynamic dependencies at all
  gcc -Os -s -static -Wall -Wextra -o "$OUT/nimbus-init.tmp" "$HERE/init.c"
  mv "$OUT/nimbus-init.tmp" "$OUT/nimbus-init"
fi
log "ok: $OUT/nimbus-monitor $OUT/libnimbus.so $OUT/nimbus-init"
