import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createConnection } from "node:net";
import { existsSync } from "node:fs";
import { setupHarness, sh, uid, type Harness } from "./harness.ts";
import { BackendError, createKrunBackend } from "../../../src/runtime/index.ts";
import { probeLibkrun } from "../../../native/libkrun.ts";

let h: Harness;
beforeAll(() => {
  h = setupHarness();
});
afterAll(async () => {
  await h.cleanup();
});

describe("container lifecycle", () => {
  test("runs to completion and reports the exit code and output", async () => {
    const id = uid("done");
    const started = await h.start(id, sh("echo hello; echo oops >&2; exit 42"));
    expect(started.pid).toBeGreaterThan(1);
    const exit = await h.waitExit(id);
    expect(exit.code).toBe(42);
    expect(exit.signal).toBeNull();
    expect(exit.oomKilled).toBe(false);
    expect(h.stdout(id)).toBe("hello\n");
    expect(h.stderr(id)).toBe("oops\n");
    const st = await h.backend.state(id);
    expect(st.state).toBe("exited");
  });

  test("long-running process: running → stop → stopped within the grace period", async () => {
    const id = uid("long");
    await h.start(id, sh("trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done"));
    // the trap must be set before stop's SIGTERM arrives (the init forwards it at once)
    for (let i = 0; i < 100 && !h.stdout(id).includes("ready"); i++) await Bun.sleep(10);
    const st = await h.backend.state(id);
    expect(st.state).toBe("running");
    const t0 = performance.now();
    const exit = await h.backend.stop(id, 5000);
    const took = performance.now() - t0;
    expect(exit.code).toBe(0);
    expect(took).toBeLessThan(5000);
    expect((await h.backend.state(id)).state).toBe("exited");
    // idempotent
    expect(await h.backend.stop(id, 5000)).toEqual(exit);
  });

  test("a SIGTERM-ignoring process is killed after the grace period", async () => {
    const id = uid("stubborn");
    await h.start(id, sh("trap '' TERM; echo ready; while :; do sleep 0.05; done"));
    // SIGTERM must come after the trap (the init forwards it at once)
    for (let i = 0; i < 100 && !h.stdout(id).includes("ready"); i++) await Bun.sleep(10);
    const t0 = performance.now();
    const exit = await h.backend.stop(id, 700);
    const took = performance.now() - t0;
    expect(exit.signal).toBe("SIGKILL");
    expect(exit.code).toBeNull();
    expect(took).toBeGreaterThanOrEqual(650);
    expect(took).toBeLessThan(5000);
  });

  test("stdin stays open for writes and the output is logged", async () => {
    const id = uid("stdin");
    await h.start(id, sh("while read line; do echo got:$line; done; echo eof"));
    await h.backend.writeStdin(id, new TextEncoder().encode("one\n"));
    await h.backend.writeStdin(id, new TextEncoder().encode("two\n"));
    await h.backend.closeStdin(id);
    const exit = await h.waitExit(id);
    expect(exit.code).toBe(0);
    expect(h.stdout(id)).toBe("got:one\ngot:two\neof\n");
  });

  test("kill delivers a signal", async () => {
    const id = uid("kill");
    await h.start(id, sh("trap 'echo usr1; exit 3' USR1; while :; do sleep 0.05; done"));
    await Bun.sleep(100);
    await h.backend.kill(id, "SIGUSR1");
    const exit = await h.waitExit(id);
    expect(exit.code).toBe(3);
    expect(h.stdout(id)).toContain("usr1");
  });

  test("delete removes the sandbox dir and runtime state; unknown ids are missing", async () => {
    const id = uid("del");
    await h.start(id, ["sleep", "60"]);
    await h.backend.delete(id);
    expect(existsSync(`${h.paths.sandboxes}/${id}`)).toBe(false);
    expect(existsSync(`${h.paths.runtimeState}/${id}`)).toBe(false);
    expect((await h.backend.state(id)).state).toBe("missing");
    await h.backend.delete(id); // idempotent
  });

  test("a failing launch throws and leaves nothing behind", async () => {
    // (a missing executable is not a launch failure: the init reports it as exit 127, see init.test.ts)
    const id = uid("bad");
    h.ids.add(id);
    const err = await h.backend.start(h.req(id, ["true"], { process: { uid: 70000 } })).catch((e) => e); // uid outside the map
    expect(err).toBeInstanceOf(BackendError);
    expect(err.code).toBe("start_failed");
    expect(existsSync(`${h.paths.sandboxes}/${id}`)).toBe(false);
    expect(existsSync(`${h.paths.runtimeState}/${id}`)).toBe(false);
  });
});

