import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { startFixtureRegistry, nodeBinary, type FixtureRegistry } from "../../fixtures/images";
import { startProxy, type ProxyHandle } from "../../fixtures/registry";
import { ImageError } from "../../../src/images";
import { lgetxattr } from "../../../src/images/sys";
import { cleanupAll, join, ls, makeService } from "./helpers";

let reg: FixtureRegistry;
let proxy: ProxyHandle;

beforeAll(async () => {
  reg = await startFixtureRegistry();
  proxy = await startProxy(reg.url);
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  cleanupAll();
});

const mirrorTo = (url: string) => ({ mirrors: { "docker.io": url } });

async function expectImageError(p: Promise<unknown>, code: string): Promise<ImageError> {
  try { await p; } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    expect((e as ImageError).code).toBe(code);
    return e as ImageError;
  }
  throw new Error(`expected ImageError ${code}`);
}

describe("pull + unpack of every fixture", () => {
  test("busybox via the docker.io mirror: files, modes, shifted owners, applet links", async () => {
    const before = proxy.counts.size;
    const { svc } = makeService(mirrorTo(proxy.url));
    const progress: Record<string, { done: number; total: number }> = {};
    const img = await svc.resolve("busybox", (p) => { progress[p.layer] = p; });
    expect(img.reference).toBe("docker.io/library/busybox:latest");
    expect(img.digest).toBe(reg.images.busybox.digest);
    expect(img.layers).toHaveLength(1);
    expect(img.config.cmd).toEqual(["sh"]);
    const l = img.layers[0]!;
    const bb = statSync(join(l, "bin/busybox"));
    expect(bb.mode & 0o7777).toBe(0o755);
    expect(bb.uid).toBe(100000);
    expect(bb.size).toBe(statSync("/bin/busybox").size);
    expect(readlinkSync(join(l, "bin/sh"))).toBe("/bin/busybox");
    expect(lstatSync(join(l, "bin/sh")).uid).toBe(100000);
    expect(statSync(join(l, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(l, "root")).mode & 0o7777).toBe(0o700);
    expect(statSync(join(l, "home/app")).uid).toBe(101000);
    expect(statSync(l).uid).toBe(100000);
    for (const p of Object.values(progress)) expect(p.done).toBe(p.total);
    expect(Object.keys(progress)).toEqual(reg.images.busybox.blobs);
    expect(proxy.counts.size).toBeGreaterThan(before); // the mirror served it
  });

  test("node:22-alpine: node binary and its libraries on PATH", async () => {
    const { svc } = makeService(mirrorTo(reg.url));
    const img = await svc.resolve("docker.io/library/node:22-alpine");
    expect(img.layers).toHaveLength(2);
    const path = img.config.env.find((e) => e.startsWith("PATH="))!.slice(5);
    expect(await svc.resolveExecutable(img.layers, "node", path)).toBe("/usr/local/bin/node");
    expect(await svc.resolveExecutable(img.layers, "sh", path)).toBe("/bin/sh");
    expect(await svc.resolveExecutable(img.layers, "nope", path)).toBeNull();
    expect(statSync(join(img.layers[1]!, "usr/local/bin/node")).size).toBe(statSync(nodeBinary()).size);
    expect(ls(join(img.layers[1]!, "lib/x86_64-linux-gnu"))).toContain("libc.so.6");
  });

  test("python:3.12-slim short name, python resolvable", async () => {
    const { svc } = makeService(mirrorTo(reg.url));
    const img = await svc.resolve("python:3.12-slim");
    expect(img.reference).toBe("docker.io/library/python:3.12-slim");
    expect(await svc.resolveExecutable(img.layers, "python", "/usr/local/bin:/usr/bin:/bin")).toBe("/usr/local/bin/python");
    expect(readFileSync(join(img.layers[1]!, "job.py"), "utf8")).toContain("print");
  });

  test("multi-arch OCI index: host platform chosen, attestation skipped; arm64 selectable", async () => {
    const { svc } = makeService(mirrorTo(reg.url));
    const img = await svc.resolve("docker.io/library/multiarch:latest");
    expect(img.digest).toBe(reg.images.multiarch.digest);
    expect(readFileSync(join(img.layers.at(-1)!, "arch"), "utf8")).toBe("amd64\n");
    const { svc: arm } = makeService({ ...mirrorTo(reg.url), platform: { os: "linux", architecture: "arm64", variant: "v8" } });
    const a = await arm.resolve("multiarch");
    expect(readFileSync(join(a.layers.at(-1)!, "arch"), "utf8")).toBe("arm64\n");
    const { svc: s390 } = makeService({ ...mirrorTo(reg.url), platform: { os: "linux", architecture: "s390x" } });
    const e = await expectImageError(s390.resolve("multiarch"), "image_not_found");
    expect(e.details.available).toEqual(["linux/amd64", "linux/arm64/v8"]);
  });

  test("Docker v2s2 manifest list", async () => {
    const { svc } = makeService(mirrorTo(reg.url));
    const img = await svc.resolve("dockerlist");
    expect(img.digest).toBe(reg.images.dockerlist.digest);
    expect(readFileSync(join(img.layers.at(-1)!, "arch"), "utf8")).toBe("amd64\n");
  });

  test("whiteouts become overlay whiteouts and opaque markers", async () => {
    const { svc } = makeService(mirrorTo(reg.url));
    const img = await svc.resolve("whiteout");
    const top = img.layers[2]!;
    const wh = lstatSync(join(top, "data/gone"));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(lstatSync(join(top, "gonedir")).isCharacterDevice()).toBe(true);
    expect(lgetxattr(join(top, "opq"), "trusted.overlay.opaque")?.toString()).toBe("y");
    expect(ls(join(top, "opq"))).toEqual(["new"]);
    expect(ls(join(img.layers[1]!, "data"))).toEqual(["gone", "keep"]);
  });

  test("zstd layer with a hard link", async () => {
    const { svc } = makeService(mirrorTo(reg.url));
    const img = await svc.resolve("zstd");
    const l = img.layers[1]!;
    expect(readFileSync(join(l, "zstd.txt"), "utf8")).toBe("compressed with zstd\n");
    expect(statSync(join(l, "hard.txt")).ino).toBe(statSync(join(l, "zstd.txt")).ino);
  });

  test("plain-HTTP registry by host:port, digest references, and a warm resolve stays local", async () => {
    const { svc } = makeService({ insecureRegistries: [proxy.host] });
    const ref = `${proxy.host}/library/busybox@${reg.images.busybox.digest}`;
    const img = await svc.resolve(ref);
    expect(img.reference).toBe(ref);
    const n = [...proxy.counts.values()].reduce((a, b) => a + b, 0);
    const again = await svc.resolve(ref);
    expect(again.layers).toEqual(img.layers);
    expect([...proxy.counts.values()].reduce((a, b) => a + b, 0)).toBe(n);
  });
});

describe("errors", () => {
  test("invalid reference is a 400 naming it", async () => {
    const { svc } = makeService(mirrorTo(reg.url));
    const e = await expectImageError(svc.resolve("Not A Ref!!"), "invalid_reference");
    expect(e.status).toBe(400);
    expect(e.message).toContain("Not A Ref!!");
  });

  test("unknown image is image_not_found (404)", async () => {
    const { svc } = makeService(mirrorTo(reg.url));
    const e = await expectImageError(svc.resolve("docker.io/library/nope:1"), "image_not_found");
    expect(e.status).toBe(404);
    await expectImageError(svc.resolve("busybox:no-such-tag"), "image_not_found");
  });

  test("unreachable registry is registry_unreachable (502)", async () => {
    const { svc } = makeService({ ...mirrorTo("http://127.0.0.1:9"), retries: 1, backoffMs: 10 });
    const e = await expectImageError(svc.resolve("busybox"), "registry_unreachable");
    expect(e.status).toBe(502);
  });

  test("5xx/429 are retried with backoff; blob redirects are followed", async () => {
    const flaky = await startProxy(reg.url, { fail: { match: /\/manifests\//, times: 2, status: 503 }, redirectBlobs: true });
    try {
      const { svc } = makeService({ ...mirrorTo(flaky.url), retries: 3, backoffMs: 10 });
      const img = await svc.resolve("busybox");
      expect(img.layers).toHaveLength(1);
      expect([...flaky.counts.keys()].some((k) => k.startsWith("GET /redirected/"))).toBe(true);
    } finally { await flaky.stop(); }
    const limited = await startProxy(reg.url, { fail: { match: /\/blobs\//, times: 1, status: 429 } });
    try {
      const { svc } = makeService({ ...mirrorTo(limited.url), retries: 2, backoffMs: 10 });
      expect((await svc.resolve("busybox")).layers).toHaveLength(1);
    } finally { await limited.stop(); }
  });
});

describe("concurrency", () => {
  test("ten concurrent pulls of one image (and a sibling sharing a layer) fetch each blob once", async () => {
    const counting = await startProxy(reg.url);
    try {
      const { svc } = makeService(mirrorTo(counting.url));
      const results = await Promise.all([
        ...Array.from({ length: 10 }, () => svc.resolve("docker.io/library/node:22-alpine")),
        svc.resolve("whiteout"), // shares the busybox layer
      ]);
      expect(new Set(results.slice(0, 10).map((r) => r.layers.join()))).toHaveLength(1);
      for (const b of reg.images.node.blobs) expect(counting.blobGets(b)).toBe(1);
      expect(counting.blobGets(reg.images.node.configDigest)).toBe(1);
      expect(svc.stats.layerUnpacks).toBe(4); // busybox, node, 2 whiteout layers
    } finally { await counting.stop(); }
  });

  test("two services (separate stores) pulling at once do not interfere", async () => {
    const a = makeService(mirrorTo(reg.url));
    const b = makeService(mirrorTo(reg.url));
    const [x, y] = await Promise.all([a.svc.resolve("zstd"), b.svc.resolve("zstd")]);
    expect(x.diffIds).toEqual(y.diffIds);
  });
});
