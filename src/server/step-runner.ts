import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { StepRunner } from "../images";
import type { Backend, ExitInfo, ResourceLimits } from "../runtime/types";

// A Dockerfile RUN step runs as a short-lived sandbox on the build's working rootfs: same
// isolation as any sandbox (user namespace, seccomp, no network), output captured for errors.

const lookup = (file: string, name: string): string[] | undefined => {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .find((f) => f[0] === name);
  } catch {
    return undefined;
  }
};

/** "uid", "uid:gid", "name", "name:group" → numeric ids from the rootfs's /etc files. */
const resolveIds = (rootfs: string, user: string): { uid: number; gid: number } => {
  const [u = "0", g] = user ? user.split(":") : [];
  let uid = Number(u);
  let gid = 0;
  if (!/^\d+$/.test(u)) {
    const pw = lookup(join(rootfs, "etc/passwd"), u);
    if (!pw) throw new Error(`user ${JSON.stringify(u)} is not in the image's /etc/passwd`);
    uid = Number(pw[2]);
    gid = Number(pw[3]);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const gr = lookup(join(rootfs, "etc/group"), g);
      if (!gr) throw new Error(`group ${JSON.stringify(g)} is not in the image's /etc/group`);
      gid = Number(gr[2]);
    }
  }
  return { uid, gid };
};

export const stepRunner = (backend: Backend, resources: ResourceLimits): StepRunner => {
  const waiting = new Map<string, (e: ExitInfo) => void>();
  backend.onExit((id, exit) => waiting.get(id)?.(exit));
  return async ({ rootfs, argv, env, cwd, user }) => {
    const id = `bld_${randomBytes(8).toString("hex")}`;
    const envMap = Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]).filter(([k]) => k));
    const exited = new Promise<ExitInfo>((resolve) => waiting.set(id, resolve));
    try {
      await backend.start({ id, rootfs, process: { argv, env: envMap, cwd: cwd || "/", ...resolveIds(rootfs, user) }, resources, hostname: "build" });
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
