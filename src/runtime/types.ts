// The contract between the sandboxes module and an isolation backend. A backend turns a
// mounted root filesystem plus a process spec into a running, limited, isolated process and
// keeps track of it across server restarts (state lives on disk, not in this process).

export interface ProcessSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** container-side ids (the user namespace maps them to the host range) */
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export interface ResourceLimits {
  /** cpu cores, fractional allowed (0.5 = half a core) */
  cpu: number;
  memoryMiB: number;
  pids: number;
}

export interface LaunchRequest {
  /** sandbox id; also the container id */
  id: string;
  /** absolute path of the mounted root filesystem (an overlay snapshot) */
  rootfs: string;
  process: ProcessSpec;
  resources: ResourceLimits;
  hostname: string;
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  oomKilled: boolean;
  finishedAt: string;
}

export type RuntimeState =
  | { state: "running"; pid: number; startedAt: string }
  | { state: "paused"; pid: number; startedAt: string }
  | { state: "exited"; exit: ExitInfo }
  | { state: "missing" };

export interface ExecRequest {
  process: ProcessSpec;
  tty: boolean;
  /** initial terminal size when tty */
  size?: { cols: number; rows: number };
}

/** A process running inside a sandbox's namespaces, cgroup, user and seccomp profile. */
export interface ExecHandle {
  write(data: Uint8Array): void;
  closeStdin(): void;
  onStdout(cb: (chunk: Uint8Array) => void): void;
  /** never called for tty execs: the terminal merges both streams into stdout */
  onStderr(cb: (chunk: Uint8Array) => void): void;
  resize(cols: number, rows: number): void;
  kill(signal?: string): void;
  /** resolves with the process's exit code (128+n for a signal) */
  exited: Promise<number>;
}

export interface Availability {
  available: boolean;
  reason?: string;
}

export interface Backend {
  readonly name: "container" | "krun";
  availability(): Availability;
  /** Launch and resolve once the process runs. Throws BackendError; leaves nothing behind on failure. */
  start(req: LaunchRequest): Promise<{ pid: number; startedAt: string }>;
  state(id: string): Promise<RuntimeState>;
  /** SIGTERM, wait graceMs, then SIGKILL; resolves with the exit. Idempotent. */
  stop(id: string, graceMs: number): Promise<ExitInfo>;
  kill(id: string, signal: string): Promise<void>;
  /** Remove runtime state, monitor, cgroup and sandbox dir content the backend owns. Idempotent. */
  delete(id: string): Promise<void>;
  /** Called when the main process exits (also for exits noticed by reconcile). */
  onExit(cb: (id: string, exit: ExitInfo) => void): void;
  /** Re-adopt what runs, report what exited, remove leftovers of ids not in `known`. */
  reconcile(known: string[]): Promise<Map<string, RuntimeState>>;
  exec(id: string, req: ExecRequest): Promise<ExecHandle>;
  /** Write to the main process's stdin (kept open by the monitor). */
  writeStdin(id: string, data: Uint8Array): Promise<void>;
  /** Paths of the main process's output logs (appended while it runs). */
  logPaths(id: string): { stdout: string; stderr: string };
  /** A unix socket path on the host that relays each connection to 127.0.0.1:port in the sandbox's netns. */
  openPort(id: string, port: number): Promise<string>;
}

export class BackendError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
