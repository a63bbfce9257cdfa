// Sandboxes API benchmark (not part of `bun test`): `bun test/bench/sandboxes.bench.ts` (after `make build`).
// One run against the compiled server with the offline fixture registry mirrored as docker.io,
// busybox pulled once before anything is timed (cached image):
//   (1) HTTP create → `ready` observed by the client: from just before POST to the first GET
//       answer showing `ready` (sequential: GET by id every 2 ms; concurrent: one list poller
//       every 5 ms, so the polling itself does not swamp the server). Sequential x50, then 20
//       and 50 at once. Each Nimbus sandbox runs `sleep 600` and is stopped + deleted (untimed).
//   Peers, same run, same readiness point ("the process is running"):
//     - bare `crun run --detach` of an equivalent bundle: the same busybox content (a rootfs
//       dir owned by the mapped container root) and the config Nimbus itself generates
//       (ociConfig: user + network namespaces, seccomp, cgroup limits), process `sleep 600`;
//       `crun run -d` returns once the process runs. Deleted (untimed) after each.
//     - `podman run -d --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768`
//       of the same rootfs imported as an image, `sleep 600`; skipped if podman is absent.
//   (2) list/get requests per second with 1,000 sandbox records in the tenant (records made
//       cheaply: an argv whose executable is not in the image fails fast in `preparing`, so
//       no container is started; each row has the full resource shape).
// Everything created is stopped and deleted at the end, also on failure. Last line: headline.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ociConfig } from "../../src/runtime/spec.ts";
import { startFixtureRegistry, type FixtureRegistry } from "../fixtures/images.ts";
import { busyboxRootfs } from "../fixtures/busybox-rootfs.ts";
import { cleanupDirs, startServer, type ServerHandle } from "../e2e/harness.ts";
import { serverArgs } from "../e2e/world";

const SEQ = 50;
const CONCURRENT = [20, 50];
const RECORDS = 1000;
const RPS_MS = 2000;
const RPS_CONCURRENCY = 32;
const TENANT = "bench";
const IMAGE = "docker.io/library/busybox:latest";
const BATCH_LABEL = "bench-batch";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const fmt = (xs: number[]) => (xs.length ? `p50 ${pct(xs, 50).toFixed(1)} ms  p95 ${pct(xs, 95).toFixed(1)} ms  max ${Math.max(...xs).toFixed(1)} ms` : "n/a");
const pool = async <T, R>(items: T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> => {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i] as T);
      }
    }),
  );
  return out;
};

let registry: FixtureRegistry | undefined;
let server: ServerHandle | undefined;
const created = new Set<string>(); // every Nimbus sandbox id not yet deleted
const crunLive = new Set<string>();
const podmanLive = new Set<string>();
const scratch = mkdtempSync(join(tmpdir(), "nimbus-sbx-bench-"));
const crunRoot = join(scratch, "crun-state");
const podman = Bun.which("podman");
const PODMAN_IMAGE = "localhost/nimbus-bench-busybox:latest";

const sbPath = (p = "") => `/api/tenants/${TENANT}/sandboxes${p}`;
const spec = (argv: string[]) => ({
  owner: { kind: "standalone", displayName: "bench" },
  backend: "container",
  root: { kind: "oci_image", source: { kind: "reference", reference: IMAGE } },
  process: { argv },
});

const create = async (argv: string[], labels: Record<string, string> = {}): Promise<string> => {
  const r = await server!.api("POST", sbPath(), { profile: "worker", spec: spec(argv), labels });
  if (r.status !== 201) throw new Error(`create → ${r.status}: ${JSON.stringify(r.body)}`);
  const id = r.body.metadata.id as string;
  created.add(id);
  return id;
};

const stopAndDelete = async (id: string) => {
  await server!.api("POST", sbPath(`/${id}/stop`), { graceMs: 0 });
  const d = await server!.api("DELETE", sbPath(`/${id}`));
  if (d.status !== 204 && d.status !== 404) throw new Error(`delete ${id} → ${d.status}: ${JSON.stringify(d.body)}`);
  created.delete(id);
};

