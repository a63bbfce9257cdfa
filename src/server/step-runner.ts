import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolveUser, type StepRunner } from "../images";
import type { Backend, ExitInfo, ResourceLimits } from "../runtime/types";

// A Dockerfile RUN step runs as a short-lived sandbox on the build's working rootfs: same
// isolation as any sandbox (user namespace, seccomp, no network), output captured for errors.

export const stepRunner = (backend: Backend, resources: ResourceLimits): StepRunner => {
  const waiting = new Map<string, (e: ExitInfo) => void>();
  backend.onExit((id, exit) => waiting.get(id)?.(exit));
  return async ({ rootfs, argv, env, cwd, user }) => {
    const id = `bld_${randomBytes(8).toString("hex")}`;
    const envMap = Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]).filter(([k]) => k));
    const exited = new Promise<ExitInfo>((resolve) => waiting.set(id, resolve));
    try {
      await backend.start({ id, rootfs, process: { argv, env: envMap, cwd: cwd || "/", ...resolveUser([rootfs], user) }, resources, hostname: "build" });
      const exit = await exited;
      const logs = backend.logPaths(id);
      const output = [logs.stdout, logs.stderr].map((p) => {
        try {
          return readFileSync(p, "utf8");
        } catch {
          return "";
        }
      });
      return { exitCode: exit.code ?? 128, output: output.join("").slice(-8192) };
    } finally {
      waiting.delete(id);
      await backend.delete(id).catch(() => {});
    }
  };
};
