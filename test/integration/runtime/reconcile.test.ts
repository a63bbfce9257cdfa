import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { cgroupParent } from "../../../src/runtime/spec.ts";
import { setupHarness, uid, type Harness } from "./harness.ts";

let h: Harness;
beforeAll(() => {
  h = setupHarness();
});
afterAll(async () => {
  await h.cleanup();
});

test("server SIGKILLed while 5 containers run: a new backend re-adopts them", async () => {
  const running = Array.from({ length: 5 }, () => uid("keep"));
  const quick = uid("quick");
  const orphan = uid("gone");
  for (const id of [...running, quick, orphan]) h.ids.add(id);
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "reconcile-child.ts"), h.root, h.rootfs, ...running, quick, orphan], {
    stdout: "pipe",
    stderr: "inherit",
  });
  try {
    let line = "";
    const reader = child.stdout.getReader();
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    expect(JSON.parse(line.trim().split("\n")[0]!).started).toHaveLength(7);
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
  const sizeBefore = statSync(h.backend.logPaths(running[0]!).stdout).size;
  await Bun.sleep(400); // the sandboxes keep writing while no server runs

  const exits: string[] = [];
  h.backend.onExit((id) => exits.push(id));
  const states = await h.backend.reconcile([...running, quick, "never-existed"]);

  for (const id of running) {
    const st = states.get(id)!;
    expect(st.state).toBe("running");
  }
  const q = states.get(quick)!;
  expect(q.state).toBe("exited");
  if (q.state === "exited") expect(q.exit.code).toBe(9);
  expect(exits).toContain(quick);
  expect(states.get("never-existed")!.state).toBe("missing");
  // leftovers of the unknown sandbox are gone: dir, crun state, cgroup, monitor
  expect(existsSync(join(h.paths.sandboxes, orphan))).toBe(false);
  expect(existsSync(join(h.paths.runtimeState, orphan))).toBe(false);
  expect(existsSync(`/sys/fs/cgroup/memory${cgroupParent(h.root)}/${orphan}`)).toBe(false);

  // output written while no server ran is in the logs
  const sizeAfter = statSync(h.backend.logPaths(running[0]!).stdout).size;
  expect(sizeAfter).toBeGreaterThan(sizeBefore);

  // and every re-adopted sandbox is controllable: stop reports an exit event
  const stopped = await Promise.all(running.map((id) => h.backend.stop(id, 200)));
  // the init forwards stop's SIGTERM to the shell loop, which dies of it
  for (const e of stopped) expect(e).toMatchObject({ code: null, signal: "SIGTERM" });
  for (const id of running) expect(exits).toContain(id);
  expect(readFileSync(h.backend.logPaths(running[1]!).stdout, "utf8")).toMatch(/tick \d+\n$/);
}, 30_000);
