import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cgroupParent } from "../../../src/runtime/spec.ts";
import { setupHarness, sh, uid, type Harness } from "./harness.ts";

let h: Harness;
beforeAll(() => {
  h = setupHarness();
});
afterAll(async () => {
  await h.cleanup();
});

describe("cgroup limits", () => {
  test("a memory hog is OOM-killed and reported as such", async () => {
    const id = uid("oom");
    // `tail /dev/zero` buffers an endless line: anonymous memory grows until the OOM killer acts
    await h.start(id, ["sh", "-c", "exec tail /dev/zero"], { resources: { cpu: 1, memoryMiB: 32, pids: 64 } });
    const exit = await h.waitExit(id, 20_000);
    expect(exit.oomKilled).toBe(true);
    expect(exit.signal).toBe("SIGKILL");
  });

  test("a fork bomb stops at the pids limit and the host stays responsive", async () => {
    const id = uid("bomb");
    await h.start(id, sh("bomb() { bomb | bomb & }; bomb; sleep 2; echo survived; ls /proc | grep -c '^[0-9]' "), {
      resources: { cpu: 0.5, memoryMiB: 256, pids: 64 },
    });
    const t0 = performance.now();
    await Bun.sleep(500);
    // the host answers promptly while the bomb is capped
    const p = Bun.spawnSync(["true"]);
    expect(p.exitCode).toBe(0);
    expect(performance.now() - t0).toBeLessThan(2000);
    const pids = Number((await Bun.file(`/sys/fs/cgroup/pids${cgroupParent(h.root)}/${id}/pids.current`).text().catch(() => "0")).trim());
    expect(pids).toBeLessThanOrEqual(64);
    const exit = await h.backend.stop(id, 100);
    expect(exit.signal === "SIGTERM" || exit.signal === "SIGKILL" || exit.code !== null).toBe(true);
  });

  test("cpu/memory/pids limits are applied to the cgroup", async () => {
    const id = uid("lim");
    await h.start(id, ["sleep", "30"], { resources: { cpu: 0.5, memoryMiB: 100, pids: 50 } });
    const read = (p: string) => Bun.file(p).text().then((t) => t.trim());
    expect(await read(`/sys/fs/cgroup/memory${cgroupParent(h.root)}/${id}/memory.limit_in_bytes`)).toBe(String(100 * 1024 * 1024));
    expect(await read(`/sys/fs/cgroup/pids${cgroupParent(h.root)}/${id}/pids.max`)).toBe("50");
    expect(await read(`/sys/fs/cgroup/cpu${cgroupParent(h.root)}/${id}/cpu.cfs_quota_us`)).toBe("50000");
    await h.backend.update(id, { pids: { limit: 60 } });
    expect(await read(`/sys/fs/cgroup/pids${cgroupParent(h.root)}/${id}/pids.max`)).toBe("60");
    await h.backend.pause(id);
    expect((await h.backend.state(id)).state).toBe("paused");
    await h.backend.resume(id);
    expect((await h.backend.state(id)).state).toBe("running");
    await h.backend.stop(id, 100);
  });
});
