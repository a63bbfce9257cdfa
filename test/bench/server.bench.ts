// Server overhead vs a bare Bun.serve hello server, in one run:
//   (1) process start → /healthz answering, (2) authenticated GET /api/tenants/:id requests/s.
// Run: bun test/bench/server.bench.ts (after `make build`).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const BINARY = resolve(import.meta.dir, "../../dist/nimbus");
const BUN = process.execPath;
const RUNS = 15;
const DURATION_MS = 3000;
const CONCURRENCY = 32;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};

const freePort = () => {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
};

const waitHealthy = async (url: string, t0: number): Promise<number> => {
  for (;;) {
    try {
      if ((await fetch(url)).ok) return performance.now() - t0;
    } catch {}
    await Bun.sleep(1);
  }
};

const bare = join(mkdtempSync(join(tmpdir(), "nimbus-bench-")), "bare.ts");
writeFileSync(bare, `Bun.serve({ hostname: "127.0.0.1", port: Number(process.argv[2]), fetch: () => Response.json({ status: "ok" }) });`);

const startBare = async () => {
  const port = freePort();
  const t0 = performance.now();
  const proc = Bun.spawn([BUN, bare, String(port)], { stdout: "ignore", stderr: "ignore" });
  const ms = await waitHealthy(`http://127.0.0.1:${port}/`, t0);
  return { ms, url: `http://127.0.0.1:${port}/`, stop: () => (proc.kill(), proc.exited) };
};

const startNimbus = async (dataDir: string, xdg: string) => {
  const port = freePort();
  const t0 = performance.now();
  const proc = Bun.spawn([BINARY, "start", "--port", String(port), "--data-dir", dataDir, "--log-level", "warn"], { env: { ...process.env, XDG_DATA_HOME: xdg }, stdout: "ignore", stderr: "ignore" });
  const ms = await waitHealthy(`http://127.0.0.1:${port}/healthz`, t0);
  return { ms, base: `http://127.0.0.1:${port}`, stop: () => (proc.kill(), proc.exited) };
};

// wrk (a separate process, as a real client is) when installed; otherwise an in-process fetch loop
const WRK = Bun.which("wrk");

const load = async (url: string, headers: Record<string, string>): Promise<number> => {
  if (WRK) {
    const args = [WRK, "-t2", `-c${CONCURRENCY}`, `-d${DURATION_MS / 1000}s`, ...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]), url];
    const out = Bun.spawnSync(args).stdout.toString();
    return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  }
  let n = 0;
  const end = performance.now() + DURATION_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const r = await fetch(url, { headers });
        await r.arrayBuffer();
        if (r.ok) n++;
      }
    }),
  );
  return n / (DURATION_MS / 1000);
};

const dataDir = mkdtempSync(join(tmpdir(), "nimbus-bench-data-"));
const xdg = mkdtempSync(join(tmpdir(), "nimbus-bench-xdg-"));
const bareStarts: number[] = [];
const nimbusStarts: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const b = await startBare();
  bareStarts.push(b.ms);
  await b.stop();
  const n = await startNimbus(dataDir, xdg);
  nimbusStarts.push(n.ms);
  await n.stop();
}
console.log(`start→healthy  bare p50 ${pct(bareStarts, 50).toFixed(1)} ms p95 ${pct(bareStarts, 95).toFixed(1)} ms | nimbus p50 ${pct(nimbusStarts, 50).toFixed(1)} ms p95 ${pct(nimbusStarts, 95).toFixed(1)} ms | ratio ${(pct(nimbusStarts, 50) / pct(bareStarts, 50)).toFixed(2)}x`);

const b = await startBare();
const bareRps = await load(b.url, {});
await b.stop();
const n = await startNimbus(dataDir, xdg);
const token = JSON.parse(readFileSync(join(xdg, "nimbus/auth/token"), "utf8")).token;
await fetch(`${n.base}/api/tenants`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ id: "bench" }) });
const nimbusRps = await load(`${n.base}/api/tenants/bench`, { authorization: `Bearer ${token}` });
await n.stop();
console.log(`GET rps (c=${CONCURRENCY}, ${DURATION_MS} ms, ${WRK ? "wrk" : "in-process fetch"})  bare ${bareRps.toFixed(0)} | nimbus authenticated GET /api/tenants/:id ${nimbusRps.toFixed(0)} | ${((nimbusRps / bareRps) * 100).toFixed(0)}% of bare`);
rmSync(dataDir, { recursive: true, force: true });
rmSync(xdg, { recursive: true, force: true });
console.log(`headline: start-to-healthy p50 ${pct(nimbusStarts, 50).toFixed(1)} ms (goal ≤ 100 ms); authenticated GET at ${((nimbusRps / bareRps) * 100).toFixed(0)}% of bare Bun.serve (goal ≥ 50%)`);
