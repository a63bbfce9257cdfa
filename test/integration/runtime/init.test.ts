// The sandbox init (native/init.c): PID 1 of every sandbox, forwarding signals to the real
// program, reaping orphans and passing the program's exit status through truthfully.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { setupHarness, sh, uid, type Harness } from "./harness.ts";
import { ociConfig, INIT_PATH } from "../../../src/runtime/index.ts";

let h: Harness;
beforeAll(() => {
  h = setupHarness();
});
afterAll(async () => {
  await h.cleanup();
});

const waitFor = async (cond: () => boolean, ms = 3000) => {
  for (let t = 0; t < ms && !cond(); t += 10) await Bun.sleep(10);
  expect(cond()).toBe(true);
};

/** host view of the processes in the pid namespace of host pid `init` */
const nsProcesses = (init: number) => {
  const ns = readlinkSync(`/proc/${init}/ns/pid`);
  const out: { pid: number; ppid: number; state: string; name: string }[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) !== ns) continue;
      const status = readFileSync(`/proc/${e}/status`, "utf8");
      const field = (k: string) => status.match(new RegExp(`^${k}:\\s*(.*)$`, "m"))?.[1] ?? "";
      out.push({ pid: Number(e), ppid: Number(field("PPid")), state: field("State")[0]!, name: field("Name") });
    } catch {}
  }
  return out;
};

describe("spec", () => {
  test("the process runs under the read-only bind-mounted init; without one argv is unchanged", () => {
    const req = h.req("spec", ["node", "app.js"]);
    const c = ociConfig(req, { init: "/host/nimbus-init" });
    expect(c.process.args).toEqual([INIT_PATH, "--status-fd", "3", "--", "node", "app.js"]);
    const m = c.mounts.find((x) => x.destination === INIT_PATH)!;
    expect(m).toMatchObject({ type: "bind", source: "/host/nimbus-init" });
    expect(m.options).toEqual(expect.arrayContaining(["bind", "ro", "nosuid", "nodev"]));
    expect(ociConfig(req).process.args).toEqual(["node", "app.js"]);
  });
});

describe("stop", () => {
  test("a program without a SIGTERM handler (sleep 600) stops at once and reports SIGTERM", async () => {
    const id = uid("sleep");
    await h.start(id, ["sleep", "600"]);
    await Bun.sleep(100);
    const t0 = performance.now();
    const exit = await h.backend.stop(id, 10_000);
    const took = performance.now() - t0;
    expect(exit).toMatchObject({ code: null, signal: "SIGTERM", oomKilled: false });
    expect(took).toBeLessThan(1000);
  });

  test("a program ignoring SIGTERM still gets the full grace, then SIGKILL", async () => {
    const id = uid("ign");
    await h.start(id, sh("trap '' TERM; echo ready; sleep 600"));
    await waitFor(() => h.stdout(id).includes("ready"));
    const t0 = performance.now();
    const exit = await h.backend.stop(id, 1500);
    const took = performance.now() - t0;
    expect(exit).toMatchObject({ code: null, signal: "SIGKILL" });
    expect(took).toBeGreaterThanOrEqual(1450);
    expect(took).toBeLessThan(5000);
  });

  test("other signals reach the program too (kill SIGHUP / SIGINT)", async () => {
    for (const sig of ["SIGHUP", "SIGINT"]) {
      const id = uid("sig");
      await h.start(id, ["sleep", "600"]);
      await Bun.sleep(50);
      await h.backend.kill(id, sig);
      expect(await h.waitExit(id)).toMatchObject({ code: null, signal: sig });
    }
  });
});

describe("process tree", () => {
  test("the init is PID 1, the program its child; execs do not go through it", async () => {
    const id = uid("tree");
    await h.start(id, sh("echo pid=$$ ppid=$PPID; exec sleep 600"));
    await waitFor(() => h.stdout(id).includes("pid="));
    expect(h.stdout(id)).toBe("pid=2 ppid=1\n");
    const x = await h.backend.exec(id, {
      process: { argv: ["sh", "-c", "echo ppid=$PPID; tr '\\0' ' ' </proc/1/cmdline"], env: {}, cwd: "/", uid: 0, gid: 0 },
      tty: false,
    });
    let out = "";
    x.onStdout((c) => (out += new TextDecoder().decode(c)));
    x.closeStdin();
    expect(await x.exited).toBe(0);
    expect(out).toBe(`ppid=0\n${INIT_PATH} --status-fd 3 -- /bin/sh -c echo pid=$$ ppid=$PPID; exec sleep 600 `);
    await h.backend.stop(id, 1000);
  });

  test("orphans are re-parented to the init and reaped: no zombies", async () => {
    const id = uid("zomb");
    // each subshell exits at once, its sleep is orphaned to PID 1, and dies 300 ms later
    const { pid } = await h.start(id, sh("for i in 1 2 3 4 5; do (sleep 0.3 &); done; echo ready; exec sleep 600"));
    await waitFor(() => h.stdout(id).includes("ready"));
    const early = nsProcesses(pid);
    // the program plus the five orphans, all children of the init
    expect(early.filter((p) => p.ppid === pid).length).toBe(6);
    await Bun.sleep(800);
    const late = nsProcesses(pid);
    expect(late.filter((p) => p.state === "Z")).toEqual([]);
    expect(late.filter((p) => p.ppid === pid).map((p) => p.name)).toEqual(["sleep"]);
    expect(await h.backend.stop(id, 5000)).toMatchObject({ signal: "SIGTERM" });
  });
});

describe("exit status", () => {
  const run = async (argv: string[]) => {
    const id = uid("ex");
    await h.start(id, argv);
    return { id, exit: await h.waitExit(id) };
  };

  test("exit codes pass through, including ones above 128", async () => {
    expect((await run(sh("exit 3"))).exit).toMatchObject({ code: 3, signal: null });
    expect((await run(sh("exit 0"))).exit).toMatchObject({ code: 0, signal: null });
    // a program exiting 143 is not reported as killed by SIGTERM
    expect((await run(sh("exit 143"))).exit).toMatchObject({ code: 143, signal: null });
  });

  test("death by a signal is reported as that signal", async () => {
    expect((await run(sh("kill -KILL $$"))).exit).toMatchObject({ code: null, signal: "SIGKILL" });
    expect((await run(sh("kill -TERM $$"))).exit).toMatchObject({ code: null, signal: "SIGTERM" });
    expect((await run(sh("kill -SEGV $$"))).exit).toMatchObject({ code: null, signal: "SIGSEGV" });
  });

  test("a command that is not found exits 127 and says so on stderr", async () => {
    const a = await run(["no-such-command", "x"]);
    expect(a.exit).toMatchObject({ code: 127, signal: null });
    expect(h.stderr(a.id)).toContain('"no-such-command": executable file not found in $PATH');
    const b = await run(["/no/such/file"]);
    expect(b.exit).toMatchObject({ code: 127, signal: null });
    expect(h.stderr(b.id)).toContain('exec "/no/such/file": No such file or directory');
  });

  test("a file that cannot be executed exits 126", async () => {
    const c = await run(["/etc"]);
    expect(c.exit).toMatchObject({ code: 126, signal: null });
    expect(h.stderr(c.id)).toContain('exec "/etc": Permission denied');
  });

  test("argv[0] is looked up on the process's PATH", async () => {
    const id = uid("path");
    await h.start(id, ["busybox", "echo", "found"], { process: { env: { PATH: "/nowhere:/bin" } } });
    expect(await h.waitExit(id)).toMatchObject({ code: 0 });
    expect(h.stdout(id)).toBe("found\n");
  });
});
