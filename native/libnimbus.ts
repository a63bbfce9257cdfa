// bun:ffi binding of native/build/libnimbus.so (ffi.c): the in-process libcrun calls.
// Strings cross as NUL-terminated buffers; errors come back as a negative status with the
// libcrun message in a caller buffer and are thrown as LibcrunError.
import { dlopen, FFIType } from "bun:ffi";

/** crun 1.8.1 `struct libcrun_context_s` as DESIGN.md records it (sizeof first, then offsets). */
export const EXPECTED_CONTEXT_LAYOUT = {
  size: 120,
  state_root: 0,
  id: 8,
  bundle: 16,
  console_socket: 24,
  pid_file: 32,
  notify_socket: 40,
  handler: 48,
  preserve_fds: 56,
  listen_fds: 60,
  output_handler: 64,
  output_handler_arg: 72,
  fifo_exec_wait_fd: 80,
  systemd_cgroup: 84,
  detach: 85,
  no_subreaper: 86,
  no_new_keyring: 87,
  force_no_cgroup: 88,
  no_pivot: 89,
  argv: 96,
  argc: 104,
  handler_manager: 112,
} as const;

export const EXPECTED_ERROR_LAYOUT = { size: 16, status: 0, msg: 8 } as const;

export class LibcrunError extends Error {
  constructor(
    readonly op: string,
    readonly status: number,
    message: string,
  ) {
    super(`${op}: ${message}`);
  }
}

export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: "created" | "running" | "paused" | "stopped";
  bundle: string;
  rootfs: string;
  created: string;
  owner?: string;
}

// Buffers go to the C side as arguments themselves, never as ptr(buffer) numbers: a bare
// address does not keep its buffer alive, and a collected one turns paths into garbage.
const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, "utf8");
const ERRLEN = 4096;

export interface Libnimbus {
  state(stateRoot: string, id: string): OciState;
  kill(stateRoot: string, id: string, signal: string, all?: boolean): void;
  delete(stateRoot: string, id: string, force: boolean): void;
  pause(stateRoot: string, id: string): void;
  resume(stateRoot: string, id: string): void;
  /** resources: OCI linux.resources object */
  update(stateRoot: string, id: string, resources: object): void;
  contextLayout(): Record<keyof typeof EXPECTED_CONTEXT_LAYOUT, number>;
  errorLayout(): Record<keyof typeof EXPECTED_ERROR_LAYOUT, number>;
  close(): void;
}

export const openLibnimbus = (path: string): Libnimbus => {
  const { symbols: s, close } = dlopen(path, {
    nimbus_state: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
    nimbus_kill: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
    nimbus_delete: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
    nimbus_pause: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
    nimbus_resume: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
    nimbus_update: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
    nimbus_context_layout: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    nimbus_error_layout: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  });

  const text = (buf: Buffer): string => {
    const end = buf.indexOf(0);
    return buf.subarray(0, end < 0 ? buf.length : end).toString("utf8");
  };
  const call = (op: string, f: (err: Buffer) => number): void => {
    const err = Buffer.alloc(ERRLEN);
    const rc = f(err);
    if (rc < 0) throw new LibcrunError(op, -rc, text(err));
  };

  return {
    state(stateRoot, id) {
      const out = Buffer.alloc(64 * 1024);
      const rc = s.nimbus_state(cstr(stateRoot), cstr(id), out, out.length);
      if (rc < 0) throw new LibcrunError("state", -rc, text(out));
      return JSON.parse(out.subarray(0, rc).toString("utf8")) as OciState;
    },
    kill(stateRoot, id, signal, all = false) {
      call("kill", (e) => s.nimbus_kill(cstr(stateRoot), cstr(id), cstr(signal), all ? 1 : 0, e, e.length));
    },
    delete(stateRoot, id, force) {
      call("delete", (e) => s.nimbus_delete(cstr(stateRoot), cstr(id), force ? 1 : 0, e, e.length));
    },
    pause(stateRoot, id) {
      call("pause", (e) => s.nimbus_pause(cstr(stateRoot), cstr(id), e, e.length));
    },
    resume(stateRoot, id) {
      call("resume", (e) => s.nimbus_resume(cstr(stateRoot), cstr(id), e, e.length));
    },
    update(stateRoot, id, resources) {
      call("update", (e) => s.nimbus_update(cstr(stateRoot), cstr(id), cstr(JSON.stringify(resources)), e, e.length));
    },
    contextLayout() {
      const keys = Object.keys(EXPECTED_CONTEXT_LAYOUT) as (keyof typeof EXPECTED_CONTEXT_LAYOUT)[];
      const out = new Int32Array(keys.length);
      const n = s.nimbus_context_layout(out, keys.length);
      if (n !== keys.length) throw new Error(`libnimbus reports ${n} context fields, binding knows ${keys.length}`);
      return Object.fromEntries(keys.map((k, i) => [k, out[i]!])) as Record<keyof typeof EXPECTED_CONTEXT_LAYOUT, number>;
    },
    errorLayout() {
      const out = new Int32Array(3);
      s.nimbus_error_layout(out, 3);
      return { size: out[0]!, status: out[1]!, msg: out[2]! };
    },
    close,
  };
};
