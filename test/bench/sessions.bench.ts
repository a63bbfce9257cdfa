// Sessions benchmark (not part of `bun test`): `bun test/bench/sessions.bench.ts` (after `make build`).
// One ready busybox sandbox (`sleep 600`) on the compiled server (fixture registry mirrored as
// docker.io), then, interleaved run by run (~50 each, after warm-ups):
//   (a) nimbus: POST a session (channels ["exec"]) + attach WebSocket (channel=exec) + control
//       {type:"start", argv:["true"]} + the {type:"exit"} control received — the full cost of
//       "run one command in a sandbox" for a client that holds no lease yet;
//   (b) nimbus, lease already open: attach + exec `true` + exit (the per-command cost);
//   (c) peer: `crun --root <dataDir>/run/crun exec <id> true` on the very container the server
//       runs (the sandbox id is the crun container id), until the crun process exited.
// Prints p50/p95, where (a)'s time goes, and the ratio (goal: (a) ≤ 1.5× crun exec).
// The lease(s) are closed and the sandbox stopped and deleted at the end, also on failure.
// Last line: headline.
import { startFixtureRegistry, type FixtureRegistry } from "../fixtures/images.ts";
import { cleanupDirs, startServer, type ServerHandle } from "../e2e/harness.ts";
import { serverArgs } from "../e2e/world";
import { join } from "node:path";

const RUNS = 50;
const WARMUP = 5;
const TENANT = "bench";
const IMAGE = "docker.io/library/busybox:latest";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms  p95 ${pct(xs, 95).toFixed(1)} ms`;

let registry: FixtureRegistry | undefined;
let server: ServerHandle | undefined;
let sandboxId: string | undefined;
const openSessions = new Set<string>();
const sb = (p = "") => `/api/tenants/${TENANT}/sandboxes${p}`;
const ses = (p = "") => `/api/tenants/${TENANT}/sessions${p}`;

const openSession = async (): Promise<string> => {
  const r = await server!.api("POST", ses(), { target: { sandbox: { id: sandboxId } }, channels: ["exec"], requestedTtlMs: 120_000 });
  if (r.status !== 201) throw new Error(`open session → ${r.status}: ${JSON.stringify(r.body)}`);
  openSessions.add(r.body.metadata.id);
  return r.body.metadata.id as string;
};
const closeSession = async (id: string) => {
  await server!.api("POST", ses(`/${id}/close`), { reason: "bench" });
  openSessions.delete(id);
};

const frame = (channel: number, msg: object): Uint8Array => {
  const body = new TextEncoder().encode(JSON.stringify(msg));
  const f = new Uint8Array(body.length + 1);
  f[0] = channel;
  f.set(body, 1);
  return f;
};

/** attach (channel=exec), start `argv`, resolve at the exit control with the times of each step */
const execOver = (sessionId: string, argv: string[]): Promise<{ exitCode: number; attachedAt: number; exitAt: number }> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server!.url.replace(/^http/, "ws")}${ses(`/${sessionId}/attach`)}?channel=exec`, { headers: { authorization: `Bearer ${server!.token}` } } as never);
    ws.binaryType = "arraybuffer";
    let attachedAt = 0;
    let done = false;
    const dec = new TextDecoder();
    ws.onmessage = (ev) => {
      const b = new Uint8Array(ev.data as ArrayBuffer);
      if (b[0] !== 3) return;
      const msg = JSON.parse(dec.decode(b.subarray(1)));
      if (msg.type === "attached") {
        attachedAt = performance.now();
        ws.send(frame(3, { type: "start", argv }));
      } else if (msg.type === "exit") {
        done = true;
        resolve({ exitCode: msg.exitCode, attachedAt, exitAt: performance.now() });
      } else if (msg.type === "error") {
        done = true;
        reject(new Error(`attach error: ${JSON.stringify(msg)}`));
      }
    };
    ws.onclose = (ev) => {
      if (!done) reject(new Error(`attach closed ${ev.code} ${ev.reason} before exit`));
    };
  });

const full: number[] = [];
const fullPost: number[] = [];
const fullAttach: number[] = [];
const fullExec: number[] = [];
const held: number[] = [];
const crun: number[] = [];

