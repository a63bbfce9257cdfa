// Shared setup for the runtime integration tests: a throwaway data dir (short path: unix
// socket paths are limited to 108 bytes), host preflight with fixes, the busybox rootfs, and
// cleanup that runs even when a test failed.
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { createContainerBackend, preflight, type ContainerBackend, type LaunchRequest, type ProcessSpec } from "../../../src/runtime/index.ts";
import { dataPaths, type DataPaths } from "../../../src/host/paths.ts";
import { busyboxRootfs } from "../../fixtures/busybox-rootfs.ts";

export interface Harness {
  root: string;
  paths: DataPaths;
  backend: ContainerBackend;
  rootfs: string;
  ids: Set<string>;
  req(id: string, argv: string[], extra?: Partial<LaunchRequest> & { process?: Partial<ProcessSpec> }): LaunchRequest;
  start(id: string, argv: string[], extra?: Partial<LaunchRequest> & { process?: Partial<ProcessSpec> }): Promise<{ pid: number; startedAt: string }>;
  stdout(id: string): string;
  stderr(id: string): string;
  waitExit(id: string, timeoutMs?: number): Promise<import("../../../src/runtime/index.ts").ExitInfo>;
  cleanup(): Promise<void>;
}

let seq = 0;
export const uid = (p = "t") => `${p}${process.pid.toString(36)}${(seq++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export const setupHarness = (): Harness => {
  const pf = preflight({ fix: true });
  if (!pf.ok) throw new Error(`host preflight failed: ${JSON.stringify(pf.checks.filter((c) => !c.ok))}`);
  const root = mkdtempSync("/tmp/nrt-");
  const paths = dataPaths(root);
  const backend = createContainerBackend({ paths });
  const rootfs = busyboxRootfs();
  const ids = new Set<string>();
  const exits = new Map<string, (e: any) => void>();
  const exitValues = new Map<string, any>();
  backend.onExit((id, e) => {
    exitValues.set(id, e);
    exits.get(id)?.(e);
  });
  const h: Harness = {
    root,
    paths,
    backend,
    rootfs,
    ids,
    req(id, argv, extra = {}) {
      return {
        id,
        rootfs,
        hostname: extra.hostname ?? id,
        process: { argv, env: {}, cwd: "/", uid: 0, gid: 0, ...(extra.process ?? {}) },
        resources: extra.resources ?? { cpu: 1, memoryMiB: 128, pids: 128 },
      };
    },
    async start(id, argv, extra) {
      ids.add(id);
      return backend.start(h.req(id, argv, extra));
    },
    stdout: (id) => readFileSync(backend.logPaths(id).stdout, "utf8"),
    stderr: (id) => readFileSync(backend.logPaths(id).stderr, "utf8"),
    waitExit(id, timeoutMs = 10_000) {
      if (exitValues.has(id)) return Promise.resolve(exitValues.get(id));
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${id} did not exit within ${timeoutMs} ms`)), timeoutMs);
        exits.set(id, (e) => {
          clearTimeout(t);
          resolve(e);
        });
      });
    },
    async cleanup() {
      for (const id of ids) await backend.delete(id).catch(() => {});
      backend.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
  return h;
};

export const sh = (script: string) => ["/bin/sh", "-c", script];
