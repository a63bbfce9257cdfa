// OCI runtime spec (config.json) generation: a process/resources spec in, a locked-down
// container config out. Secure defaults, mirroring Docker's where Docker has one:
// - user namespace: container ids 0..65535 are host ids ID_MAP.hostBase.. (never host root)
// - namespaces: pid, mount, ipc, uts, net (loopback only, see src/network), cgroup, user
// - capabilities: Docker's default set minus NET_RAW; noNewPrivileges
// - seccomp: default allow-list profile (seccomp.ts)
// - masked and read-only /proc paths, read-only sysfs, private tmpfs /tmp
// - cgroup limits memory/pids/cpu (defaults below, per-sandbox overrides in LaunchRequest)
// - with an init (ContainerBackend always passes one): the main process runs under
//   native/init.c, bind-mounted read-only at INIT_PATH, as Docker's --init does: it is the pid
//   namespace's PID 1, forwards signals (so SIGTERM stops `sleep 600`) and reaps orphans.
//   Execs never go through it.
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { readFileSync } from "node:fs";
import { ID_MAP } from "../host/idmap.ts";
import type { LaunchRequest, ProcessSpec, ResourceLimits } from "./types.ts";
import { defaultSeccomp } from "./seccomp.ts";
import { sandboxNetworkNamespace } from "../network/index.ts";

export const DEFAULT_RESOURCES: ResourceLimits = { cpu: 1, memoryMiB: 512, pids: 512 };

export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
]; // Docker's default set without CAP_NET_RAW

export const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** where the init is bind-mounted in the container (a path no image uses) */
export const INIT_PATH = "/.nimbus/init";
/** the fd on which the monitor hands init its status pipe (monitor.c --init) */
export const INIT_STATUS_FD = 3;

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * cgroup parent (relative to each hierarchy root) of one server's sandboxes: /nimbus/<instance>,
 * the instance derived from the data dir, so servers sharing a host never touch (or reconcile
 * away) each other's cgroups.
 */
export const cgroupParent = (dataRoot: string): string => `/nimbus/${createHash("sha256").update(resolve(dataRoot)).digest("hex").slice(0, 12)}`;
export const cgroupsPath = (id: string, parent: string): string => `${parent}/${id}`;

const hostHardLimit = (name: string, fallback: number): number => {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith(name));
    const hard = line?.slice(26).trim().split(/\s+/)[1];
    if (!hard || hard === "unlimited") return fallback;
    return Math.min(Number(hard), fallback);
  } catch {
    return fallback;
  }
};

let nofileLimit: number | undefined;

export const processSpec = (p: ProcessSpec, opts: { terminal?: boolean; size?: { cols: number; rows: number } } = {}) => {
  if (!p.argv.length) throw new Error("process.argv must not be empty");
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: p.uid === 0 ? "/root" : "/", ...p.env };
  if (opts.terminal && !env.TERM) env.TERM = "xterm";
  nofileLimit ??= hostHardLimit("Max open files", 1 << 20);
  return {
    terminal: !!opts.terminal,
    ...(opts.terminal && opts.size ? { consoleSize: { height: opts.size.rows, width: opts.size.cols } } : {}),
    user: { uid: p.uid, gid: p.gid, ...(p.additionalGids?.length ? { additionalGids: p.additionalGids } : {}) },
    args: p.argv,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    cwd: p.cwd || "/",
    capabilities: {
      bounding: DEFAULT_CAPABILITIES,
      effective: DEFAULT_CAPABILITIES,
      permitted: DEFAULT_CAPABILITIES,
    },
    // NPROC is per host uid (shared by every sandbox): the pids cgroup limits forks instead
    rlimits: [
      { type: "RLIMIT_NOFILE", hard: nofileLimit, soft: nofileLimit },
      { type: "RLIMIT_CORE", hard: 0, soft: 0 },
    ],
    noNewPrivileges: true,
    oomScoreAdj: 500,
  };
};

export const resourcesSpec = (r: ResourceLimits) => {
  const memory = Math.max(4, Math.floor(r.memoryMiB)) * 1024 * 1024;
  const period = 100_000;
  return {
    devices: [{ allow: false, access: "rwm" }],
    memory: { limit: memory, swap: memory },
    pids: { limit: Math.max(1, Math.floor(r.pids)) },
    cpu: { period, quota: Math.max(1000, Math.round(r.cpu * period)), shares: Math.max(2, Math.round(r.cpu * 1024)) },
  };
};

const idMap = [{ containerID: 0, hostID: ID_MAP.hostBase, size: ID_MAP.size }];

export interface OciOptions {
  /** host path of the nimbus-init executable: when set, the process runs under it (INIT_PATH) */
  init?: string;
  /** cgroup parent of this server's sandboxes (see cgroupParent) */
  cgroupParent?: string;
}

export const ociConfig = (req: LaunchRequest, opts: OciOptions = {}) => {
  const resources = { ...DEFAULT_RESOURCES, ...req.resources };
  const proc = processSpec(req.process);
  // argv[0] keeps execvp semantics inside init (PATH of the process env, cwd already set)
  if (opts.init) proc.args = [INIT_PATH, "--status-fd", String(INIT_STATUS_FD), "--", ...proc.args];
  const initMount = opts.init
    ? [{ destination: INIT_PATH, type: "bind", source: opts.init, options: ["bind", "ro", "nosuid", "nodev"] }]
    : [];
  return {
    ociVersion: "1.0.2",
    process: proc,
    root: { path: req.rootfs, readonly: false },
    hostname: req.hostname,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=262144k"] },
      ...initMount,
    ],
    linux: {
      uidMappings: idMap,
      gidMappings: idMap,
      namespaces: [
        { type: "pid" },
        sandboxNetworkNamespace(req.id),
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "cgroup" },
        { type: "user" },
      ],
      cgroupsPath: cgroupsPath(req.id, opts.cgroupParent ?? "/nimbus"),
      resources: resourcesSpec(resources),
      seccomp: defaultSeccomp(),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
    annotations: { "org.nimbus.sandbox": req.id },
  };
};
