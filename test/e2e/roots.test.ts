import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { tarArchive } from "../../src/images/tar";
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { rootOwnedRootfs } from "../fixtures/busybox-rootfs";
import { startWorld, TERMINAL, waitFor, type World } from "./world";

// The two other kinds of root material the guide names: an image obtained by build
// (Dockerfile + context) and a prepared root filesystem from the operator's allow-list.

const T = "demo";
const enc = new TextEncoder();

describe("root material: Dockerfile builds and prepared root filesystems", () => {
  let w: World;
  let prepared: string;
  const base = `/api/tenants/${T}/sandboxes`;
  const logs = (id: string) => fetch(`${w.server.url}${base}/${id}/logs`, { headers: { authorization: `Bearer ${w.server.token}` } }).then((r) => r.text());

  beforeAll(async () => {
    prepared = rootOwnedRootfs();
    w = await startWorld({ args: ["--rootfs-allow", prepared] });
    await w.server.api("POST", "/api/tenants", { id: T });
  });
  afterAll(async () => {
    await w?.close();
    rmSync(prepared, { recursive: true, force: true });
  });

  const dockerfile = [
    "FROM docker.io/library/busybox:latest",
    "ARG WHO=builder",
    "ENV GREETING=hello",
    "WORKDIR /app",
    "COPY hello.txt ./",
    "RUN echo \"built by $WHO\" > built.txt && id -u > uid.txt",
    'CMD ["sh", "-c", "cat hello.txt built.txt uid.txt; echo $GREETING from $(pwd)"]',
  ].join("\n");
  const context = Buffer.from(tarArchive([{ name: "hello.txt", data: enc.encode("from the context\n") }])).toString("base64");

  test("a build (FROM/ARG/ENV/WORKDIR/COPY/RUN/CMD) runs, and a rebuild gives the same image from the cache", async () => {
    const spec = { owner: { kind: "standalone" }, root: { kind: "oci_image", source: { kind: "build", dockerfile, context } } };
    const r = await w.server.api("POST", base, { spec });
    expect(r.status).toBe(201);
    expect(JSON.stringify(r.body.spec.root)).not.toContain("FROM");
    const { sandbox } = await waitFor(w.server, T, r.body.metadata.id, (s) => TERMINAL.includes(s), 120_000);
    expect(sandbox.status).toMatchObject({ lifecycleState: "stopped", exit: { code: 0 } });
    expect(await logs(r.body.metadata.id)).toBe("from the context\nbuilt by builder\n0\nhello from /app\n");
    const again = await w.server.api("POST", base, { spec });
    const second = await waitFor(w.server, T, again.body.metadata.id, (s) => TERMINAL.includes(s), 60_000);
    expect(second.sandbox.status.image.digest).toBe(sandbox.status.image.digest);
  });

  test("a bad Dockerfile fails the sandbox with the line number", async () => {
    const r = await w.server.api("POST", base, {
      spec: { owner: { kind: "standalone" }, root: { kind: "oci_image", source: { kind: "build", dockerfile: "FROM docker.io/library/busybox:latest\nCOPY missing.txt /\n", context } } },
    });
    const { sandbox } = await waitFor(w.server, T, r.body.metadata.id, (s) => TERMINAL.includes(s), 60_000);
    expect(sandbox.status.lifecycleState).toBe("failed");
    expect(sandbox.status.reason).toMatch(/^build_/);
    expect(sandbox.status.message).toContain("line 2");
  });

  test("a RUN step has no network and its failure is reported", async () => {
    const r = await w.server.api("POST", base, {
      spec: {
        owner: { kind: "standalone" },
        root: { kind: "oci_image", source: { kind: "build", dockerfile: "FROM docker.io/library/busybox:latest\nRUN ip -o link | grep -v ' lo:' | grep . && exit 0; exit 42\n" } },
      },
    });
    const { sandbox } = await waitFor(w.server, T, r.body.metadata.id, (s) => TERMINAL.includes(s), 60_000);
    expect(sandbox.status.lifecycleState).toBe("failed");
    expect(sandbox.status.message).toContain("42");
  });

  test("a root-owned prepared root filesystem appears owned by container root; writes stay in the sandbox", async () => {
    const script = "cat /var/www/index.html && id -u && stat -c %u /root && cat /root/secret && echo scratch > /root/x && cat /root/x";
    const r = await w.server.api("POST", base, {
      spec: { owner: { kind: "standalone" }, root: { kind: "rootfs", path: prepared }, process: { argv: ["sh", "-c", script] } },
    });
    expect(r.status).toBe(201);
    const { sandbox } = await waitFor(w.server, T, r.body.metadata.id, (s) => TERMINAL.includes(s), 60_000);
    expect(await logs(r.body.metadata.id)).toBe("hello from nimbus\n0\n0\nonly root reads this\nscratch\n");
    expect(sandbox.status.exit.code).toBe(0);
    // the operator's tree was not written to, and its owners are unchanged
    expect(readdirSync(join(prepared, "root"))).toEqual(["secret"]);
    expect(statSync(join(prepared, "root")).uid).toBe(0);
    const outside = await w.server.api("POST", base, { spec: { owner: { kind: "standalone" }, root: { kind: "rootfs", path: "/usr" } } });
    expect(outside.status).toBe(403);
    expect(outside.body.error.code).toBe("rootfs_not_allowed");
  });
});
