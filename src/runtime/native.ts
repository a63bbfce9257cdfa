// Where the native helpers live. All are imported as files so `bun build --compile` embeds
// them (native/build.sh must have run first). In dev the import is the real path under
// native/build/; inside a compiled binary it is a /$bunfs/ path, so we extract the bytes,
// content-addressed, under paths.native/<sha256-prefix>/ (mode 0755) and use that copy.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
// @ts-ignore: file import (bun)
import monitorFile from "../../native/build/nimbus-monitor" with { type: "file" };
// @ts-ignore: file import (bun)
import libFile from "../../native/build/libnimbus.so" with { type: "file" };
// @ts-ignore: file import (bun)
import initFile from "../../native/build/nimbus-init" with { type: "file" };
import type { DataPaths } from "../host/paths.ts";

export interface NativeArtifacts {
  monitor: string;
  lib: string;
  /** static PID 1 bind-mounted into every sandbox (native/init.c) */
  init: string;
}

const embedded = (p: string): boolean => p.startsWith("/$bunfs/") || p.includes("~BUN/") || !existsSync(p);

const extract = (src: string, dir: string, name: string): string => {
  const bytes = readFileSync(src);
  const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 24);
  const target = join(dir, digest, name);
  if (existsSync(target)) return target;
  mkdirSync(join(dir, digest), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
  return target;
};

const cache = new Map<string, NativeArtifacts>();

export const nativeArtifacts = (paths: DataPaths): NativeArtifacts => {
  const hit = cache.get(paths.native);
  if (hit) return hit;
  const m = String(monitorFile);
  const l = String(libFile);
  const i = String(initFile);
  const out = {
    monitor: embedded(m) ? extract(m, paths.native, "nimbus-monitor") : m,
    lib: embedded(l) ? extract(l, paths.native, basename("libnimbus.so")) : l,
    init: embedded(i) ? extract(i, paths.native, "nimbus-init") : i,
  };
  cache.set(paths.native, out);
  return out;
};
