// The image service: resolve (pull + unpack, deduplicated), snapshots, process helpers, prune.
import * as fs from "node:fs";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { eq, inArray } from "drizzle-orm";
import type { DataPaths } from "../host/paths";
import { ID_MAP } from "../host/idmap";
import { parseReference, type Reference } from "./reference";
import { MANIFEST_ACCEPT, MEDIA, RegistryClient, type Credential } from "./registry";
import { ContentStore, digestHex } from "./store";
import { DEFAULT_LIMITS, LayerUnpacker, type UnpackLimits } from "./unpack";
import { IMAGE_TABLES_DDL, images, layers as layersTable } from "./schema";
import { mountOverlay, unmount } from "./sys";
import { mountIdmapped } from "./idmap-mount";
import * as view from "./view";
import { ImageError, type BuildRequest, type ImageConfig, type ImageService, type PullProgress, type ResolvedImage, type Snapshot } from "./types";

export interface Logger {
  debug?(o: object, msg?: string): void;
  info?(o: object, msg?: string): void;
  warn?(o: object, msg?: string): void;
}

/** Runs one build step (a Dockerfile RUN) in a container over `rootfs`, network denied. */
export type StepRunner = (req: { rootfs: string; argv: string[]; env: string[]; cwd: string; user: string }) => Promise<{ exitCode: number; output: string }>;

export interface ImageServiceOptions {
  paths: DataPaths;
  /** drizzle database holding the `images`/`layers` tables (see ./schema); default: <root>/images.db */
  db?: BunSQLiteDatabase<any> | Database;
  /** create the tables if missing (default true) */
  createTables?: boolean;
  mirrors?: Record<string, string>;
  insecureRegistries?: string[];
  /** docker config.json-style file(s) with `auths` */
  credentialsFile?: string | string[];
  credentials?: Record<string, Credential>;
  platform?: { os: string; architecture: string; variant?: string };
  logger?: Logger;
  limits?: Partial<UnpackLimits>;
  /** parallel layer downloads per image (default 4) */
  layerConcurrency?: number;
  retries?: number;
  backoffMs?: number;
  /** build: runs RUN steps; without it RUN is refused */
  runner?: StepRunner;
  /** build: directories a contextDir may live in */
  contextAllowList?: string[];
}

export interface PruneOptions {
  /** remove every image not used by a snapshot (default: only unreferenced layers/blobs/tmp) */
  all?: boolean;
  /** snapshot keys that are live; others are unmounted and removed (default: keep all) */
  liveSnapshots?: string[];
}

export interface PruneResult {
  images: string[];
  layers: number;
  blobs: number;
  snapshots: string[];
  bytes: number;
}

interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: { digest: string; size: number; mediaType?: string };
  layers: Array<{ digest: string; size: number; mediaType: string; urls?: string[] }>;
}
interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Array<{ digest: string; size: number; mediaType?: string; platform?: { os: string; architecture: string; variant?: string }; annotations?: Record<string, string> }>;
}

const hostPlatform = () => ({ os: "linux", architecture: process.arch === "x64" ? "amd64" : process.arch === "arm64" ? "arm64" : process.arch, variant: process.arch === "arm64" ? "v8" : undefined });

const KEY_RE = /^[A-Za-z0-9_.-]{1,128}$/;
function checkKey(key: string): void {
  // "." and ".." match the character class but name the snapshots dir itself or its parent
  if (!KEY_RE.test(key) || key === "." || key === "..") throw new ImageError("invalid_snapshot_key", `snapshot key "${key}" must match ${KEY_RE} and not be "." or ".."`, 400);
}

/** Mount points strictly below `dir` in this mount namespace, deepest first. */
function mountsUnder(dir: string): string[] {
  let text = "";
  try { text = fs.readFileSync("/proc/self/mountinfo", "utf8"); } catch { return []; }
  const prefix = dir.endsWith("/") ? dir : dir + "/";
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 5) continue;
    const mp = f[4]!.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (mp.startsWith(prefix)) out.push(mp);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** Lazily unmount everything below `dir` (stacked mounts included). */
function unmountUnder(dir: string): void {
  for (let round = 0; round < 8; round++) {
    const ms = mountsUnder(dir);
    if (ms.length === 0) return;
    for (const m of ms) unmount(m);
  }
}

