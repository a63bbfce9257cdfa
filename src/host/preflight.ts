// Host preflight: what Nimbus needs from the kernel before any sandbox can run, checked at
// server start and by `nimbus doctor`. Each check says what it found in one line; with
// fix=true the fixable ones are repaired in Nimbus-owned places and reported as `fixed`.
//
// The one fix we know: hybrid cgroups (v1 hierarchies + a cgroup2 mount at
// /sys/fs/cgroup/unified). crun refuses hybrid mode while any controller is attached to the v2
// hierarchy ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2").
// Controllers that no v1 hierarchy claims fall to v2 (here: hugetlb). Mounting a v1 hierarchy
// for each of them moves them out of v2; we mount under /run/nimbus/cgroup-v1/<controller>
// (a directory Nimbus owns; tmpfs, so it is redone after each boot, idempotently).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

export interface PreflightCheck {
  name: string;
  ok: boolean;
  detail: string;
  fixed?: boolean;
}

export interface PreflightResult {
  ok: boolean;
  checks: PreflightCheck[];
}

export const CGROUP_FIX_DIR = "/run/nimbus/cgroup-v1";

const read = (p: string): string | null => {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return null;
  }
};

interface MountInfo {
  mountPoint: string;
  fsType: string;
  superOptions: string;
}

export const mounts = (): MountInfo[] =>
  (read("/proc/self/mountinfo") ?? "")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [pre, post] = line.split(" - ");
      const f = pre!.split(" ");
      const g = (post ?? "").split(" ");
      return { mountPoint: f[4]!.replace(/\\040/g, " "), fsType: g[0] ?? "", superOptions: g[2] ?? "" };
    });

export type CgroupMode = "unified" | "hybrid" | "legacy" | "unknown";

export const cgroupMode = (): CgroupMode => {
  const m = mounts();
  const root = m.filter((x) => x.mountPoint === "/sys/fs/cgroup").pop();
  if (root?.fsType === "cgroup2") return "unified";
  if (!root) return "unknown";
  return m.some((x) => x.mountPoint === "/sys/fs/cgroup/unified" && x.fsType === "cgroup2") ? "hybrid" : "legacy";
};

/** controllers still attached to the v2 hierarchy in hybrid mode (crun wants none) */
export const hybridV2Controllers = (): string[] =>
  (read("/sys/fs/cgroup/unified/cgroup.controllers") ?? "").trim().split(/\s+/).filter(Boolean);

const mountV1 = (controller: string): string | null => {
  const dir = `${CGROUP_FIX_DIR}/${controller}`;
  mkdirSync(dir, { recursive: true });
  if (mounts().some((x) => x.mountPoint === dir)) return null;
  const r = spawnSync("mount", ["-t", "cgroup", "-o", controller, "cgroup", dir], { encoding: "utf8" });
  return r.status === 0 ? null : (r.stderr || r.error?.message || `mount exited ${r.status}`).trim();
};

const checkRoot = (): PreflightCheck => {
  const uid = process.getuid?.() ?? -1;
  return uid === 0
    ? { name: "root", ok: true, detail: "running as root" }
    : { name: "root", ok: false, detail: `running as uid ${uid}: the container backend needs root (rootless mode is not supported)` };
};

const checkUserns = (): PreflightCheck => {
  const max = Number((read("/proc/sys/user/max_user_namespaces") ?? "0").trim());
  const unpriv = read("/proc/sys/kernel/unprivileged_userns_clone");
  if (!existsSync("/proc/self/ns/user") || !(max > 0))
    return { name: "userns", ok: false, detail: `user namespaces unavailable (user.max_user_namespaces=${max}); set sysctl user.max_user_namespaces=15000` };
  return { name: "userns", ok: true, detail: `user namespaces available (max ${max}${unpriv ? `, unprivileged_userns_clone=${unpriv.trim()}` : ""})` };
};

const checkOverlay = (fix: boolean): PreflightCheck => {
  const has = () => /\toverlay\n/.test(read("/proc/filesystems") ?? "");
  if (has()) return { name: "overlayfs", ok: true, detail: "overlay filesystem available" };
  if (fix) {
    spawnSync("modprobe", ["overlay"]);
    if (has()) return { name: "overlayfs", ok: true, detail: "loaded the overlay module", fixed: true };
  }
  return { name: "overlayfs", ok: false, detail: "overlay filesystem not available: run `modprobe overlay`" };
};

const checkCgroups = (fix: boolean): PreflightCheck => {
  const mode = cgroupMode();
  if (mode === "unified") {
    const ctl = read("/sys/fs/cgroup/cgroup.controllers") ?? "";
    const missing = ["memory", "pids", "cpu"].filter((c) => !ctl.split(/\s+/).includes(c));
    return missing.length
      ? { name: "cgroups", ok: false, detail: `cgroup v2 lacks controllers: ${missing.join(", ")}` }
      : { name: "cgroups", ok: true, detail: "cgroup v2 (unified)" };
  }
  if (mode === "unknown") return { name: "cgroups", ok: false, detail: "no cgroup filesystem at /sys/fs/cgroup" };
  const missing = ["memory", "pids", "cpu"].filter((c) => !existsSync(`/sys/fs/cgroup/${c}`));
  if (missing.length) return { name: "cgroups", ok: false, detail: `cgroup v1 lacks hierarchies: ${missing.join(", ")}` };
  if (mode === "legacy") return { name: "cgroups", ok: true, detail: "cgroup v1 (legacy)" };
  const attached = hybridV2Controllers();
  if (attached.length === 0) return { name: "cgroups", ok: true, detail: "cgroups hybrid (v1 + empty v2), supported" };
  if (!fix)
    return {
      name: "cgroups",
      ok: false,
      detail: `cgroups hybrid with controllers on v2 (${attached.join(", ")}): crun refuses; run with fix to mount them as v1 under ${CGROUP_FIX_DIR}`,
    };
  const errors = attached.map((c) => [c, mountV1(c)] as const).filter(([, e]) => e);
  const left = hybridV2Controllers();
  if (left.length === 0)
    return {
      name: "cgroups",
      ok: true,
      detail: `cgroups hybrid: moved ${attached.join(", ")} from cgroup v2 to v1 hierarchies under ${CGROUP_FIX_DIR}`,
      fixed: true,
    };
  return {
    name: "cgroups",
    ok: false,
    detail: `cgroups hybrid: could not detach ${left.join(", ")} from cgroup v2 (${errors.map(([c, e]) => `${c}: ${e}`).join("; ")})`,
  };
};

const checkNetns = (): PreflightCheck =>
  existsSync("/proc/self/ns/net")
    ? { name: "netns", ok: true, detail: "network namespaces available" }
    : { name: "netns", ok: false, detail: "network namespaces unavailable (CONFIG_NET_NS)" };

const checkPidfd = (): PreflightCheck => {
  const [maj = 0, min = 0] = (read("/proc/sys/kernel/osrelease") ?? "0.0").split(".").map(Number);
  const ok = maj > 5 || (maj === 5 && min >= 3);
  return { name: "kernel", ok, detail: ok ? `kernel ${maj}.${min}` : `kernel ${maj}.${min} is older than 5.3 (pidfd_open needed)` };
};

export const preflight = (opts: { fix: boolean }): PreflightResult => {
  const checks = [checkRoot(), checkUserns(), checkOverlay(opts.fix), checkCgroups(opts.fix), checkNetns(), checkPidfd()];
  return { ok: checks.every((c) => c.ok), checks };
};
