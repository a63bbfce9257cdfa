import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { startFixtureRegistry, type FixtureRegistry } from "../../fixtures/images";
import { ImageError, type ResolvedImage } from "../../../src/images";
import { cleanupAll, isMounted, join, ls, makeService } from "./helpers";

let reg: FixtureRegistry;
let ctx: ReturnType<typeof makeService>;
const img: Record<string, ResolvedImage> = {};

beforeAll(async () => {
  reg = await startFixtureRegistry({ only: ["busybox", "node", "python", "whiteout"] });
  ctx = makeService({ mirrors: reg.mirrors });
  for (const r of ["busybox", "node:22-alpine", "python:3.12-slim", "whiteout"]) img[r.split(":")[0]!] = await ctx.svc.resolve(r);
});
afterAll(async () => {
  for (const s of ctx?.svc.listSnapshots() ?? []) await ctx.svc.removeSnapshot(s.key).catch(() => {});
  await reg?.stop();
  cleanupAll();
});

const chroot = (rootfs: string, argv: string[], cwd = "/") =>
  spawnSync("/usr/sbin/chroot", [rootfs, "/bin/sh", "-c", `cd ${cwd} && exec "$@"`, "sh", ...argv], { encoding: "utf8", env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/root" } });

describe("overlay snapshots", () => {
  test("mounts the layers, writes go to the upper, removal unmounts and deletes", async () => {
    const { svc } = ctx;
    const snap = await svc.prepareSnapshot("sbx_one", img.busybox!.layers);
    expect(isMounted(snap.rootfs)).toBe(true);
    expect(existsSync(join(snap.rootfs, "bin/busybox"))).toBe(true);
    writeFileSync(join(snap.rootfs, "tmp/hello"), "hi");
    expect(readFileSync(join(ctx.paths.snapshots, "sbx_one/upper/tmp/hello"), "utf8")).toBe("hi");
    expect(existsSync(join(img.busybox!.layers[0]!, "tmp/hello"))).toBe(false); // lowers untouched
    const again = await svc.prepareSnapshot("sbx_one", img.busybox!.layers); // idempotent
    expect(again.rootfs).toBe(snap.rootfs);
    await svc.removeSnapshot("sbx_one");
    expect(isMounted(snap.rootfs)).toBe(false);
    expect(existsSync(join(ctx.paths.snapshots, "sbx_one"))).toBe(false);
    await svc.removeSnapshot("sbx_one"); // idempotent
  });

  test("whiteouts and opaque dirs apply in the merged view", async () => {
    const snap = await ctx.svc.prepareSnapshot("sbx_wh", img.whiteout!.layers);
    try {
      expect(ls(join(snap.rootfs, "data"))).toEqual(["keep"]);
      expect(ls(join(snap.rootfs, "opq"))).toEqual(["new"]);
      expect(existsSync(join(snap.rootfs, "gonedir"))).toBe(false);
    } finally { await ctx.svc.removeSnapshot("sbx_wh"); }
  });

  test("a prepared rootfs directory works as the single lower", async () => {
    const dir = mkdtempSync("/var/tmp/nimbus-prepared-");
    try {
      mkdirSync(join(dir, "etc"));
      writeFileSync(join(dir, "etc/motd"), "prepared\n");
      chownSync(dir, 100000, 100000);
      const snap = await ctx.svc.prepareSnapshot("sbx_prep", [dir]);
      expect(readFileSync(join(snap.rootfs, "etc/motd"), "utf8")).toBe("prepared\n");
      writeFileSync(join(snap.rootfs, "etc/new"), "x");
      expect(existsSync(join(dir, "etc/new"))).toBe(false);
      await ctx.svc.removeSnapshot("sbx_prep");
    } finally { spawnSync("rm", ["-rf", dir]); }
  });

  test("warm prepare is fast (p50 of 20 < 15 ms)", async () => {
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await ctx.svc.prepareSnapshot(`sbx_fast${i}`, img.node!.layers);
      times.push(performance.now() - t0);
    }
    for (let i = 0; i < 20; i++) await ctx.svc.removeSnapshot(`sbx_fast${i}`);
    times.sort((a, b) => a - b);
    expect(times[10]!).toBeLessThan(15);
  });

  test("bad keys and lowers are refused", async () => {
    await expect(ctx.svc.prepareSnapshot("../x", img.busybox!.layers)).rejects.toBeInstanceOf(ImageError);
    await expect(ctx.svc.prepareSnapshot("ok", ["/nonexistent/lower"])).rejects.toBeInstanceOf(ImageError);
    await expect(ctx.svc.prepareSnapshot("ok", [])).rejects.toBeInstanceOf(ImageError);
  });
});

describe("images run (chroot into the snapshot as a smoke test)", () => {
  test("busybox sh, node -e, python job.py", async () => {
    for (const [name, argv, expectOut] of [
      ["busybox", ["echo", "hi"], "hi"],
      ["node", ["node", "-e", "console.log(1+1)"], "2"],
      ["python", ["python", "job.py"], "hello from job.py on python 3.12"],
    ] as const) {
      const snap = await ctx.svc.prepareSnapshot(`sbx_run_${name}`, img[name]!.layers);
      try {
        const r = chroot(snap.rootfs, [...argv]);
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain(expectOut);
        expect(r.status).toBe(0);
      } finally { await ctx.svc.removeSnapshot(`sbx_run_${name}`); }
    }
  });
});

describe("image config → process", () => {
  test("resolveUser from the image's /etc files", async () => {
    const l = img.busybox!.layers;
    const { svc } = ctx;
    expect(await svc.resolveUser(l, undefined)).toEqual({ uid: 0, gid: 0, additionalGids: [] });
    expect(await svc.resolveUser(l, "root")).toEqual({ uid: 0, gid: 0, additionalGids: [] });
    expect(await svc.resolveUser(l, "app")).toEqual({ uid: 1000, gid: 1000, additionalGids: [10] });
    expect(await svc.resolveUser(l, "app:wheel")).toEqual({ uid: 1000, gid: 10, additionalGids: [] });
    expect(await svc.resolveUser(l, "1000")).toEqual({ uid: 1000, gid: 1000, additionalGids: [10] });
    expect(await svc.resolveUser(l, "4242:4343")).toEqual({ uid: 4242, gid: 4343, additionalGids: [] });
    expect(await svc.resolveUser(l, "4242")).toEqual({ uid: 4242, gid: 0, additionalGids: [] });
    await expect(svc.resolveUser(l, "mallory")).rejects.toMatchObject({ code: "user_not_found" });
    await expect(svc.resolveUser(l, "app:nogroup2")).rejects.toMatchObject({ code: "group_not_found" });
    await expect(svc.resolveUser(l, "70000")).rejects.toMatchObject({ code: "invalid_user" });
  });
});

describe("garbage collection", () => {
  test("prune keeps what snapshots use and removes the rest", async () => {
    const c = makeService({ mirrors: reg.mirrors });
    const bb = await c.svc.resolve("busybox");
    const wh = await c.svc.resolve("whiteout");
    await c.svc.prepareSnapshot("sbx_gc", bb.layers);
    try {
      const r1 = await c.svc.prune();
      expect(r1.layers).toBe(0); // nothing unreferenced yet
      const r2 = await c.svc.prune({ all: true });
      expect(r2.images).toEqual(["docker.io/library/whiteout:latest"]);
      expect(existsSync(bb.layers[0]!)).toBe(true); // in use (shared with whiteout too)
      expect(existsSync(wh.layers[2]!)).toBe(false);
      expect(r2.layers).toBe(2);
      expect(readFileSync(join(snapRoot(c), "rootfs/bin/busybox")).length).toBeGreaterThan(0);
      const r3 = await c.svc.prune({ all: true, liveSnapshots: [] });
      expect(r3.snapshots).toEqual(["sbx_gc"]);
      expect(ls(c.paths.layers)).toEqual([]);
      expect(ls(join(c.paths.blobs, "sha256"))).toEqual([]);
      expect(c.svc.listImages()).toEqual([]);
    } finally { await c.svc.removeSnapshot("sbx_gc"); }
  });
});

const snapRoot = (c: ReturnType<typeof makeService>) => join(c.paths.snapshots, "sbx_gc");