const started = performance.now();
try {
  registry = await startFixtureRegistry({ only: ["busybox"] });
  server = await startServer({ args: [...serverArgs(registry), "--log-level", "warn"] });
  const t = await server.api("POST", "/api/tenants", { id: TENANT });
  if (t.status !== 201 && t.status !== 409) throw new Error(`tenant → ${t.status}: ${JSON.stringify(t.body)}`);
  const c = await server.api("POST", sb(), {
    profile: "worker",
    spec: { owner: { kind: "standalone", displayName: "bench" }, backend: "container", root: { kind: "oci_image", source: { kind: "reference", reference: IMAGE } }, process: { argv: ["sleep", "600"] } },
  });
  if (c.status !== 201) throw new Error(`create → ${c.status}: ${JSON.stringify(c.body)}`);
  sandboxId = c.body.metadata.id as string;
  for (const deadline = Date.now() + 60_000; ; ) {
    const r = await server.api("GET", sb(`/${sandboxId}`));
    const state = r.body.status.lifecycleState;
    if (state === "ready") break;
    if (state === "failed" || state === "stopped" || Date.now() > deadline) throw new Error(`sandbox ${sandboxId} is ${state}: ${JSON.stringify(r.body.status)}`);
    await Bun.sleep(20);
  }
  const crunRoot = join(server.dataDir, "run", "crun");
  const crunArgv = ["crun", "--root", crunRoot, "exec", sandboxId, "true"];
  const st = Bun.spawnSync(["crun", "--root", crunRoot, "state", sandboxId]);
  if (st.exitCode !== 0 || JSON.parse(st.stdout.toString()).status !== "running") throw new Error(`crun state ${sandboxId}: ${st.stdout}${st.stderr}`);

  const crunOnce = async () => {
    const t0 = performance.now();
    const p = Bun.spawn(crunArgv, { stdio: ["ignore", "ignore", "pipe"] });
    const code = await p.exited;
    const ms = performance.now() - t0;
    if (code !== 0) throw new Error(`crun exec exited ${code}: ${await new Response(p.stderr).text()}`);
    return ms;
  };
  const fullOnce = async () => {
    const t0 = performance.now();
    const id = await openSession();
    const t1 = performance.now();
    const r = await execOver(id, ["true"]);
    if (r.exitCode !== 0) throw new Error(`exec true → exit ${r.exitCode}`);
    await closeSession(id); // untimed
    return { total: r.exitAt - t0, post: t1 - t0, attach: r.attachedAt - t1, exec: r.exitAt - r.attachedAt };
  };
  const lease = await openSession();
  const heldOnce = async () => {
    const t0 = performance.now();
    const r = await execOver(lease, ["true"]);
    if (r.exitCode !== 0) throw new Error(`exec true → exit ${r.exitCode}`);
    return r.exitAt - t0;
  };

  for (let i = 0; i < WARMUP; i++) {
    await crunOnce();
    await fullOnce();
    await heldOnce();
  }
  for (let i = 0; i < RUNS; i++) {
    crun.push(await crunOnce());
    const f = await fullOnce();
    full.push(f.total);
    fullPost.push(f.post);
    fullAttach.push(f.attach);
    fullExec.push(f.exec);
    held.push(await heldOnce());
  }

  console.log(`exec \`true\` in a ready busybox sandbox, ${RUNS} runs each (interleaved, after ${WARMUP} warm-ups)`);
  console.log(`  nimbus  open session + attach + exec + exit: ${fmt(full)}`);
  console.log(`          where the time goes: POST session ${fmt(fullPost)} | WebSocket upgrade → attached ${fmt(fullAttach)} | start → exit ${fmt(fullExec)}`);
  console.log(`  nimbus  on an open lease (attach + exec + exit): ${fmt(held)}`);
  console.log(`  crun    exec (same container, --root <dataDir>/run/crun): ${fmt(crun)}`);
  const a = pct(full, 50);
  const b = pct(crun, 50);
  const ratio = a / b;
  console.log(`ratio nimbus/crun exec p50 ${ratio.toFixed(2)}x (p95 ${(pct(full, 95) / pct(crun, 95)).toFixed(2)}x); on an open lease ${(pct(held, 50) / b).toFixed(2)}x`);
  console.log(
    `headline: session open + exec true + exit p50 ${a.toFixed(1)} ms = ${ratio.toFixed(2)}x crun exec (${b.toFixed(1)} ms; goal ≤ 1.5x ${ratio <= 1.5 ? "met" : "MISSED"}); on an open lease ${pct(held, 50).toFixed(1)} ms`,
  );
} finally {
  if (server) {
    for (const id of [...openSessions]) await closeSession(id).catch(() => {});
    if (sandboxId) {
      await server.api("POST", sb(`/${sandboxId}/stop`), { graceMs: 0 }).catch(() => {});
      const d = await server.api("DELETE", sb(`/${sandboxId}`)).catch((e) => ({ status: String(e) }));
      if (d.status !== 204) console.log(`cleanup: DELETE ${sandboxId} → ${d.status}`);
    }
    await server.stop();
    cleanupDirs(server.dataDir, server.xdg);
  }
  await registry?.stop();
  console.log(`(bench took ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
