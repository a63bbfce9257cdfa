// Read-only lookups in a stack of layer directories as overlayfs would merge them
// (whiteouts hide, opaque dirs stop the descent, symlinks resolve inside the image root),
// without mounting anything and without ever following a link out to the host.
import * as fs from "node:fs";
import { join } from "node:path";
import { ImageError } from "./types";
import { lgetxattr } from "./sys";

type Found = { layer: string; path: string; st: fs.Stats };

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Resolve `path` (container absolute) in the merged view; symlinks followed (also the last one when follow). */
export function lookup(lowers: string[], path: string, follow = true): Found | null {
  const top = [...lowers].reverse();
  let hops = 0;
  const walk = (comps: string[]): Found | null => {
    let cur: string[] = [];
    let result: Found | null = null;
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i]!;
      if (c === "" || c === ".") continue;
      if (c === "..") { cur.pop(); result = null; continue; }
      const rel = [...cur, c];
      let found: Found | null = null;
      for (const layer of top) {
        const p = join(layer, ...rel);
        let st: fs.Stats | undefined;
        try { st = fs.lstatSync(p); } catch { st = undefined; }
        if (st) {
          if (isWhiteout(st)) break;
          found = { layer, path: "/" + rel.join("/"), st };
          break;
        }
        // stop descending when the parent directory in this layer is opaque
        const parent = join(layer, ...cur);
        if (cur.length && lgetxattr(parent, "trusted.overlay.opaque")?.toString() === "y") break;
      }
      if (!found) return null;
      const last = i === comps.length - 1;
      if (found.st.isSymbolicLink() && (!last || follow)) {
        if (++hops > 40) return null;
        const target = fs.readlinkSync(join(found.layer, ...rel));
        const next = target.startsWith("/") ? target.split("/") : [...cur, ...target.split("/")];
        const r = walk([...next, ...comps.slice(i + 1)]);
        return r;
      }
      if (!last && !found.st.isDirectory()) return null;
      cur = rel;
      result = found;
    }
    return result ?? (comps.every((c) => c === "" || c === ".") ? null : null);
  };
  return walk(path.split("/"));
}

export function readFileInView(lowers: string[], path: string): string | null {
  const f = lookup(lowers, path);
  if (!f || !f.st.isFile()) return null;
  return fs.readFileSync(join(f.layer, f.path), "utf8");
}

export function resolveExecutable(lowers: string[], argv0: string, pathEnv: string): string | null {
  if (argv0.includes("/")) return argv0;
  for (const dir of (pathEnv || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    if (!dir.startsWith("/")) continue;
    const candidate = `${dir.replace(/\/+$/, "")}/${argv0}`;
    const f = lookup(lowers, candidate);
    if (f && f.st.isFile() && (f.st.mode & 0o111) !== 0) return candidate;
  }
  return null;
}

interface PasswdEntry { name: string; uid: number; gid: number }
interface GroupEntry { name: string; gid: number; members: string[] }

function parsePasswd(text: string | null): PasswdEntry[] {
  if (!text) return [];
  return text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(":")).filter((f) => f.length >= 4)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) }));
}
function parseGroup(text: string | null): GroupEntry[] {
  if (!text) return [];
  return text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(":")).filter((f) => f.length >= 3)
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? "").split(",").filter(Boolean) }));
}

const isNum = (s: string) => /^\d+$/.test(s);

function checkId(n: number, what: string, user: string): number {
  if (!Number.isInteger(n) || n < 0 || n >= 65536) throw new ImageError("invalid_user", `${what} in user "${user}" is outside 0..65535`, 422, { user });
  return n;
}

export function resolveUser(lowers: string[], user: string | undefined): { uid: number; gid: number; additionalGids: number[] } {
  const spec = (user ?? "").trim();
  if (!spec) return { uid: 0, gid: 0, additionalGids: [] };
  const [u, g] = spec.split(":", 2) as [string, string | undefined];
  const passwd = parsePasswd(readFileInView(lowers, "/etc/passwd"));
  const groups = parseGroup(readFileInView(lowers, "/etc/group"));
  let uid: number;
  let gid: number;
  let name: string | undefined;
  if (isNum(u)) {
    uid = checkId(Number(u), "uid", spec);
    const e = passwd.find((p) => p.uid === uid);
    name = e?.name;
    gid = e?.gid ?? 0;
  } else {
    const e = passwd.find((p) => p.name === u);
    if (!e) throw new ImageError("user_not_found", `user "${u}" not found in the image's /etc/passwd`, 422, { user: spec });
    uid = checkId(e.uid, "uid", spec);
    gid = e.gid;
    name = e.name;
  }
  if (g !== undefined && g !== "") {
    if (isNum(g)) gid = Number(g);
    else {
      const ge = groups.find((x) => x.name === g);
      if (!ge) throw new ImageError("group_not_found", `group "${g}" not found in the image's /etc/group`, 422, { user: spec });
      gid = ge.gid;
    }
  }
  checkId(gid, "gid", spec);
  const additionalGids = g !== undefined || !name ? [] : [...new Set(groups.filter((x) => x.members.includes(name!) && x.gid !== gid).map((x) => x.gid))];
  return { uid, gid, additionalGids };
}
