// Safe layer unpacking: a tar stream (gzip, zstd or plain) into one directory that later
// serves as an overlayfs lower. OCI whiteouts become overlay whiteouts (char 0/0 and the
// trusted.overlay.opaque xattr); owners are shifted into the container id range; anything
// that could touch the host outside the layer directory is refused.
import * as fs from "node:fs";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { ID_MAP } from "../host/idmap";
import { TarReader, TarFormatError, type TarHeader, type TarSink } from "./tar";
import { ImageError } from "./types";
import { lsetxattr, mkFifo, mkWhiteout } from "./sys";

export interface UnpackLimits {
  /** max uncompressed bytes of one layer */
  maxBytes: number;
  /** max uncompressed/compressed ratio once past ratioFloor bytes */
  maxRatio: number;
  ratioFloor: number;
  maxEntries: number;
}

export const DEFAULT_LIMITS: UnpackLimits = {
  maxBytes: 16 * 1024 ** 3,
  maxRatio: 100,
  ratioFloor: 64 * 1024 ** 2,
  maxEntries: 2_000_000,
};

const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW, O_EXCL } = fs.constants;

function reject(message: string, details: Record<string, unknown> = {}): never {
  throw new ImageError("layer_rejected", message, 422, details);
}

function hostId(id: number, what: string, entry: string): number {
  if (!Number.isInteger(id) || id < 0 || id >= ID_MAP.size) {
    reject(`layer entry "${entry}" has ${what} ${id}, outside the container id range 0..${ID_MAP.size - 1}`, { entry });
  }
  return ID_MAP.hostBase + id;
}

/** Normalise an entry name to path components; refuses absolute paths and `..`. */
export function entryParts(name: string): string[] {
  if (name.startsWith("/")) reject(`layer entry "${name}" has an absolute path`, { entry: name });
  const parts: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") reject(`layer entry "${name}" contains ".."`, { entry: name });
    if (p.includes("\0")) reject(`layer entry "${name}" contains NUL`, { entry: name });
    parts.push(p);
  }
  return parts;
}

/** Only xattrs that are safe to carry from an image into a lower dir. */
function allowedXattr(name: string): boolean {
  return name.startsWith("user.") || name === "security.capability";
}

class LayerWriter implements TarSink {
  private dirs = new Set<string>([""]);
  private fd = -1;
  private cur: { path: string; h: TarHeader } | null = null;
  private dirTimes: Array<[string, number]> = [];
  entries = 0;

  constructor(private root: string, private limits: UnpackLimits) {
    fs.mkdirSync(root, { recursive: true, mode: 0o755 });
    fs.chownSync(root, ID_MAP.hostBase, ID_MAP.hostBase);
  }

  /** make sure every parent of parts[0..n) is a real directory in this layer */
  private ensureDirs(parts: string[], n: number, entry: string): string {
    let rel = "";
    for (let i = 0; i < n; i++) {
      rel = rel ? `${rel}/${parts[i]}` : parts[i]!;
      if (this.dirs.has(rel)) continue;
      const abs = join(this.root, rel);
      let st: fs.Stats | undefined;
      try { st = fs.lstatSync(abs); } catch { st = undefined; }
      if (st) {
        if (st.isSymbolicLink()) reject(`layer entry "${entry}" goes through symlink "${rel}"`, { entry });
        if (!st.isDirectory()) {
          // a later entry may replace a file with a directory's contents
          fs.rmSync(abs, { force: true });
          st = undefined;
        }
      }
      if (!st) {
        fs.mkdirSync(abs, { mode: 0o755 });
        fs.chownSync(abs, ID_MAP.hostBase, ID_MAP.hostBase);
      }
      this.dirs.add(rel);
    }
    return rel;
  }

  /** remove whatever sits at `abs` (unless it is a directory and we want one) */
  private clear(abs: string, keepDir: boolean): boolean {
    let st: fs.Stats;
    try { st = fs.lstatSync(abs); } catch { return false; }
    if (keepDir && st.isDirectory()) return true;
    fs.rmSync(abs, { recursive: true, force: true });
    return false;
  }

