// A prepared root filesystem (operator's host directory, owned by host root) as a snapshot
// lower through an idmapped mount: shown shifted into the container id range, never modified.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { ImageError } from "../../../src/images";
import { ID_MAP } from "../../../src/host/idmap";
import { containerUsernsFd } from "../../../src/images/idmap-mount";
import { cleanupAll, isMounted, join, makeService } from "./helpers";
import { setupHarness, sh, uid, type Harness } from "../runtime/harness";
import { rootOwnedRootfs } from "../../fixtures/busybox-rootfs";

let ctx: ReturnType<typeof makeService>;
let prepared: string;

const mountCount = () => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter(Boolean).length;
const mountsUnder = (p: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => (l.split(" ")[4] ?? "").startsWith(p));

/** Recursive listing (path, uid, gid, mode, mtime, size) to prove a directory was not changed. */
function fingerprint(dir: string): string {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p);
    out.push(`${p.slice(dir.length)} ${st.uid}:${st.gid} ${st.mode.toString(8)} ${st.mtimeMs} ${st.size}`);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
  };
  walk(dir);
  return out.join("\n");
}

beforeAll(() => {
  ctx = makeService();
  prepared = rootOwnedRootfs("/var/tmp");
});

afterAll(async () => {
  for (const s of ctx?.svc.listSnapshots() ?? []) await ctx.svc.removeSnapshot(s.key).catch(() => {});
  cleanupAll();
  if (prepared) spawnSync("rm", ["-rf", prepared]);
});

describe("prepared rootfs through an idmapped lower", () => {
  test("the container user namespace fd maps 0..65535 onto the host id range, and is cached", async () => {
    const fd = await containerUsernsFd();
    expect(await containerUsernsFd()).toBe(fd);
    expect(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8")).toMatch(/flags:\s*0?2\d{5}/); // O_CLOEXEC
    expect(ID_MAP).toEqual({ hostBase: 100000, size: 65536 });
  });

  test("owners show shifted by +100000 in the overlay, the original stays host-owned and untouched", async () => {
    const before = fingerprint(prepared);
    const mountsBefore = mountCount();
    const snap = await ctx.svc.prepareSnapshot("prep_idmap", [prepared], { idmapLowers: true });
    try {
      expect(isMounted(snap.rootfs)).toBe(true);
      // exactly one new mount: the idmapped lower is detached once the overlay holds it
      expect(mountCount()).toBe(mountsBefore + 1);
      for (const p of ["", "bin/busybox", "etc/passwd", "root", "root/secret", "srv/data"]) {
        expect(statSync(join(snap.rootfs, p)).uid).toBe(ID_MAP.hostBase);
        expect(statSync(join(snap.rootfs, p)).gid).toBe(ID_MAP.hostBase);
        expect(statSync(join(prepared, p)).uid).toBe(0);
      }
      expect(lstatSync(join(snap.rootfs, "bin/sh")).uid).toBe(ID_MAP.hostBase);
      expect(statSync(join(snap.rootfs, "home/user")).uid).toBe(ID_MAP.hostBase + 1000);
      expect(statSync(join(snap.rootfs, "root")).mode & 0o7777).toBe(0o700);

      // writes go to the upper; copy-up keeps the shifted owner and the mode
      writeFileSync(join(snap.rootfs, "srv/data"), "changed\n");
      writeFileSync(join(snap.rootfs, "root/new"), "n");
      const upper = join(ctx.paths.snapshots, "prep_idmap/upper");
      expect(readFileSync(join(upper, "srv/data"), "utf8")).toBe("changed\n");
      expect(statSync(join(upper, "srv/data")).uid).toBe(ID_MAP.hostBase);
      expect(statSync(join(upper, "srv")).uid).toBe(ID_MAP.hostBase);
      expect(statSync(join(upper, "root")).uid).toBe(ID_MAP.hostBase);
      expect(statSync(join(upper, "root")).mode & 0o7777).toBe(0o700);
      expect(readFileSync(join(snap.rootfs, "srv/data"), "utf8")).toBe("changed\n");

      // listSnapshots reports the operator's directory as the lower (prune never touches it)
      expect(ctx.svc.listSnapshots().find((s) => s.key === "prep_idmap")?.lowers).toEqual([prepared]);
      // idempotent
      expect((await ctx.svc.prepareSnapshot("prep_idmap", [prepared], { idmapLowers: true })).rootfs).toBe(snap.rootfs);
      expect(mountCount()).toBe(mountsBefore + 1);
    } finally {
      await ctx.svc.removeSnapshot("prep_idmap");
    }
    expect(isMounted(snap.rootfs)).toBe(false);
    expect(mountsUnder(join(ctx.paths.snapshots, "prep_idmap"))).toEqual([]);
    expect(mountCount()).toBe(mountsBefore);
    expect(existsSync(join(ctx.paths.snapshots, "prep_idmap"))).toBe(false);
    expect(fingerprint(prepared)).toBe(before);
    expect(readFileSync(join(prepared, "srv/data"), "utf8")).toBe("original\n");
    await ctx.svc.removeSnapshot("prep_idmap"); // idempotent
  });

  test("no mounts leak over repeated prepare/remove, and prune keeps the prepared dir", async () => {
    const before = mountCount();
    for (let i = 0; i < 10; i++) await ctx.svc.prepareSnapshot(`prep_many${i}`, [prepared], { idmapLowers: true });
    expect(mountCount()).toBe(before + 10);
    const r = await ctx.svc.prune({ liveSnapshots: ["prep_many0"] });
    expect(r.snapshots.sort()).toEqual(Array.from({ length: 9 }, (_, i) => `prep_many${i + 1}`).sort());
    expect(mountCount()).toBe(before + 1);
    await ctx.svc.removeSnapshot("prep_many0");
    expect(mountCount()).toBe(before);
    expect(existsSync(join(prepared, "bin/busybox"))).toBe(true);
  });

  test("an idmapped lower left attached by an interrupted prepare is unmounted, not deleted through", async () => {
    const { mountIdmapped } = await import("../../../src/images/idmap-mount");
    const dir = join(ctx.paths.snapshots, "prep_crash");
    mkdirSync(join(dir, "lower-idmapped/0"), { recursive: true });
    await mountIdmapped(prepared, join(dir, "lower-idmapped/0"));
    expect(statSync(join(dir, "lower-idmapped/0/etc/passwd")).uid).toBe(ID_MAP.hostBase);
    await ctx.svc.removeSnapshot("prep_crash");
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(join(prepared, "etc/passwd"))).toBe(true);
    expect(mountsUnder(dir)).toEqual([]);
  });

  test("without idmapLowers the directory is used as-is (already shifted layers)", async () => {
    const snap = await ctx.svc.prepareSnapshot("prep_plain", [prepared]);
    try { expect(statSync(join(snap.rootfs, "etc/passwd")).uid).toBe(0); } finally { await ctx.svc.removeSnapshot("prep_plain"); }
  });

  test("keys '.' and '..' are refused", async () => {
    await expect(ctx.svc.prepareSnapshot("..", [prepared], { idmapLowers: true })).rejects.toBeInstanceOf(ImageError);
    await expect(ctx.svc.removeSnapshot("..")).rejects.toBeInstanceOf(ImageError);
    await expect(ctx.svc.removeSnapshot(".")).rejects.toBeInstanceOf(ImageError);
  });
});