/** server-side phase durations (ms) from the status timestamps; with the client's wall-clock
 *  send/observe times (same host, same clock): how long the POST took to be accepted and how
 *  long after `ready` was recorded the client saw it */
interface Phases { prepare: number; start: number; accept: number; observe: number }
const phasesOf = (status: any, sentAt = NaN, seenAt = NaN): Phases => {
  const t = status.transitions as Record<string, string>;
  const ms = (k: string) => Date.parse(t[k] as string);
  return { prepare: ms("starting") - ms("pending"), start: ms("ready") - ms("starting"), accept: ms("pending") - sentAt, observe: seenAt - ms("ready") };
};

// ---- Nimbus: create → ready observed ----

const nimbusOnce = async (): Promise<{ ms: number; phases: Phases; id: string }> => {
  const t0 = performance.now();
  const id = await create(["sleep", "600"]);
  for (;;) {
    const r = await server!.api("GET", sbPath(`/${id}`));
    const state = r.body?.status?.lifecycleState;
    if (state === "ready") return { ms: performance.now() - t0, phases: phasesOf(r.body.status), id };
    if (state === "failed" || state === "stopped") throw new Error(`sandbox ${id} ended ${state}: ${JSON.stringify(r.body.status)}`);
    await Bun.sleep(2);
  }
};

const nimbusBatch = async (n: number, batch: string): Promise<{ each: number[]; wall: number; phases: Phases[]; ids: string[]; healthz: number[] }> => {
  const t0 = performance.now();
  // event-loop probe: an unauthenticated /healthz does no work, so its latency is the server's
  // queueing delay while the batch runs
  const healthz: number[] = [];
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const t = performance.now();
      await (await fetch(`${server!.url}/healthz`)).arrayBuffer();
      healthz.push(performance.now() - t);
      await Bun.sleep(10);
    }
  })();
  const starts = new Map<string, number>();
  const sentAt = new Map<string, number>();
  const seen = new Map<string, { ms: number; phases: Phases }>();
  const posts = Array.from({ length: n }, async () => {
    const t = performance.now();
    const wall = Date.now();
    const id = await create(["sleep", "600"], { [BATCH_LABEL]: batch });
    starts.set(id, t);
    sentAt.set(id, wall);
  });
  let failure: string | undefined;
  let postsDone = false;
  const postAll = Promise.all(posts).finally(() => (postsDone = true));
  const deadline = Date.now() + 60_000;
  while (!postsDone || seen.size < n) {
    const r = await server!.api("GET", sbPath(`?labelKey=${BATCH_LABEL}&labelValue=${batch}&limit=100`));
    const now = performance.now();
    const nowWall = Date.now();
    for (const sb of r.body.items as any[]) {
      const id = sb.metadata.id as string;
      const state = sb.status.lifecycleState as string;
      if (seen.has(id)) continue;
      if (state === "ready") seen.set(id, { ms: now - (starts.get(id) ?? t0), phases: phasesOf(sb.status, sentAt.get(id), nowWall) });
      else if (state === "failed" || state === "stopped") failure ??= `${id} ended ${state}: ${JSON.stringify(sb.status)}`;
    }
    if (failure) break;
    if (Date.now() > deadline) {
      failure = `only ${seen.size}/${n} ready after 60 s`;
      break;
    }
    await Bun.sleep(5);
  }
  await postAll;
  const wall = performance.now() - t0;
  probing = false;
  await probe;
  if (failure) throw new Error(`concurrent x${n}: ${failure}`);
  const vals = [...seen.values()];
  return { each: vals.map((v) => v.ms), wall, phases: vals.map((v) => v.phases), ids: [...seen.keys()], healthz };
};

// ---- bare crun run -d ----