export function toImageConfig(raw: any): ImageConfig {
  const c = raw?.config ?? {};
  return {
    entrypoint: Array.isArray(c.Entrypoint) ? c.Entrypoint : undefined,
    cmd: Array.isArray(c.Cmd) ? c.Cmd : undefined,
    env: Array.isArray(c.Env) ? c.Env : [],
    workingDir: c.WorkingDir || undefined,
    user: c.User || undefined,
    exposedPorts: c.ExposedPorts ? Object.keys(c.ExposedPorts) : undefined,
    labels: c.Labels ?? undefined,
  };
}

async function pool<T>(items: T[], n: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try { await fn(items[i]!, i); } catch (e) { failed ??= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed) throw failed;
}

export class ImageServiceImpl implements ImageService {
  readonly store: ContentStore;
  readonly registry: RegistryClient;
  readonly db: BunSQLiteDatabase<any>;
  private inflightRefs = new Map<string, Promise<ResolvedImage>>();
  private inflightLayers = new Map<string, Promise<string>>();
  private limits: UnpackLimits;
  private platform: { os: string; architecture: string; variant?: string };
  /** counters for tests and metrics */
  readonly stats = { blobFetches: 0, layerUnpacks: 0, manifestFetches: 0 };

  constructor(readonly opts: ImageServiceOptions) {
    this.store = new ContentStore(opts.paths);
    const files = opts.credentialsFile === undefined ? [join(opts.paths.root, "registry-auth.json")] : Array.isArray(opts.credentialsFile) ? opts.credentialsFile : [opts.credentialsFile];
    this.registry = new RegistryClient({
      mirrors: opts.mirrors,
      insecureRegistries: opts.insecureRegistries,
      credentials: opts.credentials,
      credentialsFiles: files,
      retries: opts.retries,
      backoffMs: opts.backoffMs,
      logger: opts.logger,
    });
    this.limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    this.platform = opts.platform ?? hostPlatform();
    let db = opts.db;
    if (!db) {
      fs.mkdirSync(opts.paths.root, { recursive: true });
      db = new Database(join(opts.paths.root, "images.db"), { create: true });
      db.exec("PRAGMA journal_mode = WAL");
    }
    this.db = db instanceof Database ? drizzle(db) : db;
    if (opts.createTables ?? true) {
      const client = (this.db as any).$client as Database | undefined;
      if (client) client.exec(IMAGE_TABLES_DDL);
    }
  }

  // ------------------------------------------------------------------ resolve

  async resolve(reference: string, onProgress?: (p: PullProgress) => void): Promise<ResolvedImage> {
    const ref = parseReference(reference);
    const key = ref.toString();
    const local = this.lookupLocal(key);
    if (local) return local;
    let p = this.inflightRefs.get(key);
    if (!p) {
      p = this.pull(ref, onProgress).finally(() => this.inflightRefs.delete(key));
      this.inflightRefs.set(key, p);
    }
    return p;
  }

  /** Image record → ResolvedImage when every layer is present. */
  lookupLocal(key: string): ResolvedImage | null {
    const row = this.db.select().from(images).where(eq(images.reference, key)).get();
    if (!row) return null;
    const diffIds: string[] = JSON.parse(row.layers);
    const dirs = diffIds.map((d) => this.store.layerPath(d));
    if (!dirs.every((d) => fs.existsSync(d))) return null;
    this.db.update(images).set({ lastUsedAt: Date.now() }).where(eq(images.reference, key)).run();
    return { reference: key, digest: row.digest, manifestDigest: row.manifestDigest, config: JSON.parse(row.config), layers: dirs, diffIds } as ResolvedImage;
  }

  listImages(): Array<{ reference: string; digest: string; size: number; createdAt: number; lastUsedAt: number }> {
    return this.db.select({ reference: images.reference, digest: images.digest, size: images.size, createdAt: images.createdAt, lastUsedAt: images.lastUsedAt }).from(images).all();
  }