  entry(h: TarHeader): void {
    if (++this.entries > this.limits.maxEntries) reject(`layer has more than ${this.limits.maxEntries} entries`);
    const parts = entryParts(h.name);
    if (parts.length === 0) {
      // the layer root itself ("./"): adopt mode and owner
      if (h.type === "dir") {
        fs.chownSync(this.root, hostId(h.uid, "uid", h.name), hostId(h.gid, "gid", h.name));
        fs.chmodSync(this.root, h.mode);
      }
      return;
    }
    const base = parts[parts.length - 1]!;
    this.ensureDirs(parts, parts.length - 1, h.name);
    const rel = parts.join("/");
    const abs = join(this.root, rel);
    if (base.startsWith(".wh.")) {
      if (base === ".wh..wh..opq") {
        const dir = join(this.root, ...parts.slice(0, -1));
        lsetxattr(dir, "trusted.overlay.opaque", "y");
        return;
      }
      const victim = base.slice(4);
      if (!victim || victim === "." || victim === "..") reject(`bad whiteout "${h.name}"`, { entry: h.name });
      const target = join(this.root, ...parts.slice(0, -1), victim);
      this.clear(target, false);
      this.dirs.delete([...parts.slice(0, -1), victim].join("/"));
      mkWhiteout(target);
      fs.lchownSync(target, ID_MAP.hostBase, ID_MAP.hostBase);
      return;
    }
    const uid = hostId(h.uid, "uid", h.name);
    const gid = hostId(h.gid, "gid", h.name);
    switch (h.type) {
      case "dir": {
        if (!this.clear(abs, true)) fs.mkdirSync(abs, { mode: 0o755 });
        fs.chownSync(abs, uid, gid);
        fs.chmodSync(abs, h.mode);
        this.dirs.add(rel);
        this.dirTimes.push([abs, h.mtime]);
        break;
      }
      case "file": {
        this.clear(abs, false);
        this.dirs.delete(rel);
        this.fd = fs.openSync(abs, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_EXCL, 0o600);
        this.cur = { path: abs, h };
        if (h.size === 0) return; // endEntry follows
        break;
      }
      case "symlink": {
        const target = h.linkname;
        if (!target) reject(`symlink "${h.name}" has an empty target`, { entry: h.name });
        if (!target.startsWith("/")) {
          // resolve lexically from the link's directory; climbing above the root escapes
          let depth = parts.length - 1;
          for (const p of target.split("/")) {
            if (p === "" || p === ".") continue;
            if (p === "..") { depth--; if (depth < 0) reject(`symlink "${h.name}" -> "${target}" escapes the image root`, { entry: h.name, target }); }
            else depth++;
          }
        }
        this.clear(abs, false);
        this.dirs.delete(rel);
        fs.symlinkSync(target, abs);
        fs.lchownSync(abs, uid, gid);
        break;
      }
      case "hardlink": {
        const tparts = entryParts(h.linkname.replace(/^\/+/, ""));
        if (tparts.length === 0) reject(`hard link "${h.name}" has an empty target`, { entry: h.name });
        this.ensureDirs(tparts, tparts.length - 1, h.linkname);
        const tabs = join(this.root, ...tparts);
        let tst: fs.Stats;
        try { tst = fs.lstatSync(tabs); } catch { reject(`hard link "${h.name}" -> "${h.linkname}": target not in this layer`, { entry: h.name }); }
        if (tst.isDirectory()) reject(`hard link "${h.name}" points at a directory`, { entry: h.name });
        if (tabs === abs) break;
        this.clear(abs, false);
        this.dirs.delete(rel);
        fs.linkSync(tabs, abs);
        break;
      }
      case "fifo": {
        this.clear(abs, false);
        mkFifo(abs, h.mode);
        fs.lchownSync(abs, uid, gid);
        break;
      }
      case "char":
      case "block":
        reject(`layer entry "${h.name}" is a device node (${h.devmajor}:${h.devminor}); device nodes are refused`, { entry: h.name });
      default:
        reject(`layer entry "${h.name}" has unsupported tar type "${h.flag}"`, { entry: h.name });
    }
    this.applyXattrs(abs, h);
  }

  private applyXattrs(abs: string, h: TarHeader): void {
    for (const [k, v] of Object.entries(h.xattrs)) if (allowedXattr(k)) lsetxattr(abs, k, v);
  }

  data(chunk: Uint8Array): void {
    if (this.fd < 0) return; // data of a hardlink entry: ignored
    let off = 0;
    while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
  }

  endEntry(): void {
    if (this.fd < 0 || !this.cur) return;
    const { path, h } = this.cur;
    const fd = this.fd;
    this.fd = -1;
    this.cur = null;
    try {
      fs.fchownSync(fd, hostId(h.uid, "uid", h.name), hostId(h.gid, "gid", h.name));
      fs.fchmodSync(fd, h.mode); // after chown: chown clears set-id bits
      fs.futimesSync(fd, h.mtime, h.mtime);
    } finally {
      fs.closeSync(fd);
    }
    this.applyXattrs(path, h);
  }

