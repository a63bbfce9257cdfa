// Launch benchmark (not part of `bun test`): `bun test/bench/launch.bench.ts`
//   (a) bare `crun run` of an equivalent bundle (same generated config.json, same rootfs)
//   (b) Nimbus container backend start() → running
//   (c) `podman run --rm --network none` (with the ulimits this host needs), when installed
// 50 sequential and 20 concurrent launches each; prints p50/p95 and ratios; the last line is
// the headline ratio.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createContainerBackend, ociConfig, preflight } from "../../src/runtime/index.ts";
import { dataPaths } from "../../src/host/paths.ts";
import { busyboxRootfs } from "../fixtures/busybox-rootfs.ts";

const SEQ = 50;
const CONC = 20;
const pf = preflight({ fix: true });
if (!pf.ok) throw new Error(`preflight: ${JSON.stringify(pf.checks.filter((c) => !c.ok))}`);
const root = mkdtempSync("/tmp/nbench-");
const paths = dataPaths(root);
const rootfs = busyboxRootfs();
const backend = createContainerBackend({ paths });
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms  p95 ${pct(xs, 95).toFixed(1)} ms`;
let n = 0;
const req = (argv: string[]) => {
  const id = `b${process.pid}x${n++}`;
  return { id, rootfs, hostname: id, process: { argv, env: {}, cwd: "/", uid: 0, gid: 0 }, resources: { cpu: 1, memoryMiB: 128, pids: 128 } };
};

// (a) crun run: the process is `true`, so run returns right after the container started and exited
const crunRoot = join(root, "crun-state");
const crunOnce = async () => {
  const r = req(["true"]);
  const bundle = join(root, "bundles", r.id);
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, "config.json"), JSON.stringify(ociConfig(r)));
  const t = performance.now();
  const p = Bun.spawn(["crun", "--root", crunRoot, "run", "--bundle", bundle, r.id], { stdio: ["ignore", "ignore", "inherit"] });
  const code = await p.exited;
  const dt = performance.now() - t;
  if (code !== 0) throw new Error(`crun run exited ${code}`);
  rmSync(bundle, { recursive: true, force: true });
  return dt;
};

// (b) Nimbus: start() resolves once the process runs (monitor reported the pid)
const nimbusOnce = async () => {
  const r = req(["sleep", "30"]);
  const t = performance.now();
  await backend.start(r);
  const dt = performance.now() - t;
  void backend.stop(r.id, 0).then(() => backend.delete(r.id));
  return dt;
};

const podman = Bun.which("podman");
const podmanImage = "localhost/nimbus-bench-busybox:latest";
let podmanReady = false;
if (podman) {
  const have = Bun.spawnSync([podman, "image", "exists", podmanImage]).exitCode === 0;
  if (!have) {
    const r = Bun.spawnSync(["sh", "-c", `tar -C ${rootfs} --exclude=.complete --numeric-owner --owner=0 --group=0 -c . | ${podman} import - ${podmanImage}`]);
    podmanReady = r.exitCode === 0;
    if (!podmanReady) console.log(`podman: import failed: ${r.stderr.toString().trim()}`);
  } else podmanReady = true;
}
const podmanOnce = async () => {
  const t = performance.now();
  const p = Bun.spawn([podman!, "run", "--rm", "--network", "none", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768", podmanImage, "true"], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  const code = await p.exited;
  if (code !== 0) throw new Error(`podman run exited ${code}`);
  return performance.now() - t;
};

const seq = async (f: () => Promise<number>) => {
  await f(); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < SEQ; i++) xs.push(await f());
  return xs;
};
const conc = async (f: () => Promise<number>) => {
  const t = performance.now();
  const xs = await Promise.all(Array.from({ length: CONC }, f));
  return { each: xs, wall: performance.now() - t };
};

try {
  const results: Record<string, { seq: number[]; conc: { each: number[]; wall: number } }> = {};
  results.crun = { seq: await seq(crunOnce), conc: await conc(crunOnce) };
  results.nimbus = { seq: await seq(nimbusOnce), conc: await conc(nimbusOnce) };
  await Bun.sleep(500);
  if (podmanReady) results.podman = { seq: await seq(podmanOnce), conc: await conc(podmanOnce) };
  else console.log(podman ? "podman: image unavailable, skipped" : "podman: not installed, skipped (install with `make bench` / apt-get install podman)");

  for (const [name, r] of Object.entries(results)) {
    console.log(`${name.padEnd(7)} sequential x${SEQ}: ${fmt(r.seq)}   concurrent x${CONC}: ${fmt(r.conc.each)}  wall ${r.conc.wall.toFixed(0)} ms`);
  }
  const a = pct(results.crun!.seq, 50);
  const b = pct(results.nimbus!.seq, 50);
  console.log(`ratio nimbus/crun  sequential p50 ${(b / a).toFixed(2)}x  concurrent p50 ${(pct(results.nimbus!.conc.each, 50) / pct(results.crun!.conc.each, 50)).toFixed(2)}x`);
  if (results.podman) {
    const c = pct(results.podman.seq, 50);
    console.log(`ratio podman/nimbus sequential p50 ${(c / b).toFixed(2)}x  concurrent p50 ${(pct(results.podman.conc.each, 50) / pct(results.nimbus!.conc.each, 50)).toFixed(2)}x`);
    console.log(`HEADLINE: nimbus start p50 ${b.toFixed(1)} ms = ${(b / a).toFixed(2)}x bare crun run (${a.toFixed(1)} ms), ${(c / b).toFixed(1)}x faster than podman run (${c.toFixed(1)} ms)`);
  } else {
    console.log(`HEADLINE: nimbus start p50 ${b.toFixed(1)} ms = ${(b / a).toFixed(2)}x bare crun run (${a.toFixed(1)} ms); podman not measured`);
  }
} finally {
  await Bun.sleep(300);
  await backend.reconcile([]);
  rmSync(root, { recursive: true, force: true });
}
