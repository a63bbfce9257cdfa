import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BINARY } from "./harness";
import { sandboxSpec, startWorld, waitFor, type World } from "./world";

const T = "demo";

describe("image garbage collection (API and `nimbus image prune`)", () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld();
    await w.server.api("POST", "/api/tenants", { id: T });
  });
  afterAll(async () => {
    await w?.close();
  });

  test("prune keeps what a sandbox stands on and removes the rest", async () => {
    const keep = await w.server.api("POST", `/api/tenants/${T}/sandboxes`, { spec: sandboxSpec("docker.io/library/busybox:latest", ["sleep", "600"]) });
    const gone = await w.server.api("POST", `/api/tenants/${T}/sandboxes`, { spec: sandboxSpec("docker.io/library/python:3.12-slim", ["python", "job.py"]) });
    await waitFor(w.server, T, keep.body.metadata.id, (s) => s === "ready");
    await waitFor(w.server, T, gone.body.metadata.id, (s) => s === "stopped");
    expect((await w.server.api("DELETE", `/api/tenants/${T}/sandboxes/${gone.body.metadata.id}`)).status).toBe(204);

    const listed = await w.server.api("GET", "/api/images");
    expect(listed.body.items.map((i: any) => i.reference).sort()).toEqual(["docker.io/library/busybox:latest", "docker.io/library/python:3.12-slim"]);
    const tenantTok = (await w.server.api("POST", `/api/tenants/${T}/tokens`, {})).body.token;
    expect((await w.server.api("POST", "/api/images/prune", { all: true }, tenantTok)).status).toBe(403);

    // the CLI talks to the running server with the admin token from the XDG dir
    const cli = Bun.spawnSync([BINARY, "image", "prune", "--all", "--endpoint", w.server.url], { env: { ...process.env, XDG_DATA_HOME: w.server.xdg } });
    expect(cli.exitCode).toBe(0);
    expect(cli.stdout.toString()).toMatch(/^removed 1 images, \d+ layers, \d+ blobs, 0 snapshots; [\d.]+ MiB freed\n$/);
    const after = await w.server.api("GET", "/api/images");
    expect(after.body.items.map((i: any) => i.reference)).toEqual(["docker.io/library/busybox:latest"]);

    // the running sandbox is untouched and the pruned image pulls again on demand
    const out = await w.server.api("GET", `/api/tenants/${T}/sandboxes/${keep.body.metadata.id}`);
    expect(out.body.status.lifecycleState).toBe("ready");
    const again = await w.server.api("POST", `/api/tenants/${T}/sandboxes`, { spec: sandboxSpec("docker.io/library/python:3.12-slim", ["python", "job.py"]) });
    const done = await waitFor(w.server, T, again.body.metadata.id, (s) => s === "stopped" || s === "failed");
    expect(done.sandbox.status.exit.code).toBe(0);
  });
});
