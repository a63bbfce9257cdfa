// Dockerfile builds: FROM (image or scratch), RUN (through an injected StepRunner: a Nimbus
// container with network denied), COPY/ADD from the context (no URLs), ENV, ARG, WORKDIR,
// USER, LABEL, EXPOSE, ENTRYPOINT, CMD. Each layer-producing step is cached by
// parent state + instruction + inputs; the result is an image record in the same store.
import * as fs from "node:fs";
import { join, posix } from "node:path";
import { images } from "./schema";
import type { ImageServiceImpl } from "./service";
import { tarArchive, type TarWriteEntry } from "./tar";
import { LayerUnpacker, entryParts } from "./unpack";
import { lookup } from "./view";
import { unmount } from "./sys";
import { ImageError, type BuildRequest, type ImageConfig, type ResolvedImage } from "./types";

interface Instruction { line: number; cmd: string; args: string; json: string[] | null }

const SUPPORTED = new Set(["FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "LABEL", "EXPOSE", "ENTRYPOINT", "CMD"]);

function fail(code: string, line: number, message: string, status = 422, details: Record<string, unknown> = {}): never {
  throw new ImageError(code, `Dockerfile line ${line}: ${message}`, status, { line, ...details });
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let l = lines[i]!;
    if (/^\s*#/.test(l) || !l.trim()) continue;
    while (/\\\s*$/.test(l) && i + 1 < lines.length) {
      l = l.replace(/\\\s*$/, "");
      i++;
      if (/^\s*#/.test(lines[i]!)) { l += " "; continue; }
      l += lines[i]!;
    }
    const m = l.trim().match(/^(\S+)\s*(.*)$/s)!;
    const cmd = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    let json: string[] | null = null;
    if (args.startsWith("[")) {
      try { const v = JSON.parse(args); if (Array.isArray(v) && v.every((x) => typeof x === "string")) json = v; } catch {}
    }
    out.push({ line: start, cmd, args, json });
  }
  return out;
}

function expand(s: string, vars: Record<string, string>): string {
  return s.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, a, op, word, b) => {
    const name = a ?? b;
    const v = vars[name];
    if (op === "-") return v ? v : word;
    if (op === "+") return v ? word : "";
    return v ?? "";
  });
}

/** `k=v k2="v 2"` or legacy `k v` */
function parseKeyValues(args: string, line: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!/^[^\s=]+=/.test(args)) {
    const m = args.match(/^(\S+)\s+(.*)$/s);
    if (!m) fail("build_invalid", line, `expected key=value in "${args}"`, 400);
    return [[m[1]!, m[2]!]];
  }
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(args))) {
    let v = m[2]!;
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, "$1");
    else if (v.startsWith("'")) v = v.slice(1, -1);
    out.push([m[1]!, v]);
  }
  return out;
}

function envMap(env: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (const e of env) { const i = e.indexOf("="); if (i > 0) o[e.slice(0, i)] = e.slice(i + 1); }
  return o;
}

interface State { layers: string[]; config: ImageConfig; key: string }