describe("a container on a prepared rootfs", () => {
  let h: Harness;
  beforeAll(() => {
    h = setupHarness();
    chmodSync(ctx.root, 0o711); // mkdtemp made it 0700: container root (host 100000) must traverse to the rootfs
  });
  afterAll(async () => { await h?.cleanup(); });

  test("runs as container root that owns the tree: id -u is 0, /root is readable and writable", async () => {
    const snap = await ctx.svc.prepareSnapshot("prep_ctr", [prepared], { idmapLowers: true });
    try {
      const id = uid("prep");
      h.ids.add(id);
      const script = "id -u; id -g; ls -ln /root; cat /root/secret; touch /root/x && echo touched; stat -c '%u %g %a' /root /etc/passwd /root/x; " +
        "mkdir /srv/new && echo made; echo hi > /etc/motd && cat /etc/motd";
      await h.backend.start({ ...h.req(id, sh(script)), rootfs: snap.rootfs });
      const exit = await h.waitExit(id, 15_000);
      const out = h.stdout(id);
      expect({ exit: exit.code, out, err: h.stderr(id) }).toMatchObject({ exit: 0 });
      const lines = out.trim().split("\n");
      expect(lines[0]).toBe("0");
      expect(lines[1]).toBe("0");
      expect(out).toMatch(/-rw------- +1 0 +0 .* secret/);
      expect(out).toContain("only root reads this");
      expect(out).toContain("touched");
      expect(out).toContain("0 0 700\n0 0 644\n0 0 644");
      expect(out).toContain("made\nhi");
      const upper = join(ctx.paths.snapshots, "prep_ctr/upper");
      expect(statSync(join(upper, "root/x")).uid).toBe(ID_MAP.hostBase);
      expect(statSync(join(upper, "srv/new")).uid).toBe(ID_MAP.hostBase);
      expect(existsSync(join(prepared, "root/x"))).toBe(false);
      expect(existsSync(join(prepared, "etc/motd"))).toBe(false);
      await h.backend.delete(id);
      h.ids.delete(id);
    } finally {
      await ctx.svc.removeSnapshot("prep_ctr");
    }
    expect(mountsUnder(join(ctx.paths.snapshots, "prep_ctr"))).toEqual([]);
  }, 30_000);
});
