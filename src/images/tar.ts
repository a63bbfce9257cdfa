// A small streaming tar reader (ustar, GNU long names, PAX incl. SCHILY xattrs, base-256
// numbers) and a deterministic writer. Own code rather than a dependency: layer unpacking
// needs exact control over every entry before anything touches the disk, the format subset
// is small, and a push parser lets decompression feed it without extra stream plumbing.

export type TarType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo" | "other";

export interface TarHeader {
  name: string;
  type: TarType;
  /** raw typeflag character */
  flag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
}

export interface TarSink {
  entry(h: TarHeader): void;
  data(chunk: Uint8Array): void;
  /** end of the current entry's data */
  endEntry(): void;
}

export class TarFormatError extends Error {}

const decoder = new TextDecoder();

function str(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return decoder.decode(b.subarray(off, end));
}

function num(b: Uint8Array, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // base-256, big endian, first byte's high bit is the marker
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    return v;
  }
  const s = str(b, off, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad octal field "${s}"`);
  return parseInt(s, 8);
}

function typeOf(flag: string): TarType {
  switch (flag) {
    case "0": case "\0": case "7": case "": return "file";
    case "1": return "hardlink";
    case "2": return "symlink";
    case "3": return "char";
    case "4": return "block";
    case "5": return "dir";
    case "6": return "fifo";
    default: return "other";
  }
}

function parsePax(buf: Uint8Array): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let i = 0;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  while (i < b.length) {
    const sp = b.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(b.toString("ascii", i, sp), 10);
    if (!Number.isFinite(len) || len <= 0 || i + len > b.length) throw new TarFormatError("bad PAX record");
    const rec = b.subarray(sp + 1, i + len - 1); // drop trailing \n
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out[rec.toString("utf8", 0, eq)] = Buffer.from(rec.subarray(eq + 1));
    i += len;
  }
  return out;
}

const enum State { Header, Data, Meta, Pad, Done }

export class TarReader {
  private state = State.Header;
  private hdr = new Uint8Array(512);
  private hdrFill = 0;
  private remaining = 0;
  private pad = 0;
  private meta: Uint8Array[] = [];
  private metaKind = "";
  private pending: { pax?: Record<string, Buffer>; longName?: string; longLink?: string } = {};
  private globals: Record<string, Buffer> = {};
  private zeroBlocks = 0;

  constructor(private sink: TarSink) {}

  get done(): boolean { return this.state === State.Done; }

  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      switch (this.state) {
        case State.Done:
          return; // trailing padding after the end marker
        case State.Header: {
          const n = Math.min(512 - this.hdrFill, chunk.length - off);
          this.hdr.set(chunk.subarray(off, off + n), this.hdrFill);
          this.hdrFill += n;
          off += n;
          if (this.hdrFill === 512) {
            this.hdrFill = 0;
            this.onHeader();
          }
          break;
        }
        case State.Data:
        case State.Meta: {
          const n = Math.min(this.remaining, chunk.length - off);
          const part = chunk.subarray(off, off + n);
          if (this.state === State.Data) this.sink.data(part);
          else this.meta.push(part.slice());
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.finishData();
          break;
        }
        case State.Pad: {
          const n = Math.min(this.pad, chunk.length - off);
          off += n;
          this.pad -= n;
          if (this.pad === 0) this.state = State.Header;
          break;
        }
      }
    }
  }

  /** Call at end of input: throws if the archive was cut short. */
  finish(): void {
    if (this.state === State.Header && this.hdrFill === 0 && this.zeroBlocks > 0) return;
    if (this.state === State.Done) return;
    if (this.state === State.Header && this.hdrFill === 0 && this.zeroBlocks === 0) {
      // tolerate archives without the two zero blocks, as GNU tar does
      return;
    }
    throw new TarFormatError("truncated tar archive");
  }

  private onHeader(): void {
    const h = this.hdr;
    let allZero = true;
    for (let i = 0; i < 512; i++) if (h[i] !== 0) { allZero = false; break; }
    if (allZero) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.state = State.Done;
      return;
    }
    this.zeroBlocks = 0;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    const want = num(h, 148, 8);
    if (sum !== want) throw new TarFormatError("tar header checksum mismatch");
    const flag = String.fromCharCode(h[156]!);
    const size = num(h, 124, 12);
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > 1 << 20) throw new TarFormatError("tar metadata entry larger than 1 MiB");
      this.metaKind = flag;
      this.meta = [];
      this.remaining = size;
      this.pad = (512 - (size % 512)) % 512;
      this.state = State.Meta;
      if (size === 0) this.finishData();
      return;
    }
    const magic = str(h, 257, 6);
    let name = str(h, 0, 100);
    if (magic === "ustar") {
      const prefix = str(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let linkname = str(h, 157, 100);
    const p = this.pending;
    this.pending = {};
    const pax = { ...this.globals, ...(p.pax ?? {}) };
    if (p.longName !== undefined) name = p.longName;
    if (p.longLink !== undefined) linkname = p.longLink;
    if (pax.path) name = pax.path.toString("utf8");
    if (pax.linkpath) linkname = pax.linkpath.toString("utf8");
    const header: TarHeader = {
      name,
      flag,
      type: typeOf(flag),
      mode: num(h, 100, 8) & 0o7777,
      uid: pax.uid ? Number(pax.uid.toString()) : num(h, 108, 8),
      gid: pax.gid ? Number(pax.gid.toString()) : num(h, 116, 8),
      size: pax.size ? Number(pax.size.toString()) : size,
      mtime: pax.mtime ? Math.floor(Number(pax.mtime.toString())) : num(h, 136, 12),
      linkname,
      devmajor: num(h, 329, 8),
      devminor: num(h, 337, 8),
      xattrs: {},
    };
    for (const [k, v] of Object.entries(pax)) {
      if (k.startsWith("SCHILY.xattr.")) header.xattrs[k.slice(13)] = v;
      else if (k.startsWith("LIBARCHIVE.xattr.")) header.xattrs[decodeURIComponent(k.slice(17))] = Buffer.from(v.toString(), "base64");
    }
    // hard links, symlinks and dirs carry no data even if a size is recorded (except hardlinks in some writers)
    const dataSize = header.type === "file" || header.type === "other" ? header.size : header.type === "hardlink" ? header.size : 0;
    this.sink.entry(header);
    this.remaining = dataSize;
    this.pad = (512 - (dataSize % 512)) % 512;
    this.state = State.Data;
    if (dataSize === 0) this.finishData();
  }

  private finishData(): void {
    if (this.state === State.Meta) {
      const total = this.meta.reduce((n, m) => n + m.length, 0);
      const buf = new Uint8Array(total);
      let o = 0;
      for (const m of this.meta) { buf.set(m, o); o += m.length; }
      this.meta = [];
      if (this.metaKind === "x") this.pending.pax = { ...(this.pending.pax ?? {}), ...parsePax(buf) };
      else if (this.metaKind === "g") Object.assign(this.globals, parsePax(buf));
      else if (this.metaKind === "L") this.pending.longName = str(buf, 0, buf.length);
      else if (this.metaKind === "K") this.pending.longLink = str(buf, 0, buf.length);
    } else {
      this.sink.endEntry();
    }
    this.state = this.pad > 0 ? State.Pad : State.Header;
  }
}

// ---------------------------------------------------------------- writer (fixtures, builds)

export interface TarWriteEntry {
  name: string;
  type?: "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  data?: Uint8Array;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, string | Uint8Array>;
}

const FLAGS: Record<string, string> = { file: "0", hardlink: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" };
const enc = new TextEncoder();

function writeStr(b: Uint8Array, off: number, len: number, s: string): void {
  const e = enc.encode(s);
  b.set(e.subarray(0, len), off);
}
function writeOct(b: Uint8Array, off: number, len: number, v: number): void {
  writeStr(b, off, len, v.toString(8).padStart(len - 1, "0"));
}

function rawHeader(name: string, flag: string, e: { mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string; devmajor: number; devminor: number }): Uint8Array {
  const h = new Uint8Array(512);
  writeStr(h, 0, 100, name);
  writeOct(h, 100, 8, e.mode);
  writeOct(h, 108, 8, e.uid);
  writeOct(h, 116, 8, e.gid);
  writeOct(h, 124, 12, e.size);
  writeOct(h, 136, 12, e.mtime);
  h.fill(32, 148, 156);
  writeStr(h, 156, 1, flag);
  writeStr(h, 157, 100, e.linkname);
  writeStr(h, 257, 6, "ustar");
  writeStr(h, 263, 2, "00");
  writeOct(h, 329, 8, e.devmajor);
  writeOct(h, 337, 8, e.devminor);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  writeStr(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function padded(data: Uint8Array): Uint8Array[] {
  const pad = (512 - (data.length % 512)) % 512;
  return pad ? [data, new Uint8Array(pad)] : [data];
}

/** Bytes of one entry (with a PAX header when a name/link is long or xattrs are set). */
export function tarEntry(e: TarWriteEntry): Uint8Array[] {
  const type = e.type ?? "file";
  const data = type === "file" ? (e.data ?? new Uint8Array(0)) : new Uint8Array(0);
  const fields = {
    mode: e.mode ?? (type === "dir" ? 0o755 : 0o644),
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    size: data.length,
    mtime: e.mtime ?? 0,
    linkname: e.linkname ?? "",
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  };
  const out: Uint8Array[] = [];
  const records: string[] = [];
  const nameBytes = enc.encode(e.name).length;
  if (nameBytes > 99) records.push(paxRecord("path", e.name));
  if (enc.encode(fields.linkname).length > 99) records.push(paxRecord("linkpath", fields.linkname));
  for (const [k, v] of Object.entries(e.xattrs ?? {})) {
    records.push(paxRecord(`SCHILY.xattr.${k}`, typeof v === "string" ? v : Buffer.from(v).toString("latin1")));
  }
  if (records.length) {
    const body = enc.encode(records.join(""));
    out.push(rawHeader("PaxHeaders/" + e.name.slice(-80), "x", { ...fields, mode: 0o644, size: body.length, linkname: "" }), ...padded(body));
  }
  out.push(rawHeader(e.name.slice(0, 99), FLAGS[type]!, { ...fields, linkname: fields.linkname.slice(0, 99) }), ...padded(data));
  return out;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = enc.encode(body).length;
  let total = len + String(len).length;
  if (String(total).length !== String(len).length) total = len + String(total).length;
  return `${total}${body}`;
}

/** A whole archive in memory (fixtures and build layers are modest). */
export function tarArchive(entries: TarWriteEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) parts.push(...tarEntry(e));
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}