/** JSON with sorted keys and no undefined members: stable digests. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).filter((k) => (v as any)[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as any)[k])}`).join(",")}}`;
  return JSON.stringify(v);
}

const hash = (...parts: Array<string | Uint8Array>) => { const h = new Bun.CryptoHasher("sha256"); for (const p of parts) h.update(p); return h.digest("hex"); };

function splitWords(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2] ?? m[3]!);
  return out;
}

export async function buildImage(svc: ImageServiceImpl, req: BuildRequest): Promise<ResolvedImage & { build: { steps: number; cached: number } }> {
  const paths = svc.opts.paths;
  const instrs = parseDockerfile(req.dockerfile);
  if (!instrs.length) throw new ImageError("build_invalid", "Dockerfile is empty", 400);
  for (const ins of instrs) if (!SUPPORTED.has(ins.cmd)) fail("build_unsupported_instruction", ins.line, `unsupported instruction ${ins.cmd}`, 422, { instruction: ins.cmd });
  const cacheFile = join(paths.root, "build-cache.json");
  let cache: Record<string, { layers: string[]; config: ImageConfig }> = {};
  try { cache = JSON.parse(fs.readFileSync(cacheFile, "utf8")); } catch {}
  const stats = { steps: 0, cached: 0 };
  const tmpRoots: string[] = [];

  // context: a directory inside the allow-list, or a tar unpacked safely into tmp
  let contextDir: string | null = null;
  let contextId = "none";
  try {
    if (req.contextDir) {
      const real = fs.realpathSync(req.contextDir);
      const allowed = (svc.opts.contextAllowList ?? []).map((d) => { try { return fs.realpathSync(d); } catch { return d; } });
      if (!allowed.some((a) => real === a || real.startsWith(a + "/"))) throw new ImageError("build_context_forbidden", `context directory ${req.contextDir} is outside the allowed build context directories`, 403);
      contextDir = real;
    } else if (req.context) {
      const dir = svc.store.tmpName("context");
      tmpRoots.push(dir);
      const u = new LayerUnpacker(dir);
      await u.write(req.context);
      await u.end();
      contextDir = dir;
      contextId = hash(req.context);
    }

    let vars: Record<string, string> = { ...(req.buildArgs ?? {}) };
    const declaredArgs = new Set<string>();
    let state: State | null = null;
    let sawFrom = false;
    for (const ins of instrs) {
      stats.steps++;
      const argsExpanded = () => expand(ins.args, { ...vars, ...(state ? envMap(state.config.env) : {}) });
      if (ins.cmd === "ARG") {
        for (const [k, v] of ins.args.includes("=") ? parseKeyValues(ins.args, ins.line) : [[ins.args.trim(), undefined] as [string, string | undefined]]) {
          declaredArgs.add(k);
          if (req.buildArgs?.[k] === undefined && v !== undefined) vars[k] = expand(v, vars);
        }
        if (state) state = { ...(state as State), key: hash(state.key, "ARG", JSON.stringify(Object.entries(vars).filter(([k]) => declaredArgs.has(k)).sort())) };
        continue;
      }
      if (ins.cmd === "FROM") {
        if (sawFrom) fail("build_unsupported_instruction", ins.line, "multi-stage builds (a second FROM) are not supported", 422, { instruction: "FROM" });
        sawFrom = true;
        const words = argsExpanded().split(/\s+/);
        if (words.some((w) => w.startsWith("--"))) fail("build_unsupported_instruction", ins.line, "FROM flags are not supported", 422);
        const base = words[0]!;
        if (base === "scratch") state = { layers: [], config: { env: [] }, key: hash("scratch") };
        else {
          const img = await svc.resolve(base);
          state = { layers: [...img.layers], config: structuredClone(img.config), key: hash("from", img.digest) };
        }
        continue;
      }
      if (!state) fail("build_invalid", ins.line, `${ins.cmd} before FROM`, 400);
      const st: State = state;
      const a = argsExpanded();
      const key = hash(st.key, ins.cmd, ins.args, JSON.stringify(vars));
      const setConfig = (c: Partial<ImageConfig>) => { state = { ...st, config: { ...st.config, ...c }, key }; };
      switch (ins.cmd) {
        case "ENV": {
          const env = envMap(st.config.env);
          for (const [k, v] of parseKeyValues(ins.args, ins.line)) env[k] = expand(v, { ...vars, ...env });
          setConfig({ env: Object.entries(env).map(([k, v]) => `${k}=${v}`) });
          break;
        }
        case "WORKDIR": {
          const wd = posix.resolve(st.config.workingDir ?? "/", a);
          setConfig({ workingDir: wd });
          if (!lookup(st.layers, wd)) {
            const parts = entryParts(wd.replace(/^\/+/, ""));
            const entries: TarWriteEntry[] = parts.map((_, i) => ({ name: parts.slice(0, i + 1).join("/"), type: "dir" as const }));
            state = { ...state!, layers: [...st.layers, await layerFromTar(svc, tarArchive(entries), key)] };
          }
          break;
        }
        case "USER": setConfig({ user: a.trim() }); break;
        case "LABEL": setConfig({ labels: { ...(st.config.labels ?? {}), ...Object.fromEntries(parseKeyValues(a, ins.line)) } }); break;
        case "EXPOSE": setConfig({ exposedPorts: [...new Set([...(st.config.exposedPorts ?? []), ...a.split(/\s+/).filter(Boolean).map((p) => (p.includes("/") ? p : `${p}/tcp`))])] }); break;
        case "ENTRYPOINT": setConfig({ entrypoint: ins.json ?? ["/bin/sh", "-c", a], cmd: undefined }); break;
        case "CMD": setConfig({ cmd: ins.json ?? ["/bin/sh", "-c", a] }); break;
        case "COPY":
        case "ADD": {
          const words = ins.json ?? splitWords(a);
          const flags = words.filter((w) => w.startsWith("--"));
          const rest = words.filter((w) => !w.startsWith("--")).map((w) => (ins.json ? expand(w, vars) : w));
          let chown: [number, number] = [0, 0];
          for (const f of flags) {
            const m = f.match(/^--chown=(\d+)(?::(\d+))?$/);
            if (m) chown = [Number(m[1]), Number(m[2] ?? m[1])];
            else fail("build_unsupported_instruction", ins.line, `${ins.cmd} flag ${f} is not supported`, 422);
          }
          if (rest.length < 2) fail("build_invalid", ins.line, `${ins.cmd} needs a source and a destination`, 400);
          const dest = rest.pop()!;
          if (rest.some((s) => /^[a-z]+:\/\//i.test(s))) fail("build_unsupported_instruction", ins.line, `${ins.cmd} from a URL is not supported`, 422);
          if (!contextDir) fail("build_context_missing", ins.line, `${ins.cmd} needs a build context`, 422);
          const entries = collectCopy(contextDir!, rest, posix.resolve(st.config.workingDir ?? "/", dest), dest.endsWith("/") || rest.length > 1, chown, ins.line);
          const tar = tarArchive(entries);
          const stepKey = hash(key, contextId, tar);
          const cached = cache[stepKey];
          if (cached && cached.layers.every((l) => fs.existsSync(l))) { stats.cached++; state = { ...cached, key: stepKey }; break; }
          const layer = await layerFromTar(svc, tar, stepKey);
          state = { ...st, layers: [...st.layers, layer], key: stepKey };
          cache[stepKey] = { layers: state.layers, config: state.config };
          break;
        }
        case "RUN": {
          const cached = cache[key];
          if (cached && cached.layers.every((l) => fs.existsSync(l))) { stats.cached++; state = { ...cached, key }; break; }
          if (!svc.opts.runner) fail("build_unsupported_instruction", ins.line, "RUN needs the container runtime, which is not available", 422, { instruction: "RUN" });
          if (st.layers.length === 0) fail("build_failed", ins.line, "RUN on an empty (scratch) image", 422);
          const argv = ins.json ?? ["/bin/sh", "-c", ins.args];
          const snapKey = `build-${key.slice(0, 24)}-${Date.now().toString(36)}`;
          const snap = await svc.prepareSnapshot(snapKey, st.layers);
          const snapDir = join(paths.snapshots, snapKey);
          try {
            const env = [...st.config.env];
            for (const k of declaredArgs) if (vars[k] !== undefined && !env.some((e) => e.startsWith(`${k}=`))) env.push(`${k}=${vars[k]}`);
            const r = await svc.opts.runner!({ rootfs: snap.rootfs, argv, env, cwd: st.config.workingDir ?? "/", user: st.config.user ?? "" });
            if (r.exitCode !== 0) fail("build_failed", ins.line, `RUN exited with ${r.exitCode}: ${r.output.slice(-2000)}`, 422, { exitCode: r.exitCode, output: r.output.slice(-8000) });
            unmount(snap.rootfs);
            // the overlay upper already is a layer in our format (whiteouts, opaque xattrs, shifted owners)
            const dest = svc.store.layerPath(`sha256:${hash("run", key)}`);
            fs.rmSync(dest, { recursive: true, force: true });
            fs.renameSync(join(snapDir, "upper"), dest);
            state = { ...st, layers: [...st.layers, dest], key };
            cache[key] = { layers: state.layers, config: state.config };
          } finally {
            await svc.removeSnapshot(snapKey);
          }
          break;
        }
      }
    }
    if (!state) throw new ImageError("build_invalid", "Dockerfile has no FROM", 400);
    const final: State = state;
    fs.writeFileSync(cacheFile + ".tmp", JSON.stringify(cache));
    fs.renameSync(cacheFile + ".tmp", cacheFile);
    const digest = `sha256:${hash(canonical({ layers: final.layers.map((l) => l.slice(paths.layers.length)), config: final.config }))}`;
    const reference = `build:${digest}`;
    const diffIds = final.layers.map((l) => (l.startsWith(paths.layers) ? `sha256:${l.slice(paths.layers.length + 1)}` : l));
    const now = Date.now();
    const row = { reference, digest, manifestDigest: digest, configDigest: digest, config: JSON.stringify(final.config), layers: JSON.stringify(diffIds), blobs: "[]", size: 0, createdAt: now, lastUsedAt: now };
    svc.db.insert(images).values(row).onConflictDoUpdate({ target: images.reference, set: { lastUsedAt: now } }).run();
    return { reference, digest, config: final.config, layers: final.layers, diffIds, build: stats };
  } finally {
    for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
  }
}

async function layerFromTar(svc: ImageServiceImpl, tar: Uint8Array, _key: string): Promise<string> {
  const diffId = `sha256:${hash(tar)}`;
  const dest = svc.store.layerPath(diffId);
  if (fs.existsSync(dest)) return dest;
  const tmp = svc.store.tmpName("buildlayer");
  const u = new LayerUnpacker(tmp);
  try {
    await u.write(tar);
    await u.end();
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (fs.existsSync(dest)) return dest;
    throw e;
  }
  return dest;
}

/** Tar entries for COPY srcs… dest from the context; refuses paths outside it. */
function collectCopy(ctx: string, srcs: string[], dest: string, destIsDir: boolean, chown: [number, number], line: number): TarWriteEntry[] {
  const out: TarWriteEntry[] = [];
  const destParts = entryParts(dest.replace(/^\/+/, ""));
  for (let i = 1; i < destParts.length + (destIsDir ? 1 : 0); i++) out.push({ name: destParts.slice(0, i).join("/"), type: "dir" });
  for (const src of srcs) {
    const rel = posix.normalize(src.replace(/^\/+/, ""));
    const norm = rel === "." ? "" : rel.replace(/\/+$/, "");
    if (norm === ".." || norm.startsWith("../")) fail("build_context_missing", line, `COPY source "${src}" is outside the build context`, 422, { path: src });
    let matches: string[];
    if (/[*?[]/.test(norm)) {
      const glob = new Bun.Glob(norm);
      matches = [...glob.scanSync({ cwd: ctx, dot: true, onlyFiles: false })].sort();
    } else matches = norm === "" ? [""] : [norm];
    if (!matches.length) fail("build_context_missing", line, `COPY source "${src}" not found in the build context`, 422, { path: src });
    for (const m of matches) {
      const abs = join(ctx, m);
      let st: fs.Stats;
      try { st = fs.lstatSync(abs); } catch { fail("build_context_missing", line, `COPY source "${src}" not found in the build context`, 422, { path: src }); }
      const base = destIsDir || st.isDirectory() ? destParts.join("/") : destParts.join("/");
      if (st.isDirectory()) {
        if (base) out.push({ name: base, type: "dir", uid: chown[0], gid: chown[1] });
        walk(abs, base, out, chown);
      } else {
        const name = destIsDir ? `${base}/${m.split("/").pop()}` : base;
        out.push(entryFor(abs, st, name.replace(/^\/+/, ""), chown));
      }
    }
  }
  return out;
}

function entryFor(abs: string, st: fs.Stats, name: string, chown: [number, number]): TarWriteEntry {
  if (st.isSymbolicLink()) return { name, type: "symlink", linkname: fs.readlinkSync(abs), uid: chown[0], gid: chown[1] };
  if (st.isDirectory()) return { name, type: "dir", mode: st.mode & 0o7777, uid: chown[0], gid: chown[1] };
  return { name, type: "file", mode: st.mode & 0o7777, data: fs.readFileSync(abs), uid: chown[0], gid: chown[1] };
}

function walk(dir: string, prefix: string, out: TarWriteEntry[], chown: [number, number]): void {
  for (const n of fs.readdirSync(dir).sort()) {
    const abs = join(dir, n);
    const st = fs.lstatSync(abs);
    const name = prefix ? `${prefix}/${n}` : n;
    if (!st.isFile() && !st.isDirectory() && !st.isSymbolicLink()) continue;
    out.push(entryFor(abs, st, name, chown));
    if (st.isDirectory()) walk(abs, name, out, chown);
  }
}