const rootfs = busyboxRootfs();
let crunN = 0;
const crunOnce = async (): Promise<number> => {
  const id = `nbench-${process.pid}-${crunN++}`;
  const bundle = join(scratch, "bundles", id);
  mkdirSync(bundle, { recursive: true });
  const config = ociConfig({
    id,
    rootfs,
    hostname: id,
    process: { argv: ["sleep", "600"], env: {}, cwd: "/", uid: 0, gid: 0 },
    resources: { cpu: 1, memoryMiB: 512, pids: 512 },
  });
  writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
  crunLive.add(id);
  const t0 = performance.now();
  const p = Bun.spawn(["crun", "--root", crunRoot, "run", "--detach", "--bundle", bundle, id], { stdio: ["ignore", "ignore", "pipe"] });
  const code = await p.exited;
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`crun run exited ${code}: ${await new Response(p.stderr).text()}`);
  return ms;
};
const crunCleanup = async () => {
  await pool([...crunLive], 8, async (id) => {
    await Bun.spawn(["crun", "--root", crunRoot, "delete", "--force", id], { stdio: ["ignore", "ignore", "ignore"] }).exited;
    crunLive.delete(id);
  });
  rmSync(join(scratch, "bundles"), { recursive: true, force: true });
};

// ---- podman run -d --rm ----

let podmanReady = false;
const podmanSetup = () => {
  if (!podman) return;
  if (Bun.spawnSync([podman, "image", "exists", PODMAN_IMAGE]).exitCode === 0) return void (podmanReady = true);
  const r = Bun.spawnSync(["sh", "-c", `tar -C ${rootfs} --exclude=.complete --numeric-owner --owner=0 --group=0 -c . | ${podman} import - ${PODMAN_IMAGE}`]);
  podmanReady = r.exitCode === 0;
  if (!podmanReady) console.log(`podman: import failed: ${r.stderr.toString().trim()}`);
};
let podmanN = 0;
const podmanOnce = async (): Promise<number> => {
  const name = `nbench-${process.pid}-${podmanN++}`;
  podmanLive.add(name);
  const t0 = performance.now();
  const p = Bun.spawn(
    [podman!, "run", "-d", "--rm", "--name", name, "--network", "none", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768", PODMAN_IMAGE, "sleep", "600"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const code = await p.exited;
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`podman run exited ${code}: ${await new Response(p.stderr).text()}`);
  return ms;
};
const podmanCleanup = async () => {
  if (!podman || podmanLive.size === 0) return;
  const names = [...podmanLive];
  await Bun.spawn([podman, "rm", "-f", "-t", "0", ...names], { stdio: ["ignore", "ignore", "ignore"] }).exited;
  for (const n of names) podmanLive.delete(n);
};

// ---- helpers for the peers' sequential/concurrent runs ----

const seqRun = async (f: () => Promise<number>, after: () => Promise<void>) => {
  await f(); // warm-up
  await after();
  const xs: number[] = [];
  for (let i = 0; i < SEQ; i++) {
    xs.push(await f());
    await after(); // untimed: nothing accumulates between launches
  }
  return xs;
};
const concRun = async (n: number, f: () => Promise<number>, after: () => Promise<void>) => {
  const t0 = performance.now();
  const each = await Promise.all(Array.from({ length: n }, f));
  const wall = performance.now() - t0;
  await after();
  return { each, wall };
};

// ---- requests per second ----

const load = async (paths: () => string): Promise<number> => {
  let n = 0;
  let bad = 0;
  const end = performance.now() + RPS_MS;
  const headers = { authorization: `Bearer ${server!.token}` };
  await Promise.all(
    Array.from({ length: RPS_CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const r = await fetch(`${server!.url}${paths()}`, { headers });
        await r.arrayBuffer();
        if (r.ok) n++;
        else bad++;
      }
    }),
  );
  if (bad) console.log(`  (${bad} non-2xx answers)`);
  return n / (RPS_MS / 1000);
};

const cleanupAll = async () => {
  if (server && created.size) {
    await pool([...created], 16, (id) => stopAndDelete(id).catch((e) => console.log(`cleanup ${id}: ${(e as Error).message}`)));
  }
  await crunCleanup().catch(() => {});
  await podmanCleanup().catch(() => {});
};