  private async fetchManifest(ref: Reference, tagOrDigest: string): Promise<{ bytes: Uint8Array; digest: string; mediaType: string; doc: any }> {
    this.stats.manifestFetches++;
    const res = await this.registry.request(ref, `manifests/${tagOrDigest}`, { accept: MANIFEST_ACCEPT });
    if (res.status === 404) {
      await res.body?.cancel().catch(() => {});
      throw new ImageError("image_not_found", `image ${ref.registry}/${ref.repository}:${tagOrDigest} not found`, 404, { reference: ref.toString() });
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      throw new ImageError("registry_unreachable", `registry ${ref.registry} answered ${res.status} for manifest ${tagOrDigest}: ${text.slice(0, 200)}`, 502, { upstreamStatus: res.status });
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > 4 * 1024 * 1024) throw new ImageError("invalid_manifest", "manifest larger than 4 MiB", 502);
    const computed = `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
    const want = tagOrDigest.includes(":") ? tagOrDigest : res.headers.get("docker-content-digest");
    if (want && want.startsWith("sha256:") && want !== computed) {
      throw new ImageError("digest_mismatch", `manifest digest mismatch for ${ref.repository}: expected ${want}, got ${computed}`, 502, { expected: want, actual: computed });
    }
    if (want && want.startsWith("sha512:")) {
      const c512 = `sha512:${new Bun.CryptoHasher("sha512").update(bytes).digest("hex")}`;
      if (c512 !== want) throw new ImageError("digest_mismatch", `manifest digest mismatch: expected ${want}`, 502, { expected: want, actual: c512 });
    }
    let doc: any;
    try { doc = JSON.parse(new TextDecoder().decode(bytes)); } catch { throw new ImageError("invalid_manifest", `manifest of ${ref.repository} is not JSON`, 502); }
    const mediaType: string = doc.mediaType ?? res.headers.get("content-type")?.split(";")[0] ?? "";
    if (doc.schemaVersion === 1 || mediaType.startsWith("application/vnd.docker.distribution.manifest.v1")) {
      throw new ImageError("unsupported_manifest", `image ${ref.toString()} only has a schema 1 manifest, which is not supported`, 422);
    }
    const digest = want?.startsWith("sha512:") ? want : computed;
    return { bytes, digest, mediaType, doc };
  }

  private selectPlatform(ref: Reference, index: Index): Index["manifests"][number] {
    const want = this.platform;
    const candidates = index.manifests.filter((m) =>
      m.platform && m.platform.os !== "unknown" && m.platform.architecture !== "unknown" &&
      m.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest");
    const match = candidates.filter((m) => m.platform!.os === want.os && m.platform!.architecture === want.architecture);
    const exact = match.find((m) => !want.variant || !m.platform!.variant || m.platform!.variant === want.variant);
    if (exact) return exact;
    throw new ImageError("image_not_found", `image ${ref.toString()} has no manifest for ${want.os}/${want.architecture}`, 404, {
      reference: ref.toString(),
      available: candidates.map((m) => `${m.platform!.os}/${m.platform!.architecture}${m.platform!.variant ? `/${m.platform!.variant}` : ""}`),
    });
  }

  private async pull(ref: Reference, onProgress?: (p: PullProgress) => void): Promise<ResolvedImage> {
    const log = this.opts.logger;
    const t0 = performance.now();
    const top = await this.fetchManifest(ref, ref.digest ?? ref.tag!);
    let manifest = top;
    if (top.mediaType === MEDIA.ociIndex || top.mediaType === MEDIA.dockerList || Array.isArray(top.doc.manifests)) {
      const chosen = this.selectPlatform(ref, top.doc as Index);
      manifest = await this.fetchManifest(ref, chosen.digest);
      this.store.putVerified(top.digest, top.bytes);
    }
    const m = manifest.doc as Manifest;
    if (!m.config?.digest || !Array.isArray(m.layers)) throw new ImageError("invalid_manifest", `manifest ${manifest.digest} lacks config or layers`, 502);
    this.store.putVerified(manifest.digest, manifest.bytes);
    const configBytes = await this.fetchSmallBlob(ref, m.config.digest);
    const rawConfig = JSON.parse(new TextDecoder().decode(configBytes));
    const diffIds: string[] = rawConfig?.rootfs?.diff_ids ?? [];
    if (diffIds.length !== m.layers.length) {
      throw new ImageError("invalid_manifest", `image config lists ${diffIds.length} diff ids for ${m.layers.length} layers`, 502);
    }
    for (const l of m.layers) {
      if (l.mediaType?.includes("nondistributable") || l.mediaType?.includes("foreign")) {
        throw new ImageError("unsupported_layer", `layer ${l.digest} is a foreign/non-distributable layer`, 422);
      }
    }
    const dirs: string[] = new Array(m.layers.length);
    await pool(m.layers, this.opts.layerConcurrency ?? 4, async (desc, i) => {
      dirs[i] = await this.ensureLayer(ref, desc, diffIds[i]!, onProgress);
    });
    const config = toImageConfig(rawConfig);
    const now = Date.now();
    const key = ref.toString();
    const row = {
      reference: key,
      digest: ref.digest ?? top.digest,
      manifestDigest: manifest.digest,
      configDigest: m.config.digest,
      config: JSON.stringify(config),
      layers: JSON.stringify(diffIds),
      blobs: JSON.stringify([top.digest, manifest.digest, m.config.digest, ...m.layers.map((l) => l.digest)]),
      size: m.layers.reduce((n, l) => n + (l.size ?? 0), 0),
      createdAt: now,
      lastUsedAt: now,
    };
    this.db.insert(images).values(row).onConflictDoUpdate({ target: images.reference, set: row }).run();
    log?.info?.({ reference: key, digest: row.digest, layers: dirs.length, ms: Math.round(performance.now() - t0) }, "image pulled");
    return { reference: key, digest: row.digest, manifestDigest: manifest.digest, config, layers: dirs, diffIds } as ResolvedImage;
  }

  private async fetchSmallBlob(ref: Reference, digest: string): Promise<Uint8Array> {
    if (this.store.has(digest)) return this.store.read(digest);
    this.stats.blobFetches++;
    const res = await this.registry.request(ref, `blobs/${digest}`);
    if (res.status === 404) throw new ImageError("image_not_found", `blob ${digest} of ${ref.repository} not found`, 404, { digest });
    if (!res.ok) throw new ImageError("registry_unreachable", `registry answered ${res.status} for blob ${digest}`, 502);
    const bytes = new Uint8Array(await res.arrayBuffer());
    this.store.putVerified(digest, bytes);
    return bytes;
  }

  /** Make sure the layer with `diffId` is unpacked; download once however many callers ask. */
  private ensureLayer(ref: Reference, desc: Manifest["layers"][number], diffId: string, onProgress?: (p: PullProgress) => void): Promise<string> {
    const dir = this.store.layerPath(diffId);
    if (fs.existsSync(dir)) {
      onProgress?.({ layer: desc.digest, done: desc.size, total: desc.size });
      return Promise.resolve(dir);
    }
    let p = this.inflightLayers.get(diffId);
    if (!p) {
      p = this.materialise(ref, desc, diffId, onProgress).finally(() => this.inflightLayers.delete(diffId));
      this.inflightLayers.set(diffId, p);
    } else if (onProgress) {
      p.then(() => onProgress({ layer: desc.digest, done: desc.size, total: desc.size }), () => {});
    }
    return p;
  }

  private async materialise(ref: Reference, desc: Manifest["layers"][number], diffId: string, onProgress?: (p: PullProgress) => void): Promise<string> {
    const dest = this.store.layerPath(diffId);
    const { algo } = digestHex(desc.digest);
    for (let attempt = 0; ; attempt++) {
      const tmpDir = this.store.tmpName("layer");
      const tmpBlob = this.store.tmpName("blob");
      const unpacker = new LayerUnpacker(tmpDir, this.limits);
      let fd = -1;
      try {
        const fromStore = this.store.has(desc.digest);
        let body: AsyncIterable<Uint8Array>;
        if (fromStore) {
          body = Bun.file(this.store.blobPath(desc.digest)).stream() as any;
        } else {
          this.stats.blobFetches++;
          const res = await this.registry.request(ref, `blobs/${desc.digest}`);
          if (res.status === 404) throw new ImageError("image_not_found", `layer ${desc.digest} of ${ref.repository} not found in the registry`, 404, { digest: desc.digest });
          if (!res.ok || !res.body) throw new ImageError("registry_unreachable", `registry answered ${res.status} for layer ${desc.digest}`, 502, { upstreamStatus: res.status });
          body = res.body as any;
          fd = fs.openSync(tmpBlob, "w", 0o644);
        }
        const hasher = new Bun.CryptoHasher(algo);
        let done = 0;
        let lastReport = 0;
        for await (const chunk of body) {
          hasher.update(chunk);
          done += chunk.length;
          if (done > desc.size && desc.size > 0) throw new ImageError("digest_mismatch", `layer ${desc.digest} is larger than its descriptor size ${desc.size}`, 502, { digest: desc.digest });
          if (fd >= 0) { let off = 0; while (off < chunk.length) off += fs.writeSync(fd, chunk, off); }
          await unpacker.write(chunk);
          if (onProgress && (done - lastReport > 256 * 1024 || done === desc.size)) { lastReport = done; onProgress({ layer: desc.digest, done, total: desc.size }); }
        }
        if (fd >= 0) { fs.closeSync(fd); fd = -1; }
        const got = `${algo}:${hasher.digest("hex")}`;
        if (got !== desc.digest) throw new ImageError("digest_mismatch", `layer digest mismatch: expected ${desc.digest}, got ${got}`, 502, { expected: desc.digest, actual: got });
        const result = await unpacker.end();
        if (result.diffId !== diffId) throw new ImageError("digest_mismatch", `layer ${desc.digest} unpacks to ${result.diffId}, but the image config says ${diffId}`, 502, { expected: diffId, actual: result.diffId });
        if (!fromStore) fs.renameSync(tmpBlob, this.store.blobPath(desc.digest));
        try {
          fs.renameSync(tmpDir, dest);
        } catch (e: any) {
          if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e;
          fs.rmSync(tmpDir, { recursive: true, force: true }); // another process won the race
        }
        this.stats.layerUnpacks++;
        this.db.insert(layersTable).values({ diffId, blobDigest: desc.digest, size: result.size, unpackedAt: Date.now() }).onConflictDoNothing().run();
        onProgress?.({ layer: desc.digest, done: desc.size || done, total: desc.size || done });
        return dest;
      } catch (e) {
        unpacker.abort();
        if (fd >= 0) try { fs.closeSync(fd); } catch {}
        fs.rmSync(tmpBlob, { force: true });
        fs.rmSync(tmpDir, { recursive: true, force: true });
        const transient = !(e instanceof ImageError) && attempt < 2;
        if (transient) {
          this.opts.logger?.warn?.({ digest: desc.digest, err: String(e) }, "layer download interrupted; retrying");
          await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
          continue;
        }
        if (e instanceof ImageError) throw e;
        throw new ImageError("registry_unreachable", `downloading layer ${desc.digest} failed: ${(e as Error).message}`, 502, { digest: desc.digest });
      }
    }
  }

  // ------------------------------------------------------------------ snapshots

  /**
   * A writable overlay over `lowers` (bottom first) at <snapshots>/<key>/rootfs.
   * `idmapLowers`: the lowers are host directories owned by host ids (a prepared root filesystem,
   * e.g. debootstrap output owned by root), not our unpacked layers (already shifted). Each is
   * first mounted idmapped (host id N shows as ID_MAP.hostBase + N) at lower-idmapped/<i> and the
   * overlay stands on that; the directory itself is never modified. The idmapped mounts are
   * detached right after the overlay is mounted (overlayfs holds private clones of its layers),
   * so a live snapshot leaves exactly one mount, as without idmapping.
   */
  async prepareSnapshot(key: string, lowers: string[], opts: { idmapLowers?: boolean } = {}): Promise<Snapshot> {
    checkKey(key);
    if (lowers.length === 0) throw new ImageError("snapshot_failed", "a snapshot needs at least one lower directory", 422);
    for (const l of lowers) {
      if (!l.startsWith("/") || l.includes(":") || l.includes(",")) throw new ImageError("snapshot_failed", `lower "${l}" must be an absolute path without ':' or ','`, 422);
      let st: fs.Stats;
      try { st = fs.statSync(l); } catch { throw new ImageError("snapshot_failed", `lower "${l}" does not exist`, 422); }
      if (!st.isDirectory()) throw new ImageError("snapshot_failed", `lower "${l}" is not a directory`, 422);
    }
    const dir = join(this.opts.paths.snapshots, key);
    const rootfs = join(dir, "rootfs");
    const upper = join(dir, "upper");
    const work = join(dir, "work");
    if (fs.existsSync(join(dir, "mounted"))) return { key, rootfs };
    if (opts.idmapLowers) unmountUnder(dir); // leftovers of an interrupted prepare
    // async fs calls: under many concurrent starts the kernel makes these slow (mount-table
    // contention) and the server's event loop must keep answering meanwhile
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o711 });
    await Promise.all([upper, work, rootfs].map((d) => fs.promises.mkdir(d, { mode: 0o755 }).catch((e: any) => { if (e.code !== "EEXIST") throw e; })));
    await fs.promises.chown(upper, ID_MAP.hostBase, ID_MAP.hostBase);
    await fs.promises.writeFile(join(dir, "lowers.json"), JSON.stringify(lowers));
    let mountLowers = lowers;
    if (opts.idmapLowers) {
      const idmapDir = join(dir, "lower-idmapped");
      mountLowers = lowers.map((_, i) => join(idmapDir, String(i)));
      try {
        fs.mkdirSync(idmapDir, { recursive: true, mode: 0o700 });
        for (let i = 0; i < lowers.length; i++) {
          fs.mkdirSync(mountLowers[i]!, { recursive: true, mode: 0o755 });
          await mountIdmapped(lowers[i]!, mountLowers[i]!);
        }
      } catch (e) {
        this.discardSnapshotDir(dir);
        throw new ImageError("snapshot_failed", `idmapped mount of the lower for ${key} failed (needs Linux >= 5.19 and a filesystem that supports idmapped mounts): ${(e as Error).message}`, 500, { key });
      }
    }
    const options = `lowerdir=${[...mountLowers].reverse().join(":")},upperdir=${upper},workdir=${work}`;
    if (options.length > 4000) { this.discardSnapshotDir(dir); throw new ImageError("snapshot_failed", `too many layers for one overlay mount (${lowers.length})`, 422); }
    try {
      mountOverlay(rootfs, options);
    } catch (e) {
      this.discardSnapshotDir(dir);
      throw new ImageError("snapshot_failed", `overlay mount for ${key} failed: ${(e as Error).message}`, 500, { key });
    }
    if (opts.idmapLowers) for (const m of mountLowers) { try { unmount(m); } catch {} } // the overlay keeps its own clones; removeSnapshot retries
    await fs.promises.writeFile(join(dir, "mounted"), "");
    return { key, rootfs };
  }

  /** Unmount whatever is left under a half-made snapshot dir and delete it; never deletes through a mount. */
  private discardSnapshotDir(dir: string): void {
    try { unmountUnder(dir); } catch {}
    if (mountsUnder(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
  }

  async removeSnapshot(key: string): Promise<void> {
    checkKey(key);
    const dir = join(this.opts.paths.snapshots, key);
    if (!fs.existsSync(dir)) return;
    for (let i = 0; i < 5; i++) {
      try { if (!unmount(join(dir, "rootfs"))) break; } catch (e) {
        if (i === 4) throw new ImageError("snapshot_busy", `cannot unmount snapshot ${key}: ${(e as Error).message}`, 409, { key });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // an idmapped lower still attached (interrupted prepare) is the operator's own directory:
    // unmount it, and refuse to delete recursively while anything is mounted below the dir
    try { unmountUnder(dir); } catch {}
    const left = mountsUnder(dir);
    if (left.length) throw new ImageError("snapshot_busy", `cannot unmount snapshot ${key}: still mounted: ${left.join(", ")}`, 409, { key });
    fs.rmSync(dir, { recursive: true, force: true });
  }

  listSnapshots(): Array<{ key: string; lowers: string[] }> {
    const out: Array<{ key: string; lowers: string[] }> = [];
    let names: string[] = [];
    try { names = fs.readdirSync(this.opts.paths.snapshots); } catch {}
    for (const key of names) {
      let lowers: string[] = [];
      try { lowers = JSON.parse(fs.readFileSync(join(this.opts.paths.snapshots, key, "lowers.json"), "utf8")); } catch {}
      out.push({ key, lowers });
    }
    return out;
  }

  // ------------------------------------------------------------------ process helpers

  async resolveUser(lowers: string[], user: string | undefined) {
    return view.resolveUser(lowers, user);
  }

  async resolveExecutable(lowers: string[], argv0: string, path: string) {
    return view.resolveExecutable(lowers, argv0, path);
  }

  // ------------------------------------------------------------------ build

  async build(req: BuildRequest): Promise<ResolvedImage> {
    const { buildImage } = await import("./build");
    return buildImage(this, req);
  }

  // ------------------------------------------------------------------ gc

  async prune(opts: PruneOptions = {}): Promise<PruneResult> {
    await Promise.allSettled([...this.inflightRefs.values(), ...this.inflightLayers.values()]);
    return pruneImages(this, opts);
  }
}

function dirSize(p: string): number {
  let n = 0;
  try {
    const st = fs.lstatSync(p);
    if (!st.isDirectory()) return st.size;
    for (const e of fs.readdirSync(p)) n += dirSize(join(p, e));
  } catch {}
  return n;
}

/** Remove unreferenced image material; never what a snapshot uses. */
export async function pruneImages(svc: ImageServiceImpl, opts: PruneOptions = {}): Promise<PruneResult> {
  const { paths } = svc.opts;
  const result: PruneResult = { images: [], layers: 0, blobs: 0, snapshots: [], bytes: 0 };
  if (opts.liveSnapshots) {
    const live = new Set(opts.liveSnapshots);
    for (const s of svc.listSnapshots()) {
      if (!live.has(s.key)) { await svc.removeSnapshot(s.key); result.snapshots.push(s.key); }
    }
  }
  const snaps = svc.listSnapshots().map((s) => new Set(s.lowers));
  const usedDirs = new Set(snaps.flatMap((s) => [...s]));
  const rows = svc.db.select().from(images).all();
  const keep: typeof rows = [];
  for (const r of rows) {
    const dirs = (JSON.parse(r.layers) as string[]).map((d) => svc.store.layerPath(d));
    // an image is in use when a snapshot stands on its whole layer stack
    const inUse = snaps.some((s) => dirs.every((d) => s.has(d)));
    if (opts.all && !inUse) {
      svc.db.delete(images).where(eq(images.reference, r.reference)).run();
      result.images.push(r.reference);
    } else keep.push(r);
  }
  const keepLayers = new Set<string>(usedDirs);
  const keepBlobs = new Set<string>();
  for (const r of keep) {
    for (const d of JSON.parse(r.layers) as string[]) keepLayers.add(svc.store.layerPath(d));
    for (const b of JSON.parse(r.blobs) as string[]) keepBlobs.add(svc.store.blobPath(b));
  }
  for (const extra of (svc as any).buildCacheRefs?.() ?? []) keepLayers.add(extra);
  let layerNames: string[] = [];
  try { layerNames = fs.readdirSync(paths.layers); } catch {}
  const dropped: string[] = [];
  for (const name of layerNames) {
    const p = join(paths.layers, name);
    if (keepLayers.has(p)) continue;
    result.bytes += dirSize(p);
    fs.rmSync(p, { recursive: true, force: true });
    result.layers++;
    dropped.push(/^[a-f0-9]{64}$/.test(name) ? `sha256:${name}` : name.replace("-", ":"));
  }
  if (dropped.length) svc.db.delete(layersTable).where(inArray(layersTable.diffId, dropped)).run();
  for (const algo of ["sha256", "sha512"]) {
    const dir = join(paths.blobs, algo);
    let names: string[] = [];
    try { names = fs.readdirSync(dir); } catch {}
    for (const n of names) {
      const p = join(dir, n);
      if (keepBlobs.has(p)) continue;
      try { result.bytes += fs.statSync(p).size; } catch {}
      fs.rmSync(p, { force: true });
      result.blobs++;
    }
  }
  // leftovers of interrupted pulls
  let tmpNames: string[] = [];
  try { tmpNames = fs.readdirSync(paths.tmp); } catch {}
  const cutoff = Date.now() - 10 * 60_000;
  for (const n of tmpNames) {
    const p = join(paths.tmp, n);
    try { if (fs.lstatSync(p).mtimeMs < cutoff) fs.rmSync(p, { recursive: true, force: true }); } catch {}
  }
  return result;
}
