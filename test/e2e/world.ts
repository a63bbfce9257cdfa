import { expect } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cgroupParent } from "../../src/runtime/spec";
import { basename, join, resolve } from "node:path";
import { startFixtureRegistry, type FixtureRegistry } from "../fixtures/images";
import { cleanupDirs, startServer, type ServerHandle, type StartOptions } from "./harness";

// A server whose docker.io is the local fixture registry, so the docs' image references
// (docker.io/library/node:22-alpine, python:3.12-slim) resolve offline and unchanged.

const ARTIFACTS = resolve(import.meta.dir, "../artifacts");

export interface World {
  registry: FixtureRegistry;
  server: ServerHandle;
  restart(kill?: boolean, downtimeMs?: number): Promise<ServerHandle>;
  close(): Promise<void>;
}

export const serverArgs = (registry: FixtureRegistry): string[] => ["--registry-mirror", `docker.io=${registry.url}`, "--insecure-registry", registry.host, "--log-level", "debug"];

export const startWorld = async (opts: StartOptions = {}): Promise<World> => {
  const registry = await startFixtureRegistry();
  const world: World = {
    registry,
    server: await startServer({ ...opts, args: [...serverArgs(registry), ...(opts.args ?? [])] }),
    async restart(kill = false, downtimeMs = 0) {
      const old = world.server;
      if (kill) await old.kill();
      else await old.stop();
      await Bun.sleep(downtimeMs);
      world.server = await startServer({ dataDir: old.dataDir, xdg: old.xdg, args: [...serverArgs(registry), ...(opts.args ?? [])] });
      return world.server;
    },
    async close() {
      const s = world.server;
      // keep the server's log as a test artifact: the first place to look when a test fails
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(join(ARTIFACTS, `server-${basename(s.dataDir)}.log`), s.output());
      try {
        await deleteEverything(s);
      } finally {
        await s.stop();
        await registry.stop();
      }
      // Nothing a test created may outlive it: no mounts, no processes under the data dir.
      const leaks = leftovers(s.dataDir);
      cleanupDirs(s.dataDir, s.xdg);
      expect(leaks).toEqual({ mounts: [], processes: [], cgroups: [] });
    },
  };
  return world;
};

/** Stop and delete every sandbox of every tenant: tests leave nothing running. */
export const deleteEverything = async (s: ServerHandle): Promise<void> => {
  const tenants = (await s.api("GET", "/api/tenants?limit=500")).body.items as { metadata: { id: string } }[];
  for (const t of tenants) {
    const list = (await s.api("GET", `/api/tenants/${t.metadata.id}/sandboxes?limit=500`)).body.items as { metadata: { id: string } }[];
    await Promise.all(
      list.map(async (sb) => {
        await s.api("POST", `/api/tenants/${t.metadata.id}/sandboxes/${sb.metadata.id}/stop`, { graceMs: 0 });
        const del = await s.api("DELETE", `/api/tenants/${t.metadata.id}/sandboxes/${sb.metadata.id}`);
        expect([204, 404]).toContain(del.status);
      }),
    );
  }
};

export const TERMINAL = ["stopped", "failed"];

/** Poll a sandbox until `done(state)`; returns the last resource and every state seen. */
export const waitFor = async (
  s: ServerHandle,
  tenant: string,
  id: string,
  done: (state: string) => boolean,
  timeoutMs = 60_000,
): Promise<{ sandbox: any; seen: string[] }> => {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await s.api("GET", `/api/tenants/${tenant}/sandboxes/${id}`);
    expect(r.status).toBe(200);
    const state = r.body.status.lifecycleState as string;
    if (seen.at(-1) !== state) seen.push(state);
    if (done(state)) return { sandbox: r.body, seen };
    if (Date.now() > deadline) throw new Error(`sandbox ${id} stuck in ${state} (seen ${seen.join(" → ")}): ${JSON.stringify(r.body.status)}`);
    await Bun.sleep(25);
  }
};

export const sandboxSpec = (reference: string, argv?: string[], extra: Record<string, unknown> = {}) => ({
  owner: { kind: "standalone", displayName: "test" },
  backend: "container",
  root: { kind: "oci_image", source: { kind: "reference", reference } },
  ...(argv ? { process: { argv } } : {}),
  ...extra,
});

/** Mounts and processes that still reference a data dir. */
export const leftovers = (dataDir: string): { mounts: string[]; processes: string[]; cgroups: string[] } => {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(dataDir));
  const processes: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(dataDir)) processes.push(`${pid}: ${cmd.slice(0, 200)}`);
    } catch {}
  }
  const parent = cgroupParent(dataDir);
  const cgroups = readdirSync("/sys/fs/cgroup")
    .map((h) => `/sys/fs/cgroup/${h}${parent}`)
    .filter((p) => existsSync(p));
  return { mounts, processes, cgroups };
};
