// Pull benchmark (not a timed test): cold pull+unpack of the ~40 MB node fixture through our
// image service vs `skopeo copy` + `umoci unpack` of the same image from the same local
// registry; then warm prepare (overlay snapshot of an already-pulled image).
// Run: ./node_modules/.bin/bun test/bench/pull.bench.ts [runs]
import { mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { Database } from "bun:sqlite";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { startFixtureRegistry } from "../fixtures/images";
import { dataPaths } from "../../src/host/paths";
import { createImageService, IMAGE_TABLES_DDL } from "../../src/images";

const runs = Number(process.argv[2] ?? 5);
const p50 = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

const reg = await startFixtureRegistry({ only: ["node"] });
const ref = `${reg.host}/library/node:22-alpine`;
const size = reg.images.node.blobs.length;
console.log(`registry ${reg.url}, image ${ref} (${size} layers)`);

function service(root: string) {
  const db = new Database(":memory:");
  db.exec(IMAGE_TABLES_DDL);
  return createImageService({ paths: dataPaths(root), db: drizzle(db), createTables: false, insecureRegistries: [reg.host], credentialsFile: [] });
}

const ours: number[] = [];
const theirs: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const root = mkdtempSync("/var/tmp/nimbus-bench-");
    spawnSync("sync");
    const t0 = performance.now();
    await service(root).resolve(ref);
    ours.push(performance.now() - t0);
    rmSync(root, { recursive: true, force: true });

    const dir = mkdtempSync("/var/tmp/nimbus-bench-skopeo-");
    spawnSync("sync");
    const t1 = performance.now();
    const c = spawnSync("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `oci:${dir}/oci:latest`], { encoding: "utf8" });
    if (c.status !== 0) throw new Error(`skopeo: ${c.stderr}`);
    const u = spawnSync("umoci", ["unpack", "--image", `${dir}/oci:latest`, `${dir}/bundle`], { encoding: "utf8" });
    if (u.status !== 0) throw new Error(`umoci: ${u.stderr}`);
    theirs.push(performance.now() - t1);
    rmSync(dir, { recursive: true, force: true });
    console.log(`run ${i + 1}: nimbus ${fmt(ours.at(-1)!)}  skopeo+umoci ${fmt(theirs.at(-1)!)}`);
  }

  const root = mkdtempSync("/var/tmp/nimbus-bench-warm-");
  const svc = service(root);
  const img = await svc.resolve(ref);
  const warm: number[] = [];
  const warmResolve: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const again = await svc.resolve(ref);
    const t1 = performance.now();
    await svc.prepareSnapshot(`bench${i}`, again.layers);
    warm.push(performance.now() - t1);
    warmResolve.push(t1 - t0 + (performance.now() - t1));
  }
  for (let i = 0; i < 50; i++) await svc.removeSnapshot(`bench${i}`);
  rmSync(root, { recursive: true, force: true });
  void img;

  const a = p50(ours), b = p50(theirs);
  console.log(`cold pull+unpack p50: nimbus ${fmt(a)} vs skopeo copy + umoci unpack ${fmt(b)} (ratio ${(a / b).toFixed(2)}x, goal ≤ 1.0x)`);
  console.log(`warm prepareSnapshot p50: ${fmt(p50(warm))} (goal ≤ 10 ms); resolve(local)+prepare p50: ${fmt(p50(warmResolve))}`);
  console.log(`headline: cold pull+unpack ${(a / b).toFixed(2)}x of skopeo+umoci; warm prepare ${fmt(p50(warm))}`);
} finally {
  await reg.stop();
}
