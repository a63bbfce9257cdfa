import { afterAll, beforeAll, expect, test } from "bun:test";
import { cgroupParent } from "../../../src/runtime/spec.ts";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { setupHarness, uid, type Harness } from "./harness.ts";
import { CGROUP_FIX_DIR } from "../../../src/host/preflight.ts";

let h: Harness;
beforeAll(() => {
  h = setupHarness();
});
afterAll(async () => {
  await h.cleanup();
});

const ls = (p: string): string[] => {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
};

// Counts only what this test could have leaked: other work on the host (other test suites,
// other containers) may start and stop processes, mounts and namespaces at the same time.
const census = () => {
  const procs = ls("/proc").filter((e) => /^\d+$/.test(e));
  const netns = new Set<string>();
  let processes = 0;
  let monitors = 0;
  let zombies = 0;
  for (const p of procs) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8");
      const cg = readFileSync(`/proc/${p}/cgroup`, "utf8");
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const ours = cmd.includes(h.root) || cg.includes(`${cgroupParent(h.root)}/cyc`);
      if (ppid === process.pid && stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) zombies++;
      if (!ours) continue;
      processes++;
      if (cmd.includes("nimbus-monitor")) monitors++;
      netns.add(readlinkSync(`/proc/${p}/ns/net`));
    } catch {}
  }
  const cgroupRoots = [...ls("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}`), ...ls(CGROUP_FIX_DIR).map((c) => `${CGROUP_FIX_DIR}/${c}`)];
  return {
    mounts: readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(h.root)).length,
    cgroups: cgroupRoots.reduce((n, r) => n + ls(`${r}${cgroupParent(h.root)}`).filter((e) => e.startsWith("cyc")).length, 0),
    netns: netns.size,
    monitors,
    processes,
    zombies,
    stateDirs: ls(h.paths.runtimeState).length,
    sandboxDirs: ls(h.paths.sandboxes).length,
  };
};

test("100 create/stop/delete cycles leave no mounts, cgroups, netns, processes or state dirs", async () => {
  const before = census();
  for (let i = 0; i < 100; i++) {
    const id = uid("cyc");
    h.ids.add(id);
    await h.start(id, ["sleep", "60"]);
    if (i % 10 === 0) await h.backend.openPort(id, 80); // relays must go too
    if (i === 50) {
      // the census sees a live sandbox (so zero afterwards means something)
      const live = census();
      expect(live.processes).toBeGreaterThanOrEqual(2);
      expect(live.cgroups).toBeGreaterThanOrEqual(1);
      expect(live.netns).toBeGreaterThanOrEqual(2);
      expect(live.stateDirs).toBe(1);
    }
    const exit = await h.backend.stop(id, 0);
    // no grace: SIGTERM (forwarded by the init) and SIGKILL race
    expect(["SIGTERM", "SIGKILL"]).toContain(exit.signal!);
    await h.backend.delete(id);
    h.ids.delete(id);
  }
  // processes the kernel is still tearing down / zombies Bun has not reaped yet get a moment
  let after = census();
  for (let i = 0; i < 40 && JSON.stringify(after) !== JSON.stringify(before); i++) {
    await Bun.sleep(50);
    after = census();
  }
  expect(before).toEqual({ mounts: 0, cgroups: 0, netns: 0, monitors: 0, processes: 0, zombies: 0, stateDirs: 0, sandboxDirs: 0 });
  expect(after).toEqual(before);
}, 60_000);
