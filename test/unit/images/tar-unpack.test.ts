import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { TarReader, tarArchive, type TarHeader } from "../../../src/images/tar";
import { LayerUnpacker } from "../../../src/images/unpack";
import { ImageError } from "../../../src/images";
import { lgetxattr } from "../../../src/images/sys";
import { parseChallenge } from "../../../src/images/registry";

const base = mkdtempSync("/var/tmp/nimbus-unpack-unit-");
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

async function unpack(tar: Uint8Array, chunk = 777, limits?: any) {
  const dir = join(base, `l${n++}`);
  const u = new LayerUnpacker(dir, limits);
  const data = gzipSync(tar);
  for (let i = 0; i < data.length; i += chunk) await u.write(data.subarray(i, i + chunk));
  return { dir, result: await u.end() };
}

describe("tar reader", () => {
  test("round trip: long names (PAX), long link targets, xattrs, odd chunking", () => {
    const long = "d/" + "x".repeat(150) + "/file";
    const tar = tarArchive([
      { name: "d", type: "dir" },
      { name: long, data: new TextEncoder().encode("abc"), mode: 0o4755, uid: 5, gid: 6 },
      { name: "l", type: "symlink", linkname: "/" + "y".repeat(200) },
      { name: "x", data: new Uint8Array(1000).fill(7), xattrs: { "user.k": "v" } },
    ]);
    for (const size of [1, 13, 512, 100000]) {
      const seen: Array<TarHeader & { body: number }> = [];
      let body = 0;
      const r = new TarReader({ entry: (h) => { seen.push({ ...h, body: 0 }); body = 0; }, data: (c) => { body += c.length; }, endEntry: () => { seen.at(-1)!.body = body; } });
      for (let i = 0; i < tar.length; i += size) r.push(tar.subarray(i, i + size));
      r.finish();
      expect(seen.map((s) => s.name)).toEqual(["d", long, "l", "x"]);
      expect(seen[1]!.mode).toBe(0o4755);
      expect([seen[1]!.uid, seen[1]!.gid, seen[1]!.body]).toEqual([5, 6, 3]);
      expect(seen[2]!.linkname).toBe("/" + "y".repeat(200));
      expect(seen[3]!.xattrs["user.k"]!.toString()).toBe("v");
      expect(seen[3]!.body).toBe(1000);
    }
  });

  test("a corrupt header is refused", () => {
    const tar = tarArchive([{ name: "a", data: new Uint8Array(3) }]);
    tar[0] = "b".charCodeAt(0);
    const r = new TarReader({ entry() {}, data() {}, endEntry() {} });
    expect(() => r.push(tar)).toThrow("checksum");
  });
});

describe("layer unpacker", () => {
  test("files, modes, shifted owners, xattrs, hard links, setuid after chown, diff id", async () => {
    const tar = tarArchive([
      { name: "./", type: "dir", mode: 0o755 },
      { name: "./bin/", type: "dir" },
      { name: "./bin/tool", data: new TextEncoder().encode("#!/bin/sh\n"), mode: 0o4755, uid: 0, gid: 0 },
      { name: "./bin/link", type: "hardlink", linkname: "./bin/tool" },
      { name: "./home/u/f", data: new Uint8Array(5), uid: 1000, gid: 1000, xattrs: { "user.tag": "x", "trusted.overlay.redirect": "/evil" } },
      { name: "./rel", type: "symlink", linkname: "bin/tool" },
      { name: "./fifo", type: "fifo", mode: 0o600 },
    ]);
    const { dir, result } = await unpack(tar);
    expect(result.diffId).toBe(`sha256:${new Bun.CryptoHasher("sha256").update(tar).digest("hex")}`);
    const st = statSync(join(dir, "bin/tool"));
    expect(st.mode & 0o7777).toBe(0o4755);
    expect([st.uid, st.gid, st.nlink]).toEqual([100000, 100000, 2]);
    expect(statSync(join(dir, "home/u/f")).uid).toBe(101000);
    expect(statSync(join(dir, "home")).uid).toBe(100000); // implied parent
    expect(lgetxattr(join(dir, "home/u/f"), "user.tag")?.toString()).toBe("x");
    expect(lgetxattr(join(dir, "home/u/f"), "trusted.overlay.redirect")).toBeNull(); // never trusted.* from an image
    expect(readlinkSync(join(dir, "rel"))).toBe("bin/tool");
    expect(lstatSync(join(dir, "fifo")).isFIFO()).toBe(true);
  });

  test("a later entry replaces an earlier one; a file may become a directory", async () => {
    const { dir } = await unpack(tarArchive([
      { name: "a", data: new TextEncoder().encode("1") },
      { name: "a", data: new TextEncoder().encode("2") },
      { name: "b", data: new TextEncoder().encode("file") },
      { name: "b", type: "dir" },
      { name: "b/c", data: new TextEncoder().encode("c") },
    ]));
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("2");
    expect(readFileSync(join(dir, "b/c"), "utf8")).toBe("c");
  });

  const refuse: Array<[string, Parameters<typeof tarArchive>[0]]> = [
    ["dotdot", [{ name: "../x", data: new Uint8Array(1) }]],
    ["absolute", [{ name: "/etc/x", data: new Uint8Array(1) }]],
    ["escaping symlink", [{ name: "a/b", type: "symlink", linkname: "../../x" }]],
    ["through symlink", [{ name: "s", type: "symlink", linkname: "/etc" }, { name: "s/passwd", data: new Uint8Array(1) }]],
    ["char device", [{ name: "null", type: "char", devmajor: 1, devminor: 3 }]],
    ["hardlink outside", [{ name: "h", type: "hardlink", linkname: "../etc/passwd" }]],
    ["hardlink missing", [{ name: "h", type: "hardlink", linkname: "nothere" }]],
    ["uid out of range", [{ name: "f", data: new Uint8Array(1), uid: 70000 }]],
  ];
  for (const [name, entries] of refuse) {
    test(`refuses ${name}`, async () => {
      let e: unknown;
      try { await unpack(tarArchive(entries)); } catch (x) { e = x; }
      expect(e).toBeInstanceOf(ImageError);
      expect((e as ImageError).code).toBe("layer_rejected");
    });
  }

  test("ratio bound stops a bomb early", async () => {
    const tar = tarArchive([{ name: "z", data: new Uint8Array(8 * 1024 * 1024) }]);
    let e: unknown;
    try { await unpack(tar, 65536, { maxBytes: 1e12, maxRatio: 20, ratioFloor: 1024 * 1024, maxEntries: 100 }); } catch (x) { e = x; }
    expect((e as ImageError).code).toBe("layer_rejected");
    expect((e as ImageError).message).toContain("bomb");
  });

  test("truncated stream is refused", async () => {
    const tar = tarArchive([{ name: "z", data: new Uint8Array(10000) }]).subarray(0, 3000);
    let e: unknown;
    try { await unpack(tar); } catch (x) { e = x; }
    expect((e as ImageError).code).toBe("layer_rejected");
  });
});

describe("auth challenge parsing", () => {
  test("bearer with quoted params", () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull"')).toEqual({
      scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/node:pull" },
    });
    expect(parseChallenge('Basic realm="x"')?.scheme).toBe("basic");
  });
});
void existsSync;
