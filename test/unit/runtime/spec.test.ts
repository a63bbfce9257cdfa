import { describe, expect, test } from "bun:test";
import { cgroupParent } from "../../../src/runtime/spec.ts";
import { ociConfig, DEFAULT_CAPABILITIES, defaultSeccomp, nativeArtifacts } from "../../../src/runtime/index.ts";
import { ID_MAP } from "../../../src/host/idmap.ts";
import { dataPaths } from "../../../src/host/paths.ts";
import { openLibnimbus, EXPECTED_CONTEXT_LAYOUT, EXPECTED_ERROR_LAYOUT } from "../../../native/libnimbus.ts";

const req = {
  id: "sbx_1",
  rootfs: "/r",
  hostname: "h",
  process: { argv: ["node", "app.js"], env: { A: "1" }, cwd: "/app", uid: 1000, gid: 1000 },
  resources: { cpu: 1.5, memoryMiB: 256, pids: 100 },
};

describe("OCI config", () => {
  const c = ociConfig(req);
  test("process", () => {
    expect(c.process.args).toEqual(["node", "app.js"]);
    expect(c.process.env).toContain("A=1");
    expect(c.process.env.some((e) => e.startsWith("PATH="))).toBe(true);
    expect(c.process.cwd).toBe("/app");
    expect(c.process.user).toEqual({ uid: 1000, gid: 1000 });
    expect(c.process.noNewPrivileges).toBe(true);
    expect(c.process.capabilities.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(c.process.capabilities.bounding).not.toContain("CAP_NET_RAW");
    expect(c.process.capabilities.bounding).not.toContain("CAP_SYS_ADMIN");
  });
  test("user namespace maps container root to the unprivileged range", () => {
    expect(c.linux.uidMappings).toEqual([{ containerID: 0, hostID: ID_MAP.hostBase, size: ID_MAP.size }]);
    expect(c.linux.gidMappings).toEqual(c.linux.uidMappings);
    expect(c.linux.namespaces.map((n) => n.type).sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]);
    expect(c.linux.namespaces.find((n) => n.type === "network")).toEqual({ type: "network" }); // new, empty
  });
  test("mounts", () => {
    const m = Object.fromEntries(c.mounts.map((x) => [x.destination, x]));
    for (const d of ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/tmp"]) expect(m[d]).toBeDefined();
    expect(m["/sys"]!.options).toContain("ro");
    expect(m["/tmp"]!.type).toBe("tmpfs");
  });
  test("limits", () => {
    expect(c.linux.resources.memory.limit).toBe(256 * 1024 * 1024);
    expect(c.linux.resources.pids.limit).toBe(100);
    expect(c.linux.resources.cpu.quota).toBe(150000);
    expect(c.linux.resources.cpu.period).toBe(100000);
    expect(c.linux.cgroupsPath).toBe("/nimbus/sbx_1");
    expect(cgroupParent("/var/lib/nimbus")).toMatch(/^\/nimbus\/[0-9a-f]{12}$/);
    expect(cgroupParent("/var/lib/nimbus")).not.toBe(cgroupParent("/var/lib/other"));
    expect(c.process.rlimits.map((r) => r.type)).toContain("RLIMIT_NOFILE");
  });
  test("masked and readonly paths", () => {
    expect(c.linux.maskedPaths).toContain("/proc/kcore");
    expect(c.linux.readonlyPaths).toContain("/proc/sys");
  });
  test("seccomp: allow-list with EPERM default", () => {
    const s = defaultSeccomp();
    expect(s.defaultAction).toBe("SCMP_ACT_ERRNO");
    const allowed = new Set(s.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args).flatMap((r) => r.names));
    for (const n of ["read", "write", "execve", "openat", "futex"]) expect(allowed.has(n)).toBe(true);
    for (const n of ["mount", "umount2", "unshare", "setns", "bpf", "kexec_load", "init_module", "reboot", "keyctl", "ptrace", "clone"])
      expect(allowed.has(n)).toBe(false);
    const clone = s.syscalls.find((r) => r.names.includes("clone"))!;
    expect(clone.args![0]!.op).toBe("SCMP_CMP_MASKED_EQ");
  });
  test("empty argv is refused", () => {
    expect(() => ociConfig({ ...req, process: { ...req.process, argv: [] } })).toThrow();
  });
});

describe("native library", () => {
  test("libcrun_context_s layout of the built libcrun matches the binding", () => {
    const lib = openLibnimbus(nativeArtifacts(dataPaths("/tmp/nimbus-unit")).lib);
    expect(lib.contextLayout()).toEqual({ ...EXPECTED_CONTEXT_LAYOUT });
    expect(lib.errorLayout()).toEqual({ ...EXPECTED_ERROR_LAYOUT });
  });
  test("errors come back as LibcrunError with libcrun's message", () => {
    const lib = openLibnimbus(nativeArtifacts(dataPaths("/tmp/nimbus-unit")).lib);
    expect(() => lib.state("/tmp/nimbus-unit-no-such-root", "nope")).toThrow(/state/);
  });
});
