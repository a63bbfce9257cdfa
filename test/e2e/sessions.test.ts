import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { attach, until } from "./attach-client";
import { sandboxSpec, startWorld, TERMINAL, waitFor, type World } from "./world";

const T = "demo";
const BUSYBOX = "docker.io/library/busybox:latest";

describe("sessions: leases and attach (compiled binary, real sandboxes)", () => {
  let w: World;
  const sb = (p = "") => `/api/tenants/${T}/sandboxes${p}`;
  const ses = (p = "") => `/api/tenants/${T}/sessions${p}`;
  const readySandbox = async (argv: string[], reference = BUSYBOX) => {
    const r = await w.server.api("POST", sb(), { profile: "worker", spec: sandboxSpec(reference, argv) });
    expect(r.status).toBe(201);
    await waitFor(w.server, T, r.body.metadata.id, (s) => s === "ready" || TERMINAL.includes(s));
    return r.body.metadata.id as string;
  };
  const open = (id: string, channels: string[], requestedTtlMs?: number) =>
    w.server.api("POST", ses(), { target: { sandbox: { id } }, channels, ...(requestedTtlMs !== undefined ? { requestedTtlMs } : {}) });
  const attachUrl = (id: string) => `${w.server.url}${ses(`/${id}/attach`)}`;

  beforeAll(async () => {
    w = await startWorld();
    await w.server.api("POST", "/api/tenants", { id: T });
  });
  afterAll(async () => {
    await w?.close();
  });

  test("the quickstart flow: ready sandbox, 5-minute stdio lease, pinned snapshot, close with reason, stop", async () => {
    const id = await readySandbox(["node", "-e", "setInterval(() => {}, 1000)"], "docker.io/library/node:22-alpine");
    const before = Date.now();
    const r = await open(id, ["stdio"], 5 * 60 * 1000);
    expect(r.status).toBe(201);
    const s = r.body;
    expect(s.metadata.id).toMatch(/^ses_/);
    expect(s.spec.grantedTtlMs).toBe(300_000);
    const expires = Date.parse(s.spec.expiresAt);
    expect(Math.abs(expires - (before + 300_000))).toBeLessThan(5_000);
    expect(s.spec.targetSnapshot).toMatchObject({ kind: "sandbox", id, lifecycleState: "ready", backend: "container", profile: "worker", owner: { kind: "standalone" } });
    expect(s.spec.targetSnapshot.image.digest).toMatch(/^sha256:/);
    expect(s.status.state).toBe("open");
    const closed = await w.server.api("POST", ses(`/${s.metadata.id}/close`), { reason: "done" });
    expect(closed.body.status).toMatchObject({ state: "closed", closeReason: "done" });
    const again = await w.server.api("POST", ses(`/${s.metadata.id}/close`), { reason: "other" });
    expect(again.status).toBe(200);
    expect(again.body.status.closeReason).toBe("done");
    const stopped = await w.server.api("POST", sb(`/${id}/stop`), { graceMs: 1000 });
    expect(stopped.body.status.lifecycleState).toBe("stopped");
    // the snapshot is pinned: the target changed, the session record did not
    expect((await w.server.api("GET", ses(`/${s.metadata.id}`))).body.spec.targetSnapshot.lifecycleState).toBe("ready");
  });

  test("lease rules: not-ready targets 409, unknown 404, TTL clamp, renew, bad input 4xx", async () => {
    const stoppedId = await readySandbox(["true"]);
    await waitFor(w.server, T, stoppedId, (s) => TERMINAL.includes(s));
    const r409 = await open(stoppedId, ["stdio"], 60_000);
    expect(r409.status).toBe(409);
    expect(r409.body.error.code).toBe("target_not_ready");
    const pending = await w.server.api("POST", sb(), { spec: sandboxSpec("docker.io/library/node:22-alpine", ["sleep", "60"]) });
    const rp = await open(pending.body.metadata.id, ["stdio"]);
    expect(rp.status).toBe(409);
    expect((await open("sbx_doesnotexist", ["stdio"])).status).toBe(404);
    expect((await w.server.api("POST", ses(), { target: { service: { name: "nope" } }, channels: ["stdio"] })).status).toBe(404);

    const id = await readySandbox(["sleep", "600"]);
    const big = await open(id, ["stdio"], 365 * 24 * 3600 * 1000);
    expect(big.body.spec.requestedTtlMs).toBe(365 * 24 * 3600 * 1000);
    expect(big.body.spec.grantedTtlMs).toBe(24 * 3600 * 1000);
    const small = await open(id, ["exec"], 1);
    expect(small.body.spec.grantedTtlMs).toBe(1000);
    for (const bad of [
      { target: { sandbox: { id } }, channels: ["video"] },
      { target: { sandbox: { id } }, channels: [] },
      { target: { sandbox: { id } }, channels: ["stdio"], requestedTtlMs: -1 },
      { target: { sandbox: { id } }, channels: ["stdio"], requestedTtlMs: "soon" },
      { target: {}, channels: ["stdio"] },
    ]) {
      const r = await w.server.api("POST", ses(), bad);
      expect({ bad, status: r.status }).toEqual({ bad, status: 422 });
    }
    const lease = await open(id, ["stdio"], 10_000);
    const renewed = await w.server.api("POST", ses(`/${lease.body.metadata.id}/renew`), { requestedTtlMs: 120_000 });
    expect(renewed.body.spec.grantedTtlMs).toBe(120_000);
    expect(Date.parse(renewed.body.spec.expiresAt)).toBeGreaterThan(Date.parse(lease.body.spec.expiresAt));
    const list = await w.server.api("GET", ses(`?sandboxId=${id}&state=open`));
    expect(list.body.items.map((x: any) => x.metadata.id)).toContain(lease.body.metadata.id);
    // another tenant's token sees none of it
    await w.server.api("POST", "/api/tenants", { id: "other" });
    const otherTok = (await w.server.api("POST", "/api/tenants/other/tokens", {})).body.token;
    expect((await w.server.api("GET", ses(`/${lease.body.metadata.id}`), undefined, otherTok)).status).toBe(404);
    expect((await w.server.api("POST", ses(`/${lease.body.metadata.id}/close`), {}, otherTok)).status).toBe(404);
    expect((await w.server.api("GET", `/api/tenants/other/sessions/${lease.body.metadata.id}`, undefined, otherTok)).status).toBe(404);
    expect((await w.server.api("POST", "/api/tenants/other/sessions", { target: { sandbox: { id } }, channels: ["stdio"] }, otherTok)).status).toBe(404);
    // stopping the target closes its sessions
    await w.server.api("POST", sb(`/${id}/stop`), { graceMs: 500 });
    const after = await w.server.api("GET", ses(`/${lease.body.metadata.id}`));
    expect(after.body.status).toMatchObject({ state: "closed", closeReason: "target_stopped" });
    expect((await w.server.api("POST", ses(`/${lease.body.metadata.id}/renew`), {})).status).toBe(409);
    await w.server.api("POST", sb(`/${pending.body.metadata.id}/stop`), { graceMs: 0 });
  });

  test("attach stdio: a round trip through cat", async () => {
    const id = await readySandbox(["cat"]);
    const s = (await open(id, ["stdio"], 60_000)).body;
    const a = attach(attachUrl(s.metadata.id), w.server.token, "channel=stdio");
    await a.opened;
    a.send(0, "hello through cat\n");
    await until(() => a.stdout().includes("hello through cat"), 10_000, "echo from cat");
    // a later attach can replay what was written before it arrived
    const late = attach(attachUrl(s.metadata.id), w.server.token, "channel=stdio&tail=5");
    await late.opened;
    await until(() => late.stdout().includes("hello through cat"), 10_000, "replayed output");
    late.ws.close();
    await w.server.api("POST", ses(`/${s.metadata.id}/close`), { reason: "test-done" });
    const res = await a.result;
    expect(res.closeCode).toBe(4002);
    await w.server.api("POST", sb(`/${id}/stop`), { graceMs: 0 });
  });

  test("attach exec: both streams and the exit code; pty: a terminal with resize", async () => {
    const id = await readySandbox(["sleep", "600"]);
    const s = (await open(id, ["exec", "pty"], 60_000)).body;
    const e = attach(attachUrl(s.metadata.id), w.server.token, "channel=exec");
    await e.opened;
    e.send(3, { type: "start", argv: ["sh", "-c", "echo out; echo err >&2; exit 3"] });
    const res = await e.result;
    expect(res.stdout).toBe("out\n");
    expect(res.stderr).toBe("err\n");
    expect(res.controls.find((c) => c.type === "exit")).toEqual({ type: "exit", exitCode: 3 });
    expect(res.closeCode).toBe(1000);

    const p = attach(attachUrl(s.metadata.id), w.server.token, "channel=pty");
    await p.opened;
    p.send(3, { type: "start", argv: ["sh"], cols: 80, rows: 24 });
    await until(() => p.controls.some((c) => c.type === "started"), 10_000, "pty start");
    p.send(0, "tty; stty size\n");
    await until(() => /\/dev\/pts\/\d+/.test(p.stdout()) && p.stdout().includes("24 80"), 10_000, "tty and size");
    p.send(4, { cols: 132, rows: 50 });
    await Bun.sleep(100);
    p.send(0, "stty size; exit 0\n");
    const pr = await p.result;
    expect(pr.stdout).toContain("50 132");
    expect(pr.controls.find((c) => c.type === "exit")?.exitCode).toBe(0);

    // execs run as the main process does unless told otherwise
    const who = attach(attachUrl(s.metadata.id), w.server.token, "channel=exec");
    await who.opened;
    who.send(3, { type: "start", argv: ["sh", "-c", "id -u; pwd"] });
    expect((await who.result).stdout).toBe("0\n/\n");
    const nobody = attach(attachUrl(s.metadata.id), w.server.token, "channel=exec");
    await nobody.opened;
    nobody.send(3, { type: "start", argv: ["sh", "-c", "id -u; pwd"], user: { uid: 65534, gid: 65534 }, workingDir: "/tmp" });
    expect((await nobody.result).stdout).toBe("65534\n/tmp\n");

    // a channel that was not leased is refused
    const r = (await open(id, ["stdio"], 60_000)).body;
    const bad = attach(attachUrl(r.metadata.id), w.server.token, "channel=exec");
    expect((await bad.result).closeCode).toBe(4004);
    // and no credentials, no attach
    const anon = attach(attachUrl(r.metadata.id), null, "channel=stdio");
    expect((await anon.result).closeCode).not.toBe(1000);
    // a one-time ticket works once
    const ticket = (await w.server.api("POST", ses(`/${r.metadata.id}/attach-ticket`))).body.ticket;
    const t1 = attach(attachUrl(r.metadata.id), null, `channel=stdio&ticket=${ticket}`);
    await t1.opened;
    t1.ws.close();
    const t2 = attach(attachUrl(r.metadata.id), null, `channel=stdio&ticket=${ticket}`);
    expect(t2.controls.length).toBe(0);
    await t2.result;
    expect(t2.controls.some((c) => c.type === "attached")).toBe(false);
    await w.server.api("POST", sb(`/${id}/stop`), { graceMs: 0 });
  });

  test("a 1-second lease expires on its own and its attach is closed; restart keeps and expires leases durably", async () => {
    const id = await readySandbox(["sleep", "600"]);
    const short = (await open(id, ["stdio"], 1000)).body;
    const a = attach(attachUrl(short.metadata.id), w.server.token, "channel=stdio");
    await a.opened;
    const res = await a.result;
    expect(res.closeCode).toBe(4001);
    expect((await w.server.api("GET", ses(`/${short.metadata.id}`))).body.status.state).toBe("expired");

    const long = (await open(id, ["stdio"], 10 * 60 * 1000)).body;
    const brief = (await open(id, ["stdio"], 2000)).body;
    // down longer than the brief lease: it must come back expired, the long one still open
    await w.restart(true, 2500);
    const s = w.server;
    const l = (await s.api("GET", ses(`/${long.metadata.id}`))).body;
    expect(l.status.state).toBe("open");
    expect(l.spec.expiresAt).toBe(long.spec.expiresAt);
    expect((await s.api("GET", ses(`/${brief.metadata.id}`))).body.status).toMatchObject({ state: "expired", closeReason: "expired" });
    await s.api("POST", sb(`/${id}/stop`), { graceMs: 0 });
  });
});