  finish(): void {
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const [p, t] = this.dirTimes[i]!;
      try { fs.utimesSync(p, t, t); } catch {}
    }
  }

  abort(): void {
    if (this.fd >= 0) { try { fs.closeSync(this.fd); } catch {} this.fd = -1; }
  }
}

export type Compression = "gzip" | "zstd" | "none";

export function sniffCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar (the layer's diff id) */
  diffId: string;
  size: number;
  entries: number;
}

/**
 * A push-style layer unpacker: feed compressed chunks with write(), then end().
 * Unpacks into `dir` (which must not exist yet). The caller removes `dir` on failure.
 */
export class LayerUnpacker {
  private writer: LayerWriter;
  private reader: TarReader;
  private decomp: zlib.Gunzip | zlib.ZstdDecompress | null = null;
  private compressed = 0;
  private size = 0;
  private hasher = new Bun.CryptoHasher("sha256");
  private error: unknown = null;
  private sniffed = false;
  private head: Uint8Array[] = [];

  constructor(readonly dir: string, private limits: UnpackLimits = DEFAULT_LIMITS) {
    this.writer = new LayerWriter(dir, limits);
    this.reader = new TarReader(this.writer);
  }

  private onPlain = (chunk: Uint8Array): void => {
    if (this.error) return;
    try {
      this.size += chunk.length;
      if (this.size > this.limits.maxBytes) reject(`layer is larger than ${this.limits.maxBytes} bytes uncompressed`);
      if (this.size > this.limits.ratioFloor && this.size > this.compressed * this.limits.maxRatio) {
        reject(`layer expands more than ${this.limits.maxRatio}x (${this.size} bytes from ${this.compressed}); refused as a decompression bomb`);
      }
      this.hasher.update(chunk);
      this.reader.push(chunk);
    } catch (e) {
      this.error = e instanceof TarFormatError ? new ImageError("layer_rejected", `bad tar stream: ${e.message}`, 422) : e;
      this.decomp?.destroy();
    }
  };

  async write(chunk: Uint8Array): Promise<void> {
    if (this.error) throw this.error;
    this.compressed += chunk.length;
    if (!this.sniffed) {
      this.head.push(chunk);
      const total = this.head.reduce((n, c) => n + c.length, 0);
      if (total < 4) return;
      this.sniffed = true;
      const first = Buffer.concat(this.head);
      this.head = [];
      const kind = sniffCompression(first);
      if (kind !== "none") {
        this.decomp = kind === "gzip" ? zlib.createGunzip({ chunkSize: 256 * 1024 }) : zlib.createZstdDecompress({ chunkSize: 256 * 1024 });
        this.decomp.on("data", this.onPlain);
        this.decomp.on("error", (e) => { this.error ??= new ImageError("layer_rejected", `cannot decompress layer: ${e.message}`, 422); });
      }
      chunk = first;
    }
    if (!this.decomp) return this.onPlain(chunk);
    const d = this.decomp;
    if (d.destroyed) throw this.error ?? new ImageError("layer_rejected", "decompressor closed", 422);
    if (!d.write(chunk)) {
      await new Promise<void>((res) => {
        const done = () => { d.off("drain", done); d.off("close", done); res(); };
        d.on("drain", done);
        d.on("close", done);
      });
    }
    if (this.error) throw this.error;
  }

  async end(): Promise<UnpackResult> {
    if (!this.sniffed) {
      this.sniffed = true;
      const first = Buffer.concat(this.head);
      if (first.length) this.onPlain(first);
    }
    if (this.decomp) {
      const d = this.decomp;
      if (!d.destroyed) {
        const done = new Promise<void>((res) => { d.once("end", () => res()); d.once("close", () => res()); });
        d.end();
        await done;
      }
    }
    if (this.error) { this.writer.abort(); throw this.error; }
    try {
      this.reader.finish();
    } catch (e) {
      throw new ImageError("layer_rejected", `bad tar stream: ${(e as Error).message}`, 422);
    }
    this.writer.finish();
    return { diffId: `sha256:${this.hasher.digest("hex")}`, size: this.size, entries: this.writer.entries };
  }

  abort(): void {
    this.writer.abort();
    this.decomp?.destroy();
  }
}
