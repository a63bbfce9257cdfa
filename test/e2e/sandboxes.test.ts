import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deleteEverything, sandboxSpec, startWorld, TERMINAL, waitFor, type World } from "./world";

const T = "demo";
const BUSYBOX = "docker.io/library/busybox:latest";

describe("sandboxes API (compiled binary, fixture registry as docker.io)", () => {
  let w: World;
  const base = () => `/api/tenants/${T}/sandboxes`;
  const create = (body: unknown) => w.server.api("POST", base(), body);

  beforeAll(async () => {
    w = await startWorld();
    expect((await w.server.api("POST", "/api/tenants", { id: T })).status).toBe(201);
  });
  afterAll(async () => {
    await w?.close();
  });

  test("the guide's example: python job runs to a terminal state with its real exit status; labels, redaction, stop", async () => {
    const r = await create({
      profile: "worker",
      spec: sandboxSpec("docker.io/library/python:3.12-slim", ["python", "job.py"]),
      labels: { purpose: "batch" },
    });
    expect(r.status).toBe(201);
    expect(r.body.status.lifecycleState).toBe("pending");
    expect(r.body.metadata.id).toMatch(/^sbx_/);
    const id = r.body.metadata.id;
    const other = await create({ spec: sandboxSpec(BUSYBOX, ["sleep", "30"]), labels: { purpose: "other" } });
    const { sandbox, seen } = await waitFor(w.server, T, id, (s) => TERMINAL.includes(s));
    expect(sandbox.status.lifecycleState).toBe("stopped");
    expect(sandbox.status.exit).toEqual({ code: 0, signal: null, oomKilled: false });
    expect(sandbox.status.transitions.ready ?? sandbox.status.transitions.starting).toBeDefined();
    expect(seen.at(-1)).toBe("stopped");
    const logs = await fetch(`${w.server.url}${base()}/${id}/logs`, { headers: { authorization: `Bearer ${w.server.token}` } });
    expect(await logs.text()).toContain("hello from job.py on python");

    const batch = await w.server.api("GET", `${base()}?labelKey=purpose&labelValue=batch`);
    expect(batch.body.items.map((s: any) => s.metadata.id)).toEqual([id]);
    const keyOnly = await w.server.api("GET", `${base()}?labelKey=purpose`);
    expect(keyOnly.body.items.map((s: any) => s.metadata.id).sort()).toEqual([id, other.body.metadata.id].sort());

    const got = await w.server.api("GET", `${base()}/${id}`);
    expect(got.body.spec.process.argv).toEqual({ redacted: true, valueCount: 2 });
    expect(got.body.spec.process.environment).toEqual({ redacted: true, valueCount: 0 });
    expect(JSON.stringify(got.body)).not.toContain("job.py");

    const s1 = await w.server.api("POST", `${base()}/${id}/stop`, {});
    const s2 = await w.server.api("POST", `${base()}/${id}/stop`);
    expect([s1.status, s2.status]).toEqual([200, 200]);
    expect(s2.body.status.lifecycleState).toBe("stopped");
    expect(s2.body.status.exit.code).toBe(0);
  });

  test("the quickstart's node sandbox reaches ready and stays there until stopped; secrets never come back", async () => {
    const r = await create({
      profile: "worker",
      spec: {
        owner: { kind: "standalone", displayName: "agent-task" },
        backend: "container",
        root: { kind: "oci_image", source: { kind: "reference", reference: "docker.io/library/node:22-alpine" } },
        process: { argv: ["node", "-e", "setInterval(() => {}, 1000)"], environment: { API_KEY: "sk-very-secret-value" } },
      },
      labels: { purpose: "quickstart" },
    });
    expect(r.status).toBe(201);
    const id = r.body.metadata.id;
    const { sandbox, seen } = await waitFor(w.server, T, id, (s) => s === "ready" || TERMINAL.includes(s));
    expect(sandbox.status.lifecycleState).toBe("ready");
    expect(r.body.status.lifecycleState).toBe("pending");
    expect(seen).not.toContain("failed");
    expect(sandbox.status.image.digest).toMatch(/^sha256:/);
    await Bun.sleep(1500);
    expect((await w.server.api("GET", `${base()}/${id}`)).body.status.lifecycleState).toBe("ready");
    const stopped = await w.server.api("POST", `${base()}/${id}/stop`, { graceMs: 2000 });
    expect(stopped.status).toBe(200);
    expect(stopped.body.status.lifecycleState).toBe("stopped");
    const everything = JSON.stringify((await w.server.api("GET", `${base()}?limit=500`)).body) + w.server.output();
    expect(everything).not.toContain("sk-very-secret-value");
    expect(everything).not.toContain("setInterval");
    // and the image really carries Node 22, as its tag says
    const v = await create({ spec: sandboxSpec("docker.io/library/node:22-alpine", ["node", "-e", "console.log(process.versions.node)"]) });
    await waitFor(w.server, T, v.body.metadata.id, (s) => TERMINAL.includes(s));
    const version = await fetch(`${w.server.url}${base()}/${v.body.metadata.id}/logs`, { headers: { authorization: `Bearer ${w.server.token}` } }).then((x) => x.text());
    expect(version).toMatch(/^22\.\d+\.\d+\n$/);
  });

  test("bad specs are 4xx, create nothing and pull nothing", async () => {
    const before = (await w.server.api("GET", `${base()}?limit=500`)).body.items.length;
    const ok = sandboxSpec(BUSYBOX, ["true"]);
    const cases: [string, unknown, number[]][] = [
      ["profile", { profile: "gpu", spec: ok }, [422]],
      ["desktop profile", { profile: "desktop", spec: ok }, [422]],
      ["owner kind", { spec: { ...ok, owner: { kind: "robot" } } }, [422]],
      ["service owner", { spec: { ...ok, owner: { kind: "service", serviceName: "web" } } }, [403]],
      ["backend", { spec: { ...ok, backend: "docker" } }, [422]],
      ["krun", { spec: { ...ok, backend: "krun" } }, [422]],
      ["root kind", { spec: { ...ok, root: { kind: "vm_image" } } }, [422]],
      ["source kind", { spec: { ...ok, root: { kind: "oci_image", source: { kind: "git" } } } }, [422]],
      ["reference", { spec: sandboxSpec("docker.io/library/UPPER:case", ["true"]) }, [422]],
      ["empty reference", { spec: sandboxSpec("", ["true"]) }, [422]],
      ["argv type", { spec: { ...ok, process: { argv: "true" } } }, [422]],
      ["argv empty", { spec: { ...ok, process: { argv: [] } } }, [422]],
      ["environment type", { spec: { ...ok, process: { argv: ["true"], environment: { A: 1 } } } }, [422]],
      ["environment name", { spec: { ...ok, process: { argv: ["true"], environment: { "A=B": "x" } } } }, [422]],
      ["workingDir", { spec: { ...ok, process: { argv: ["true"], workingDir: "relative" } } }, [422]],
      ["cpu", { spec: { ...ok, resources: { cpu: 1000 } } }, [422]],
      ["memory", { spec: { ...ok, resources: { memoryMiB: 1 } } }, [422]],
      ["memory max", { spec: { ...ok, resources: { memoryMiB: 1e9 } } }, [422]],
      ["pids", { spec: { ...ok, resources: { pids: -1 } } }, [422]],
      ["timeout", { spec: { ...ok, timeoutMs: -5 } }, [422]],
      ["ports", { spec: { ...ok, ports: [{ port: 70000 }] } }, [422]],
      ["duplicate ports", { spec: { ...ok, ports: [{ port: 80 }, { port: 80 }] } }, [422]],
      ["label key", { spec: ok, labels: { "bad key!": "x" } }, [422]],
      ["label value", { spec: ok, labels: { k: "v".repeat(64) } }, [422]],
      ["too many labels", { spec: ok, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])) }, [422]],
      ["unknown field", { spec: { ...ok, privileged: true } }, [422]],
      ["rootfs outside allow-list", { spec: { ...ok, root: { kind: "rootfs", path: "/etc" } } }, [403]],
      ["missing spec", { profile: "worker" }, [422]],
      ["malformed JSON", "{", [400]],
    ];
    for (const [name, body, statuses] of cases) {
      const r = await create(body);
      expect({ name, status: r.status, ok: statuses.includes(r.status) }).toEqual({ name, status: r.status, ok: true });
      expect(typeof r.body.error.code).toBe("string");
    }
    // validation errors name the path, never the rejected value
    const typed = await create({ spec: { ...ok, process: { argv: ["true"], environment: { PIN: 982451653 } } } });
    expect(typed.status).toBe(422);
    expect(JSON.stringify(typed.body)).toContain("/spec/process/environment/PIN");
    expect(JSON.stringify(typed.body)).not.toContain("982451653");
    const krun = await create({ spec: { ...ok, backend: "krun" } });
    expect(krun.body.error.code).toBe("backend_unavailable");
    expect(krun.body.error.message).toContain("fails closed");
    const svc = await create({ spec: { ...ok, owner: { kind: "service", serviceName: "web" } } });
    expect(svc.body.error.code).toBe("owner_reserved");
    expect((await create({ profile: "desktop", spec: ok })).body.error.code).toBe("profile_unavailable");
    const after = (await w.server.api("GET", `${base()}?limit=500`)).body.items.length;
    expect(after).toBe(before);
    expect(w.registry.requests().filter((p) => p.includes("UPPER"))).toEqual([]);
  });

  test("a missing image fails the sandbox with image_not_found", async () => {
    const r = await create({ spec: sandboxSpec("docker.io/library/does-not-exist:1", ["true"]) });
    const { sandbox } = await waitFor(w.server, T, r.body.metadata.id, (s) => TERMINAL.includes(s));
    expect(sandbox.status.lifecycleState).toBe("failed");
    expect(sandbox.status.reason).toBe("image_not_found");
    expect(sandbox.status.message.length).toBeGreaterThan(0);
  });

  test("a missing executable fails with executable_not_found and never echoes argv", async () => {
    const r = await create({ spec: sandboxSpec(BUSYBOX, ["no-such-binary-xyz", "--token=hunter2hunter2"], { process: { argv: ["no-such-binary-xyz", "--token=hunter2hunter2"], environment: { SECRET: "s3cr3t-value" } } }) });
    const { sandbox } = await waitFor(w.server, T, r.body.metadata.id, (s) => TERMINAL.includes(s));
    expect(sandbox.status).toMatchObject({ lifecycleState: "failed", reason: "executable_not_found" });
    const everything = JSON.stringify(sandbox) + w.server.output();
    for (const secret of ["no-such-binary-xyz", "hunter2hunter2", "s3cr3t-value"]) expect(everything).not.toContain(secret);
  });

  test("a declared port is reachable through its endpoint; the sandbox cannot reach the host", async () => {
    const r = await create({
      spec: sandboxSpec(BUSYBOX, ["sh", "-c", "mkdir -p /www && echo hello-from-inside > /www/index.html && exec httpd -f -p 8000 -h /www"], { ports: [{ port: 8000, name: "web" }] }),
    });
    const id = r.body.metadata.id;
    const { sandbox } = await waitFor(w.server, T, id, (s) => s === "ready" || TERMINAL.includes(s));
    expect(sandbox.status.lifecycleState).toBe("ready");
    const ep = sandbox.status.endpoints[0];
    expect(ep).toMatchObject({ name: "web", port: 8000, protocol: "http" });
    expect(ep.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    let body = "";
    for (let i = 0; i < 50 && !body.includes("hello"); i++) {
      body = await fetch(`${ep.url}/index.html`).then((x) => x.text(), () => "");
      if (!body.includes("hello")) await Bun.sleep(100);
    }
    expect(body).toContain("hello-from-inside");

    // From inside: neither the endpoint nor the server's own loopback port is reachable.
    const hostPort = new URL(ep.url).port;
    const probe = await create({
      spec: sandboxSpec(BUSYBOX, ["sh", "-c", `wget -q -T 2 -O- http://127.0.0.1:${hostPort}/ && echo REACHED-ENDPOINT; wget -q -T 2 -O- http://127.0.0.1:${w.server.port}/healthz && echo REACHED-SERVER; ip -o link | wc -l; echo probe-done`]),
    });
    await waitFor(w.server, T, probe.body.metadata.id, (s) => TERMINAL.includes(s));
    const out = await fetch(`${w.server.url}${base()}/${probe.body.metadata.id}/logs`, { headers: { authorization: `Bearer ${w.server.token}` } }).then((x) => x.text());
    expect(out).toContain("probe-done");
    expect(out).not.toContain("REACHED");
    await w.server.api("POST", `${base()}/${id}/stop`, { graceMs: 1000 });
  });

  test("logs stream while the process writes; timeoutMs stops the sandbox", async () => {
    const r = await create({ spec: sandboxSpec(BUSYBOX, ["sh", "-c", "i=0; while [ $i -lt 40 ]; do echo line-$i; i=$((i+1)); sleep 0.05; done; echo err-line >&2"], { timeoutMs: 60_000 }) });
    const id = r.body.metadata.id;
    await waitFor(w.server, T, id, (s) => s !== "pending" && s !== "preparing" && s !== "starting");
    const res = await fetch(`${w.server.url}${base()}/${id}/logs?follow=true`, { headers: { authorization: `Bearer ${w.server.token}` } });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    let chunks = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks++;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain("line-0\n");
    expect(text).toContain("line-39\n");
    expect(chunks).toBeGreaterThan(1);
    const err = await fetch(`${w.server.url}${base()}/${id}/logs?stream=stderr`, { headers: { authorization: `Bearer ${w.server.token}` } }).then((x) => x.text());
    expect(err).toBe("err-line\n");
    const tail = await fetch(`${w.server.url}${base()}/${id}/logs?tail=2`, { headers: { authorization: `Bearer ${w.server.token}` } }).then((x) => x.text());
    expect(tail).toBe("line-38\nline-39\n");

    const sse = await fetch(`${w.server.url}${base()}/${id}/logs?follow=true&tail=3`, { headers: { authorization: `Bearer ${w.server.token}`, accept: "text/event-stream" } });
    expect(sse.headers.get("content-type")).toBe("text/event-stream");
    const events = (await sse.text()).split("\n\n").filter(Boolean);
    expect(events.at(-1)).toBe("event: end\ndata: {}");
    const replayed = events.filter((e) => e.startsWith("event: output")).map((e) => JSON.parse(e.split("\ndata: ")[1] as string).text).join("");
    expect(replayed).toBe("line-37\nline-38\nline-39\n");

    const t = await create({ spec: sandboxSpec(BUSYBOX, ["sleep", "600"], { timeoutMs: 1500 }) });
    const { sandbox } = await waitFor(w.server, T, t.body.metadata.id, (s) => TERMINAL.includes(s), 30_000);
    expect(sandbox.status.lifecycleState).toBe("stopped");
    expect(sandbox.status.reason).toBe("timeout");
  });

  test("tenant isolation: another tenant's sandbox is 404 for its token", async () => {
    await w.server.api("POST", "/api/tenants", { id: "other" });
    const tok = (await w.server.api("POST", "/api/tenants/other/tokens", {})).body.token;
    const mine = await create({ spec: sandboxSpec(BUSYBOX, ["true"]) });
    const id = mine.body.metadata.id;
    expect((await w.server.api("GET", `/api/tenants/other/sandboxes/${id}`, undefined, tok)).status).toBe(404);
    expect((await w.server.api("POST", `/api/tenants/other/sandboxes/${id}/stop`, {}, tok)).status).toBe(404);
    expect((await w.server.api("GET", `/api/tenants/${T}/sandboxes/${id}`, undefined, tok)).status).toBe(404);
    expect((await w.server.api("GET", "/api/tenants/other/sandboxes", undefined, tok)).body.items).toEqual([]);
  });

  test("pagination walks every sandbox once, in creation order", async () => {
    const all = (await w.server.api("GET", `${base()}?limit=500`)).body.items.map((s: any) => s.metadata.id);
    const walked: string[] = [];
    let token: string | undefined;
    do {
      const page = await w.server.api("GET", `${base()}?limit=2${token ? `&pageToken=${token}` : ""}`);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      walked.push(...page.body.items.map((s: any) => s.metadata.id));
      token = page.body.nextPageToken;
    } while (token);
    expect(walked).toEqual(all);
    expect((await w.server.api("GET", `${base()}?pageToken=garbage`)).status).toBe(422);
    // state filter, and a value without a key is refused
    const done = await create({ spec: sandboxSpec(BUSYBOX, ["true"]) });
    await waitFor(w.server, T, done.body.metadata.id, (x) => TERMINAL.includes(x));
    const stopped = (await w.server.api("GET", `${base()}?lifecycleState=stopped&limit=500`)).body.items;
    expect(stopped.length).toBeGreaterThan(0);
    expect(stopped.every((s: any) => s.status.lifecycleState === "stopped")).toBe(true);
    expect((await w.server.api("GET", `${base()}?lifecycleState=sleeping`)).status).toBe(422);
    expect((await w.server.api("GET", `${base()}?labelValue=batch`)).status).toBe(422);
  });

  test("a running sandbox cannot be deleted; a stopped one can, and is gone", async () => {
    const r = await create({ spec: sandboxSpec(BUSYBOX, ["sleep", "600"]) });
    const id = r.body.metadata.id;
    await waitFor(w.server, T, id, (s) => s === "ready");
    expect((await w.server.api("DELETE", `${base()}/${id}`)).status).toBe(409);
    await w.server.api("POST", `${base()}/${id}/stop`, { graceMs: 500 });
    expect((await w.server.api("DELETE", `${base()}/${id}`)).status).toBe(204);
    expect((await w.server.api("GET", `${base()}/${id}`)).status).toBe(404);
  });

  test("creates acknowledged with 201 survive a crash mid-preparation and still come up", async () => {
    // the large fixture takes a moment to pull: the crash lands while they are pending/preparing
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await create({ spec: sandboxSpec("docker.io/library/large:latest", ["sleep", "600"]), labels: { wave: "crash" } });
      expect(r.status).toBe(201);
      ids.push(r.body.metadata.id);
    }
    const states = await Promise.all(ids.map(async (id) => (await w.server.api("GET", `${base()}/${id}`)).body.status.lifecycleState));
    await w.restart(true);
    for (const id of ids) {
      const { sandbox } = await waitFor(w.server, T, id, (s) => s === "ready" || TERMINAL.includes(s), 60_000);
      expect({ id, before: states, state: sandbox.status.lifecycleState }).toEqual({ id, before: states, state: "ready" });
    }
    for (const id of ids) expect((await w.server.api("POST", `${base()}/${id}/stop`, { graceMs: 0 })).body.status.lifecycleState).toBe("stopped");
  });

  test("restart keeps every state true: a killed server re-adopts running sandboxes and records exits", async () => {
    const running = await create({ spec: sandboxSpec(BUSYBOX, ["sh", "-c", "while true; do echo tick; sleep 0.2; done"]) });
    const exits = await create({ spec: sandboxSpec(BUSYBOX, ["sh", "-c", "sleep 1; exit 7"]) });
    const stopped = await create({ spec: sandboxSpec(BUSYBOX, ["sleep", "600"]) });
    await waitFor(w.server, T, running.body.metadata.id, (s) => s === "ready");
    await waitFor(w.server, T, exits.body.metadata.id, (s) => s === "ready" || TERMINAL.includes(s));
    await waitFor(w.server, T, stopped.body.metadata.id, (s) => s === "ready");
    await w.server.api("POST", `${base()}/${stopped.body.metadata.id}/stop`, { graceMs: 0 });
    await w.restart(true);
    await Bun.sleep(1500);
    const s = w.server;
    const get = async (id: string) => (await s.api("GET", `${base()}/${id}`)).body;
    expect((await get(running.body.metadata.id)).status.lifecycleState).toBe("ready");
    const ex = await waitFor(s, T, exits.body.metadata.id, (x) => TERMINAL.includes(x));
    expect(ex.sandbox.status.exit.code).toBe(7);
    expect((await get(stopped.body.metadata.id)).status.lifecycleState).toBe("stopped");
    // still controllable after re-adoption
    const st = await s.api("POST", `${base()}/${running.body.metadata.id}/stop`, { graceMs: 1000 });
    expect(st.body.status.lifecycleState).toBe("stopped");
    await deleteEverything(s);
  });
});