describe("exec", () => {
  test("exec relays stdout, stderr, stdin and the exit code", async () => {
    const id = uid("exec");
    await h.start(id, ["sleep", "60"]);
    const x = await h.backend.exec(id, { process: { argv: ["sh", "-c", "read a; echo out:$a; echo err >&2; exit 7"], env: {}, cwd: "/", uid: 0, gid: 0 }, tty: false });
    let out = "";
    let err = "";
    x.onStdout((c) => (out += new TextDecoder().decode(c)));
    x.onStderr((c) => (err += new TextDecoder().decode(c)));
    x.write(new TextEncoder().encode("ping\n"));
    x.closeStdin();
    expect(await x.exited).toBe(7);
    expect(out).toBe("out:ping\n");
    expect(err).toBe("err\n");
    await h.backend.stop(id, 100);
  });

  test("tty exec gets a terminal with the requested size and resizes", async () => {
    const id = uid("tty");
    await h.start(id, ["sleep", "60"]);
    const x = await h.backend.exec(id, {
      process: { argv: ["sh", "-c", "tty; stty size; read x; stty size; exit 3"], env: {}, cwd: "/", uid: 0, gid: 0 },
      tty: true,
      size: { cols: 100, rows: 30 },
    });
    let out = "";
    x.onStdout((c) => (out += new TextDecoder().decode(c)));
    for (let i = 0; i < 100 && !out.includes("30 100"); i++) await Bun.sleep(20);
    x.resize(120, 40);
    await Bun.sleep(100);
    x.write(new TextEncoder().encode("go\r"));
    expect(await x.exited).toBe(3);
    expect(out).toContain("/dev/pts/");
    expect(out).toContain("30 100");
    expect(out).toContain("40 120");
    await h.backend.stop(id, 100);
  });
});

describe("ports", () => {
  test("openPort relays a host unix socket to a listener inside the sandbox", async () => {
    const id = uid("port");
    await h.start(id, ["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/var/www"]);
    await Bun.sleep(150);
    const sock = await h.backend.openPort(id, 8080);
    expect(await h.backend.openPort(id, 8080)).toBe(sock); // idempotent
    const body = await new Promise<string>((resolve, reject) => {
      let buf = "";
      const c = createConnection({ path: sock });
      c.on("connect", () => c.write("GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n"));
      c.on("data", (d) => (buf += d.toString()));
      c.on("end", () => resolve(buf));
      c.on("error", reject);
    });
    expect(body).toContain("200 OK");
    expect(body).toContain("hello from nimbus");
    await h.backend.stop(id, 500);
  });
});

describe("krun", () => {
  test("a krun launch is refused with the documented error and leaves nothing behind", async () => {
    const krun = createKrunBackend({ paths: h.paths });
    const probe = probeLibkrun();
    const avail = krun.availability();
    expect(avail.available).toBe(false);
    expect(krun.libraryAvailable()).toBe(probe.available);
    const id = uid("krun");
    const err = await krun.start(h.req(id, ["true"])).catch((e) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err.code).toBe(probe.available ? "krun_process_execution_disabled" : "backend_unavailable");
    expect(existsSync(`${h.paths.sandboxes}/${id}`)).toBe(false);
    expect(existsSync(`${h.paths.runtimeState}/${id}`)).toBe(false);
  });
});
