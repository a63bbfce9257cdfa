import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { HOSTILE_MARKER, startFixtureRegistry, type FixtureName, type FixtureRegistry } from "../../fixtures/images";
import { startProxy } from "../../fixtures/registry";
import { ImageError } from "../../../src/images";
import { cleanupAll, join, ls, makeService } from "./helpers";

let reg: FixtureRegistry;
const hostile: FixtureName[] = ["dotdot", "absolute", "symlinkEscape", "symlinkTraverse", "device", "hardlinkEscape", "bomb"];

beforeAll(async () => { reg = await startFixtureRegistry({ only: ["busybox", ...hostile] }); });
afterAll(async () => { await reg?.stop(); cleanupAll(); });

const escapes = () => readdirSync("/tmp").filter((n) => n.startsWith(HOSTILE_MARKER));

function expectNothingLeft(paths: { layers: string; tmp: string; blobs: string }, keepBlobs = 0) {
  expect(ls(paths.layers)).toEqual([]);
  expect(ls(paths.tmp)).toEqual([]);
  // only manifest + config blobs (verified metadata) may remain, never a refused layer's blob
  expect(ls(join(paths.blobs, "sha256")).length).toBeLessThanOrEqual(keepBlobs);
}

describe("hostile layers are refused and leave nothing behind", () => {
  for (const kind of hostile) {
    test(kind, async () => {
      const { svc, paths } = makeService({ mirrors: { "docker.io": reg.url } });
      const t0 = performance.now();
      let err: unknown;
      try { await svc.resolve(`docker.io/${reg.images[kind].name}`); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ImageError);
      expect((err as ImageError).code).toBe("layer_rejected");
      expect((err as ImageError).status).toBe(422);
      if (kind === "bomb") {
        expect((err as ImageError).message).toContain("bomb");
        expect(performance.now() - t0).toBeLessThan(5000);
      }
      expect(escapes()).toEqual([]);
      expectNothingLeft(paths, 2);
      expect(svc.listImages()).toEqual([]);
    });
  }
});

describe("digest verification", () => {
  test("a tampered layer blob is digest_mismatch and nothing is stored", async () => {
    const target = reg.images.busybox.blobs[0]!;
    const evil = await startProxy(reg.url, { tamper: (path, body) => (path.endsWith(target) ? Uint8Array.from(body, (b, i) => (i === body.length - 10 ? b ^ 0xff : b)) : undefined) });
    try {
      const { svc, paths } = makeService({ mirrors: { "docker.io": evil.url } });
      let err: unknown;
      try { await svc.resolve("busybox"); } catch (e) { err = e; }
      expect((err as ImageError).code).toBe("digest_mismatch");
      expectNothingLeft(paths, 2);
    } finally { await evil.stop(); }
  });

  test("a tampered config blob is digest_mismatch", async () => {
    const cfg = reg.images.busybox.configDigest;
    const evil = await startProxy(reg.url, { tamper: (path, body) => (path.endsWith(cfg) ? new TextEncoder().encode(new TextDecoder().decode(body).replace("sh", "xx")) : undefined) });
    try {
      const { svc, paths } = makeService({ mirrors: { "docker.io": evil.url } });
      let err: unknown;
      try { await svc.resolve("busybox"); } catch (e) { err = e; }
      expect((err as ImageError).code).toBe("digest_mismatch");
      expect(ls(paths.layers)).toEqual([]);
    } finally { await evil.stop(); }
  });

  test("a manifest that does not match its pinned digest is digest_mismatch", async () => {
    const { svc } = makeService({ mirrors: { "docker.io": reg.url } });
    const wrong = `busybox@sha256:${"0".repeat(64)}`;
    let err: unknown;
    try { await svc.resolve(wrong); } catch (e) { err = e; }
    // the registry itself refuses an unknown digest → not found; both are refusals
    expect(["image_not_found", "digest_mismatch"]).toContain((err as ImageError).code);
    expect(existsSync("/tmp/never")).toBe(false);
  });
});