const started = performance.now();
try {
  registry = await startFixtureRegistry({ only: ["busybox"] });
  server = await startServer({ args: [...serverArgs(registry), "--log-level", "warn"] });
  const t = await server.api("POST", "/api/tenants", { id: TENANT });
  if (t.status !== 201 && t.status !== 409) throw new Error(`tenant → ${t.status}: ${JSON.stringify(t.body)}`);
  // pull + unpack once, untimed
  {
    const { id } = await nimbusOnce();
    await stopAndDelete(id);
  }
  podmanSetup();

  // (1) create → ready
  const nimbusSeqPhases: Phases[] = [];
  const nimbusSeq = await seqRun(
    async () => {
      const r = await nimbusOnce();
      nimbusSeqPhases.push(r.phases);
      void r.id;
      return r.ms;
    },
    async () => {
      await Promise.all([...created].map(stopAndDelete));
    },
  );
  nimbusSeqPhases.shift(); // warm-up
  const nimbusConc: Record<number, { each: number[]; wall: number; phases: Phases[]; healthz: number[] }> = {};
  for (const n of CONCURRENT) {
    const b = await nimbusBatch(n, `c${n}`);
    nimbusConc[n] = b;
    await pool(b.ids, 16, stopAndDelete);
  }

  const crunSeq = await seqRun(crunOnce, crunCleanup);
  const crunConc: Record<number, { each: number[]; wall: number }> = {};
  for (const n of CONCURRENT) crunConc[n] = await concRun(n, crunOnce, crunCleanup);

  let podmanSeq: number[] | undefined;
  const podmanConc: Record<number, { each: number[]; wall: number }> = {};
  if (podmanReady) {
    podmanSeq = await seqRun(podmanOnce, podmanCleanup);
    for (const n of CONCURRENT) podmanConc[n] = await concRun(n, podmanOnce, podmanCleanup);
  } else console.log(podman ? "podman: image unavailable, skipped" : "podman: not installed, skipped (install with `make bench` / apt-get install podman)");

  console.log(`create → ready observed (cached image, busybox \`sleep 600\`)`);
  console.log(`  nimbus  sequential x${SEQ}: ${fmt(nimbusSeq)}`);
  console.log(`          server-side phases (status timestamps, ms resolution): pending→starting ${fmt(nimbusSeqPhases.map((p) => p.prepare))} | starting→ready ${fmt(nimbusSeqPhases.map((p) => p.start))}`);
  for (const n of CONCURRENT) {
    const c = nimbusConc[n]!;
    console.log(`  nimbus  concurrent x${n}: ${fmt(c.each)}  wall ${c.wall.toFixed(0)} ms  (all ${c.each.length} ready)`);
    const ph = (k: keyof Phases) => `${k} p50 ${pct(c.phases.map((p) => p[k]), 50)} / p95 ${pct(c.phases.map((p) => p[k]), 95)} ms`;
    console.log(`          where the time goes: POST send→pending ${ph("accept")} | ${ph("prepare")} | starting→ready ${ph("start")} | ready→seen ${ph("observe")}`);
    console.log(`          GET /healthz while the batch ran (server queueing delay): ${fmt(c.healthz)} over ${c.healthz.length} probes`);
  }
  console.log(`  crun    sequential x${SEQ}: ${fmt(crunSeq)}   (crun run --detach, same ociConfig as Nimbus)`);
  for (const n of CONCURRENT) console.log(`  crun    concurrent x${n}: ${fmt(crunConc[n]!.each)}  wall ${crunConc[n]!.wall.toFixed(0)} ms`);
  if (podmanSeq) {
    console.log(`  podman  sequential x${SEQ}: ${fmt(podmanSeq)}   (podman run -d --rm --network none)`);
    for (const n of CONCURRENT) console.log(`  podman  concurrent x${n}: ${fmt(podmanConc[n]!.each)}  wall ${podmanConc[n]!.wall.toFixed(0)} ms`);
  }
  const nP50 = pct(nimbusSeq, 50);
  const cP50 = pct(crunSeq, 50);
  const goalSeq = 1.3 * cP50 + 5;
  console.log(`ratio nimbus/crun   sequential p50 ${(nP50 / cP50).toFixed(2)}x (goal p50 ≤ 1.3×crun+5 = ${goalSeq.toFixed(1)} ms: ${nP50 <= goalSeq ? "met" : "MISSED"})` +
    CONCURRENT.map((n) => `  x${n} p50 ${(pct(nimbusConc[n]!.each, 50) / pct(crunConc[n]!.each, 50)).toFixed(2)}x`).join(""));
  if (podmanSeq) {
    console.log(`ratio podman/nimbus sequential p50 ${(pct(podmanSeq, 50) / nP50).toFixed(2)}x` + CONCURRENT.map((n) => `  x${n} p50 ${(pct(podmanConc[n]!.each, 50) / pct(nimbusConc[n]!.each, 50)).toFixed(2)}x`).join(""));
  }
  const c50p95 = pct(nimbusConc[50]!.each, 95);
  console.log(`goal 50 concurrent all ready with p95 ≤ 1000 ms: p95 ${c50p95.toFixed(0)} ms → ${c50p95 <= 1000 ? "met" : "MISSED"}`);

  // (2) list/get rps with 1,000 records
  const tRec = performance.now();
  const recIds = await pool(Array.from({ length: RECORDS }, (_, i) => i), 16, (i) => create(["/bench/not-in-image"], { [BATCH_LABEL]: "records", shard: `s${i % 10}`, ...(i % 100 === 0 ? { rare: "yes" } : {}) }));
  for (;;) {
    const pending = (await server.api("GET", sbPath(`?lifecycleState=pending&limit=1`))).body.items.length + (await server.api("GET", sbPath(`?lifecycleState=preparing&limit=1`))).body.items.length;
    if (pending === 0) break;
    await Bun.sleep(50);
  }
  console.log(`records: ${RECORDS} sandboxes created and failed fast (executable_not_found) in ${((performance.now() - tRec) / 1000).toFixed(1)} s`);
  let k = 0;
  const rpsGet = await load(() => sbPath(`/${recIds[k++ % recIds.length]}`));
  const rpsList = await load(() => sbPath(``));
  const rpsList500 = await load(() => sbPath(`?limit=500`));
  const rpsShard = await load(() => sbPath(`?labelKey=shard&labelValue=s${k++ % 10}&limit=50`));
  const rpsRare = await load(() => sbPath(`?labelKey=rare`));
  console.log(`requests/s with ${RECORDS} records (c=${RPS_CONCURRENCY}, ${RPS_MS} ms each): get ${rpsGet.toFixed(0)} | list (page 50) ${rpsList.toFixed(0)} | list (page 500) ${rpsList500.toFixed(0)} | list by label value (page 50 of 100) ${rpsShard.toFixed(0)} | list by rare label key (10 hits, full scan) ${rpsRare.toFixed(0)}`);

  console.log(
    `headline: create→ready p50 ${nP50.toFixed(1)} ms = ${(nP50 / cP50).toFixed(2)}x bare crun run -d (${cP50.toFixed(1)} ms; goal ≤ ${goalSeq.toFixed(1)} ms ${nP50 <= goalSeq ? "met" : "MISSED"})` +
      (podmanSeq ? `, ${(pct(podmanSeq, 50) / nP50).toFixed(1)}x faster than podman run (${pct(podmanSeq, 50).toFixed(1)} ms)` : ", podman not measured") +
      `; 50 concurrent p95 ${c50p95.toFixed(0)} ms (goal ≤ 1000 ms ${c50p95 <= 1000 ? "met" : "MISSED"}); at ${RECORDS} records get ${rpsGet.toFixed(0)} rps, list ${rpsList.toFixed(0)} rps`,
  );
} finally {
  await cleanupAll();
  if (server) {
    await server.stop();
    if (server.proc.exitCode !== 0) console.log(`server exited ${server.proc.exitCode}:\n${server.output().slice(-2000)}`);
    cleanupDirs(server.dataDir, server.xdg);
  }
  await registry?.stop();
  rmSync(scratch, { recursive: true, force: true });
  console.log(`(bench took ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
