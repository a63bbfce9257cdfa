// Thin bun:ffi bindings to the few libc calls node:fs lacks: mknod (overlay whiteouts),
// lsetxattr/lgetxattr (overlay opaque markers, layer xattrs), mount/umount2 (overlay snapshots),
// and the new mount API through syscall(2) (open_tree/mount_setattr/move_mount: idmapped mounts).
import { dlopen, FFIType, read } from "bun:ffi";

let lib: ReturnType<typeof open> | null = null;
function open() {
  return dlopen("libc.so.6", {
    mknod: { args: [FFIType.ptr, FFIType.u32, FFIType.u64], returns: FFIType.i32 },
    lsetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
    lgetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
    mount: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
    umount2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    // long syscall(long nr, ...): glibc's is plain assembly moving registers, so one fixed
    // integer/pointer signature serves open_tree, mount_setattr and move_mount alike.
    syscall: { args: [FFIType.i64, FFIType.i64, FFIType.ptr, FFIType.i64, FFIType.ptr, FFIType.i64], returns: FFIType.i64 },
    strerror: { args: [FFIType.i32], returns: FFIType.cstring },
    __errno_location: { args: [], returns: FFIType.ptr },
  });
}
const libc = () => (lib ??= open());
// Buffers go to the C side as arguments themselves, never as ptr(buffer) numbers: a bare
// address does not keep its buffer alive, and a collected one turns paths into garbage.
const cstr = (s: string) => Buffer.from(s + "\0", "utf8");

export class SysError extends Error {
  constructor(readonly call: string, readonly errno: number, readonly path: string) {
    super(`${call}(${path}): ${String(libc().symbols.strerror(errno))} (errno ${errno})`);
  }
}

function check(rc: number | bigint, call: string, path: string): void {
  if (Number(rc) < 0) {
    const errno = read.i32(libc().symbols.__errno_location()!, 0);
    throw new SysError(call, errno, path);
  }
}

const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;

/** An overlayfs whiteout: a character device 0/0. */
export function mkWhiteout(path: string): void {
  check(libc().symbols.mknod(cstr(path), S_IFCHR | 0o000, 0n), "mknod", path);
}

export function mkFifo(path: string, mode: number): void {
  check(libc().symbols.mknod(cstr(path), S_IFIFO | (mode & 0o7777), 0n), "mknod", path);
}

export function lsetxattr(path: string, name: string, value: Uint8Array | string): void {
  const v = typeof value === "string" ? Buffer.from(value) : Buffer.from(value);
  const buf = v.length ? v : Buffer.alloc(1);
  check(libc().symbols.lsetxattr(cstr(path), cstr(name), buf, BigInt(v.length), 0), "lsetxattr", path);
}

/** Value of an xattr, or null when absent. */
export function lgetxattr(path: string, name: string): Buffer | null {
  const buf = Buffer.alloc(256);
  const n = Number(libc().symbols.lgetxattr(cstr(path), cstr(name), buf, BigInt(buf.length)));
  if (n < 0) return null;
  return buf.subarray(0, n);
}

export function mountOverlay(target: string, options: string): void {
  check(libc().symbols.mount(cstr("overlay"), cstr(target), cstr("overlay"), 0n, cstr(options)), "mount", target);
}

const MNT_DETACH = 2;
/** Unmount; returns false when nothing was mounted there (EINVAL/ENOENT). */
export function unmount(target: string): boolean {
  const rc = libc().symbols.umount2(cstr(target), MNT_DETACH);
  if (rc < 0) {
    const errno = read.i32(libc().symbols.__errno_location()!, 0);
    if (errno === 22 || errno === 2) return false;
    throw new SysError("umount2", errno, target);
  }
  return true;
}

// Syscall numbers of the new mount API: identical on every architecture but alpha.
const SYS_open_tree = 428;
const SYS_move_mount = 429;
const SYS_mount_setattr = 442;
const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const AT_RECURSIVE = 0x8000;
const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000; // O_CLOEXEC
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOUNT_ATTR_IDMAP = 0x0010_0000n;
const MOUNT_ATTR_SIZE_VER0 = 32; // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }

/** A detached clone of the mount tree at `path` (open_tree OPEN_TREE_CLONE); returns its fd (O_CLOEXEC). */
export function openTreeClone(path: string, recursive = false): number {
  const flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  const fd = Number(libc().symbols.syscall(SYS_open_tree, AT_FDCWD, cstr(path), flags, null, 0));
  check(fd, "open_tree", path);
  return fd;
}

/** Make the detached mount `fd` idmapped by the user namespace `usernsFd` (mount_setattr MOUNT_ATTR_IDMAP). */
export function setMountIdmap(fd: number, usernsFd: number, what: string): void {
  const attr = new BigUint64Array([MOUNT_ATTR_IDMAP, 0n, 0n, BigInt(usernsFd)]);
  check(libc().symbols.syscall(SYS_mount_setattr, fd, cstr(""), AT_EMPTY_PATH, attr, MOUNT_ATTR_SIZE_VER0), "mount_setattr", what);
}

/** Attach the detached mount `fd` at `target` (move_mount MOVE_MOUNT_F_EMPTY_PATH). */
export function moveMount(fd: number, target: string): void {
  check(libc().symbols.syscall(SYS_move_mount, fd, cstr(""), AT_FDCWD, cstr(target), MOVE_MOUNT_F_EMPTY_PATH), "move_mount", target);
}
