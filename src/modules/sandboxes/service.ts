import { createHash, randomBytes } from "node:crypto";
import { realpathSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { sep } from "node:path";
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { ImageError, parseReference, type ImageService, type ResolvedImage } from "../../images";
import type { EndpointProxy } from "../../network/endpoints";
import { BackendError, type Availability, type Backend, type ExitInfo, type ProcessSpec } from "../../runtime/types";
import { ApiError, conflict, invalid, notFound } from "../../server/errors";
import type { Logger } from "../../server/logging";
import type { Store } from "../../store/db";
import { sandboxes } from "../../store/schema";
import { validateLabels } from "../labels";
import { Gate } from "./gate";
import { cursor, iso } from "../shared";
import type { CreateSandbox, Endpoint, LaunchInputs, LifecycleState, Sandbox, SandboxSpec, SandboxStatus } from "./model";

type Row = typeof sandboxes.$inferSelect;

export interface SandboxLimits {
  defaultCpu: number;
  defaultMemoryMiB: number;
  defaultPids: number;
  maxCpu: number;
  maxMemoryMiB: number;
  maxPids: number;
  defaultGraceMs: number;
}

export interface SandboxDeps {
  db: Store;
  images: ImageService;
  backends: Record<"container" | "krun", Backend>;
  endpoints: EndpointProxy;
  limits: SandboxLimits;
  rootfsAllow: string[];
  buildContextAllow: string[];
  logger: Logger;
  /** whether the desktop profile (virtual display) can be delivered on this host */
  desktopAvailable: boolean;
}


const TERMINAL: LifecycleState[] = ["stopped", "failed"];

const redact = (values: unknown[] | Record<string, unknown> | undefined) => ({
  redacted: true as const,
  valueCount: values === undefined ? 0 : Array.isArray(values) ? values.length : Object.keys(values).length,
});

const newId = () => `sbx_${randomBytes(10).toString("hex")}`;

const parseEnv = (list: string[]): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
};

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const within = (path: string, roots: string[]): boolean => roots.some((r) => path === r || path.startsWith(r.endsWith(sep) ? r : r + sep));

/** Drives sandboxes through their lifecycle; the only writer of sandbox rows. */
export class SandboxService {
  readonly #cancelled = new Set<string>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #stopListeners: ((tenantId: string, id: string) => void)[] = [];
  readonly #driving = new Map<string, Promise<void>>();
  /** per-layer download progress of sandboxes being prepared; in memory, shown while preparing */
  readonly #progress = new Map<string, Map<string, { done: number; total: number }>>();

  /** backend availability probes the host (mountinfo, /proc): remembered briefly, not run per create */
  readonly #availability = new Map<string, { at: number; value: Availability }>();
  /** snapshot + start, a few at a time (see Gate) */
  readonly #starts = new Gate(Math.max(4, availableParallelism() * 4));
  readonly #selectById;
  readonly #selectByTenantAndId;

  constructor(private readonly d: SandboxDeps) {
    this.#selectById = d.db.select().from(sandboxes).where(eq(sandboxes.id, sql.placeholder("id"))).prepare();
    this.#selectByTenantAndId = d.db
      .select()
      .from(sandboxes)
      .where(and(eq(sandboxes.tenantId, sql.placeholder("tenantId")), eq(sandboxes.id, sql.placeholder("id"))))
      .prepare();
    for (const b of Object.values(d.backends)) b.onExit((id, exit) => void this.#onExit(id, exit));
  }

  /** Called whenever a sandbox leaves service (stopped or failed). */
  onStopped(listener: (tenantId: string, id: string) => void): void {
    this.#stopListeners.push(listener);
  }

  // ---- reads ----

  get(tenantId: string, id: string): Sandbox {
    return this.#view(this.#row(tenantId, id));
  }

  /** The row for internal use by other modules (sessions): throws sandbox_not_found. */
  record(tenantId: string, id: string): Row {
    return this.#row(tenantId, id);
  }

  list(tenantId: string, q: { labelKey?: string; labelValue?: string; lifecycleState?: string; limit?: number; pageToken?: string }) {
    if (q.labelValue !== undefined && q.labelKey === undefined) throw invalid("/labelValue", "labelValue needs labelKey", "invalid_query");
    const after = cursor.decode(q.pageToken);
    if (Number.isNaN(after)) throw invalid("/pageToken", "is not a token this server issued", "invalid_page_token");
    const limit = q.limit ?? 50;
    const conds = [eq(sandboxes.tenantId, tenantId)];
    if (after !== undefined) conds.push(gt(sandboxes.seq, after));
    if (q.lifecycleState) conds.push(eq(sandboxes.lifecycleState, q.lifecycleState));
    if (q.labelKey !== undefined) {
      const path = `$."${q.labelKey.replaceAll('"', "")}"`;
      conds.push(q.labelValue !== undefined ? sql`json_extract(${sandboxes.labels}, ${path}) = ${q.labelValue}` : sql`json_type(${sandboxes.labels}, ${path}) IS NOT NULL`);
    }
    const rows = this.d.db.select().from(sandboxes).where(and(...conds)).orderBy(asc(sandboxes.seq)).limit(limit + 1).all();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { items: page.map((r) => this.#view(r)), ...(rows.length > limit && last ? { nextPageToken: cursor.encode(last.seq) } : {}) };
  }

  // ---- create ----

  create(tenantId: string, input: CreateSandbox): Sandbox {
    const spec = input.spec;
    const labels = input.labels ?? {};
    validateLabels(labels);
    const profile = input.profile ?? "worker";
    if (profile === "desktop" && !this.d.desktopAvailable) {
      throw new ApiError(422, "profile_unavailable", "the desktop profile (virtual display) is not available on this server; use profile \"worker\"", { profile });
    }
    if (spec.owner.kind === "service") {
      throw new ApiError(403, "owner_reserved", "sandboxes owned by a service are created by that service; create a standalone sandbox or a service", { path: "/spec/owner/kind" });
    }
    const backendName = spec.backend ?? "container";
    const backend = this.d.backends[backendName];
    const availability = this.availabilityOf(backendName);
    if (backendName === "krun") {
      throw new ApiError(422, "backend_unavailable", "the krun backend fails closed for process execution until its network egress enforcement reaches parity with the container backend", {
        backend: "krun",
        libkrun: availability.available ? "loaded" : (availability.reason ?? "not found"),
      });
    }
    if (!availability.available) throw new ApiError(503, "backend_unavailable", `backend ${backendName} is unavailable: ${availability.reason ?? "unknown"}`, { backend: backendName });
    const resources = this.#resources(spec.resources);
    const ports = (spec.ports ?? []).map((p) => ({ port: p.port, name: p.name ?? `p${p.port}`, protocol: p.protocol ?? "http" }));
    if (new Set(ports.map((p) => p.port)).size !== ports.length) throw invalid("/spec/ports", "ports must be unique");
    if (new Set(ports.map((p) => p.name)).size !== ports.length) throw invalid("/spec/ports", "port names must be unique");
    for (const name of Object.keys(spec.process?.environment ?? {})) {
      // the value is never echoed back: only the name's position in the map is named
      if (name === "" || name.includes("=") || name.includes("\0")) throw invalid("/spec/process/environment", "variable names must be non-empty and contain no '=' or NUL", "invalid_environment");
    }
    const launch: LaunchInputs = { argv: spec.process?.argv, environment: spec.process?.environment };
    let rootView: SandboxSpec["root"];
    if (spec.root.kind === "rootfs") {
      rootView = { kind: "rootfs", path: this.#allowedDir(spec.root.path, this.d.rootfsAllow, "/spec/root/path", "rootfs_not_allowed") };
    } else if (spec.root.source.kind === "reference") {
      rootView = { kind: "oci_image", source: { kind: "reference", reference: spec.root.source.reference } };
      this.#checkReference(spec.root.source.reference);
    } else {
      const src = spec.root.source;
      if (src.context !== undefined && src.contextDir !== undefined) throw invalid("/spec/root/source", "give either context or contextDir, not both");
      if (src.contextDir !== undefined) this.#allowedDir(src.contextDir, this.d.buildContextAllow, "/spec/root/source/contextDir", "context_not_allowed");
      if (src.context !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(src.context)) throw invalid("/spec/root/source/context", "must be base64");
      launch.build = { dockerfile: src.dockerfile, context: src.context, contextDir: src.contextDir, buildArgs: src.buildArgs };
      const digest = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;
      rootView = { kind: "oci_image", source: { kind: "build", dockerfileDigest: digest(src.dockerfile), contextDigest: src.context ? digest(src.context) : null } };
    }
    const view: SandboxSpec = {
      profile,
      owner: spec.owner,
      backend: backendName,
      root: rootView,
      process: { argv: redact(launch.argv), environment: redact(launch.environment), workingDir: spec.process?.workingDir ?? null, user: spec.process?.user ?? null },
      resources,
      timeoutMs: spec.timeoutMs ?? null,
      ports,
    };
    const now = Date.now();
    const status: SandboxStatus = { lifecycleState: "pending", reason: null, message: null, exit: null, endpoints: [], image: null, transitions: { pending: new Date(now).toISOString() } };
    const row = this.d.db
      .insert(sandboxes)
      .values({ id: newId(), tenantId, profile, backend: backendName, labels, spec: view, launch, lifecycleState: "pending", status, createdAt: now, updatedAt: now })
      .returning()
      .get();
    this.d.logger.info({ sandboxId: row.id, tenantId, backend: backendName }, "sandbox created");
    this.#drive(row.id);
    return this.#view(row);
  }

  availabilityOf(name: "container" | "krun"): Availability {
    const hit = this.#availability.get(name);
    if (hit && Date.now() - hit.at < 5_000) return hit.value;
    const value = this.d.backends[name].availability();
    this.#availability.set(name, { at: Date.now(), value });
    return value;
  }

  #resources(r: { cpu?: number; memoryMiB?: number; pids?: number } | undefined) {
    const L = this.d.limits;
    const out = { cpu: r?.cpu ?? L.defaultCpu, memoryMiB: r?.memoryMiB ?? L.defaultMemoryMiB, pids: r?.pids ?? L.defaultPids };
    if (out.cpu > L.maxCpu) throw invalid("/spec/resources/cpu", `must be at most ${L.maxCpu}`, "resources_exceed_limits");
    if (out.memoryMiB > L.maxMemoryMiB) throw invalid("/spec/resources/memoryMiB", `must be at most ${L.maxMemoryMiB}`, "resources_exceed_limits");
    if (out.pids > L.maxPids) throw invalid("/spec/resources/pids", `must be at most ${L.maxPids}`, "resources_exceed_limits");
    return out;
  }

  #checkReference(reference: string) {
    try {
      parseReference(reference);
    } catch (e) {
      if (e instanceof ImageError) throw new ApiError(422, "invalid_reference", `/spec/root/source/reference: ${e.message}`, { path: "/spec/root/source/reference" });
      throw e;
    }
  }

  #allowedDir(path: string, allow: string[], at: string, code: string): string {
    if (!path.startsWith("/")) throw invalid(at, "must be an absolute path", code);
    let real: string;
    try {
      real = realpathSync(path);
      if (!statSync(real).isDirectory()) throw new Error("not a directory");
    } catch {
      throw invalid(at, "is not an existing directory", code);
    }
    const roots = allow.map((a) => {
      try {
        return realpathSync(a);
      } catch {
        return a;
      }
    });
    if (!within(real, roots)) throw new ApiError(403, code, `${at}: ${JSON.stringify(path)} is outside the directories this server allows`, { path: at });
    return real;
  }

  // ---- lifecycle ----

  /** Run the pending → preparing → starting → ready path in the background. */
  #drive(id: string): void {
    const p = this.#prepareAndStart(id).finally(() => this.#driving.delete(id));
    this.#driving.set(id, p);
  }

  async #prepareAndStart(id: string): Promise<void> {
    const log = this.d.logger.child({ sandboxId: id });
    let snapshotKey: string | undefined;
    let started: Backend | undefined;
    try {
      const row = this.#byId(id);
      if (!row || row.lifecycleState !== "pending") return;
      this.#transition(id, "preparing");
      const view = row.spec as SandboxSpec;
      const launch = (row.launch ?? {}) as LaunchInputs;
      let lowers: string[];
      let image: ResolvedImage | undefined;
      if (view.root.kind === "rootfs") {
        lowers = [view.root.path];
      } else {
        image =
          view.root.source.kind === "reference"
            ? await this.d.images.resolve(view.root.source.reference, (p) => {
                const layers = this.#progress.get(id) ?? new Map();
                layers.set(p.layer, { done: p.done, total: p.total });
                this.#progress.set(id, layers);
              })
            : await this.d.images.build({
                dockerfile: launch.build?.dockerfile ?? "",
                context: launch.build?.context ? Buffer.from(launch.build.context, "base64") : undefined,
                contextDir: launch.build?.contextDir,
                buildArgs: launch.build?.buildArgs,
              });
        lowers = image.layers;
        this.#patchStatus(id, { image: { reference: image.reference, digest: image.digest } }, { imageDigest: image.digest });
      }
      if (this.#cancelled.has(id)) return;
      const process = await this.#processFor(view, launch, image, lowers);
      this.#patchStatus(id, { runAs: { uid: process.uid, gid: process.gid, workingDir: process.cwd } });
      snapshotKey = id;
      // a prepared root is the operator's directory with host owners: mapped into the
      // container's id range through an idmapped mount (image layers are stored pre-shifted)
      await this.#starts.run(async () => {
        const snap = await this.d.images.prepareSnapshot(id, lowers, { idmapLowers: view.root.kind === "rootfs" });
        if (this.#cancelled.has(id)) return;
        this.#transition(id, "starting");
        await this.d.backends[view.backend].start({ id, rootfs: snap.rootfs, process, resources: view.resources, hostname: id.replace(/_/g, "-") });
        started = this.d.backends[view.backend];
      });
      if (!started) return;
      snapshotKey = undefined;
      // The process has its inputs now; the store keeps none of them.
      this.d.db.update(sandboxes).set({ launch: null }).where(eq(sandboxes.id, id)).run();
      if (this.#cancelled.has(id)) return;
      const endpoints = await this.#openEndpoints(id, view);
      const current = this.#byId(id);
      if (current?.lifecycleState !== "starting") return;
      this.#transition(id, "ready", { endpoints });
      this.#armTimeout(id, view.timeoutMs, Date.now());
      log.info("sandbox ready");
    } catch (e) {
      const failure = describeFailure(e);
      const reason = failure.reason;
      const message = scrub(failure.message, launchOf(this.#byId(id)));
      log.warn({ reason, err: message }, "sandbox failed");
      const row = this.#byId(id);
      const failed = row !== undefined && !TERMINAL.includes(row.lifecycleState as LifecycleState);
      if (failed) {
        this.#transition(id, "failed", { reason, message });
        this.d.db.update(sandboxes).set({ launch: null }).where(eq(sandboxes.id, id)).run();
      }
      // a failure after the process started (e.g. an endpoint) must not leave it running
      if (started) await started.stop(id, 0).catch(() => {});
      this.d.endpoints.close(id);
      if (snapshotKey) await this.d.images.removeSnapshot(snapshotKey).catch(() => {});
      if (failed) this.#emitStopped(row.tenantId, id);
    } finally {
      this.#progress.delete(id);
      if (this.#cancelled.delete(id)) await this.#finishCancelled(id);
    }
  }

  async #processFor(view: SandboxSpec, launch: LaunchInputs, image: ResolvedImage | undefined, lowers: string[]): Promise<ProcessSpec> {
    const cfg = image?.config;
    const argv = launch.argv ?? [...(cfg?.entrypoint ?? []), ...(cfg?.cmd ?? [])];
    if (argv.length === 0) throw new ApiError(422, "no_command", "spec.process.argv is empty and the image defines no ENTRYPOINT or CMD");
    const env = { PATH: DEFAULT_PATH, ...parseEnv(cfg?.env ?? []), ...(launch.environment ?? {}) };
    const user = await this.d.images.resolveUser(lowers, view.process.user ?? cfg?.user ?? undefined);
    const exe = await this.d.images.resolveExecutable(lowers, argv[0] as string, env.PATH ?? DEFAULT_PATH);
    if (!exe) throw new ApiError(422, "executable_not_found", "argv[0] was not found on the image's PATH (the value itself is not shown: launch inputs are never readable back)");
    return { argv, env, cwd: view.process.workingDir ?? cfg?.workingDir ?? "/", uid: user.uid, gid: user.gid, additionalGids: user.additionalGids };
  }

  async #openEndpoints(id: string, view: SandboxSpec): Promise<Endpoint[]> {
    const out: Endpoint[] = [];
    for (const p of view.ports) {
      const socket = await this.d.backends[view.backend].openPort(id, p.port);
      const hostPort = await this.d.endpoints.open(id, socket);
      out.push({ name: p.name, port: p.port, protocol: p.protocol, url: `${p.protocol === "http" ? "http" : "tcp"}://127.0.0.1:${hostPort}` });
    }
    return out;
  }

  #armTimeout(id: string, timeoutMs: number | null, readyAt: number): void {
    if (!timeoutMs) return;
    const delay = Math.max(0, readyAt + timeoutMs - Date.now());
    this.#timers.set(
      id,
      setTimeout(() => {
        this.#timers.delete(id);
        const row = this.#byId(id);
        if (row) void this.stop(row.tenantId, id, {}, "timeout").catch((e) => this.d.logger.warn({ sandboxId: id, err: String(e) }, "timeout stop failed"));
      }, Math.min(delay, 2 ** 31 - 1)),
    );
  }

  /** Idempotent. Waits for the process to end (SIGTERM, grace, SIGKILL). */
  async stop(tenantId: string, id: string, body: { graceMs?: number } = {}, reason = "stopped_by_request"): Promise<Sandbox> {
    const row = this.#row(tenantId, id);
    const state = row.lifecycleState as LifecycleState;
    if (TERMINAL.includes(state)) return this.#view(row);
    if (state === "pending" || state === "preparing") {
      this.#cancelled.add(id);
      this.#transition(id, "stopping", { reason });
      await this.#driving.get(id);
      return this.get(tenantId, id);
    }
    if (state === "starting") {
      this.#cancelled.add(id);
      await this.#driving.get(id);
    }
    const now = this.#byId(id);
    if (!now || TERMINAL.includes(now.lifecycleState as LifecycleState)) return this.get(tenantId, id);
    if (now.lifecycleState !== "stopping") this.#transition(id, "stopping", { reason });
    const view = row.spec as SandboxSpec;
    const exit = await this.d.backends[view.backend].stop(id, body.graceMs ?? this.d.limits.defaultGraceMs);
    await this.#onExit(id, exit, reason);
    return this.get(tenantId, id);
  }

  /** A cancelled create ends stopped, with nothing left running. */
  async #finishCancelled(id: string): Promise<void> {
    const row = this.#byId(id);
    if (!row || TERMINAL.includes(row.lifecycleState as LifecycleState)) return;
    const view = row.spec as SandboxSpec;
    const st = await this.d.backends[view.backend].state(id).catch(() => ({ state: "missing" as const }));
    let exit: ExitInfo | null = null;
    if (st.state === "running" || st.state === "paused") exit = await this.d.backends[view.backend].stop(id, this.d.limits.defaultGraceMs);
    await this.#onExit(id, exit, (row.status as SandboxStatus).reason ?? "stopped_by_request");
  }

  async #onExit(id: string, exit: ExitInfo | null, reason?: string): Promise<void> {
    const row = this.#byId(id);
    if (!row || TERMINAL.includes(row.lifecycleState as LifecycleState)) return;
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
    this.d.endpoints.close(id);
    const prior = (row.status as SandboxStatus).reason;
    const why = exit?.oomKilled ? "oom_killed" : (reason ?? (row.lifecycleState === "stopping" ? prior : null) ?? "exited");
    this.#transition(id, "stopped", {
      reason: why,
      message: exit ? describeExit(exit) : "stopped before the process started",
      exit: exit ? { code: exit.code, signal: exit.signal, oomKilled: exit.oomKilled } : null,
      endpoints: [],
    });
    this.d.db.update(sandboxes).set({ launch: null }).where(eq(sandboxes.id, id)).run();
    this.#emitStopped(row.tenantId, id);
  }

  #emitStopped(tenantId: string, id: string) {
    for (const l of this.#stopListeners) {
      try {
        l(tenantId, id);
      } catch (e) {
        this.d.logger.warn({ sandboxId: id, err: String(e) }, "stop listener failed");
      }
    }
  }

  /** Removes a stopped or failed sandbox's record and storage. */
  async delete(tenantId: string, id: string): Promise<void> {
    const row = this.#row(tenantId, id);
    if (!TERMINAL.includes(row.lifecycleState as LifecycleState)) {
      throw conflict("sandbox_running", `sandbox ${id} is ${row.lifecycleState}; stop it before deleting`, { lifecycleState: row.lifecycleState });
    }
    await this.d.backends[(row.spec as SandboxSpec).backend].delete(id);
    await this.d.images.removeSnapshot(id);
    this.d.db.delete(sandboxes).where(eq(sandboxes.id, id)).run();
  }

  /** On boot: re-drive unfinished creates, re-adopt running sandboxes, record exits that happened while down. */
  async reconcile(): Promise<void> {
    const rows = this.d.db.select().from(sandboxes).all();
    // Stopped sandboxes keep their storage until deleted, so every row is "known".
    const states = await this.d.backends.container.reconcile(rows.map((r) => r.id));
    for (const row of rows) {
      const state = row.lifecycleState as LifecycleState;
      if (TERMINAL.includes(state)) continue;
      const rt = states.get(row.id) ?? { state: "missing" as const };
      const view = row.spec as SandboxSpec;
      if (state === "pending" || state === "preparing") {
        if (rt.state === "running") await this.d.backends[view.backend].stop(row.id, 0).catch(() => {});
        await this.d.images.removeSnapshot(row.id).catch(() => {});
        this.#setState(row.id, "pending");
        this.#drive(row.id);
        continue;
      }
      if (rt.state === "running" || rt.state === "paused") {
        if (state === "stopping") {
          void this.stop(row.tenantId, row.id).catch(() => {});
          continue;
        }
        const endpoints = await this.#openEndpoints(row.id, view).catch(() => []);
        if (state === "starting") this.#transition(row.id, "ready", { endpoints });
        else this.#patchStatus(row.id, { endpoints });
        const readyAt = Date.parse((row.status as SandboxStatus).transitions.ready ?? new Date().toISOString());
        this.#armTimeout(row.id, view.timeoutMs, readyAt);
      } else if (rt.state === "exited") {
        await this.#onExit(row.id, rt.exit);
      } else if (state === "starting" && row.launch) {
        // crashed between snapshot and start: start over
        await this.d.images.removeSnapshot(row.id).catch(() => {});
        this.#setState(row.id, "pending");
        this.#drive(row.id);
      } else {
        this.#transition(row.id, "failed", { reason: "lost", message: "the sandbox's process disappeared while the server was down" });
        this.#emitStopped(row.tenantId, row.id);
      }
    }
  }

  shutdown(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.d.endpoints.closeAll();
  }

  // ---- rows ----

  #byId(id: string): Row | undefined {
    return this.#selectById.get({ id });
  }

  #row(tenantId: string, id: string): Row {
    const row = this.#selectByTenantAndId.get({ tenantId, id });
    if (!row) throw notFound("sandbox", id);
    return row;
  }

  #setState(id: string, state: LifecycleState) {
    this.d.db.update(sandboxes).set({ lifecycleState: state, updatedAt: Date.now() }).where(eq(sandboxes.id, id)).run();
  }

  #transition(id: string, state: LifecycleState, patch: Partial<SandboxStatus> = {}): void {
    const row = this.#byId(id);
    if (!row) return;
    const now = Date.now();
    const prev = row.status as SandboxStatus;
    const status: SandboxStatus = {
      ...prev,
      reason: state === "ready" ? null : prev.reason,
      message: state === "ready" ? null : prev.message,
      ...patch,
      lifecycleState: state,
      transitions: { ...prev.transitions, [state]: new Date(now).toISOString() },
    };
    this.d.db.update(sandboxes).set({ lifecycleState: state, status, updatedAt: now }).where(eq(sandboxes.id, id)).run();
  }

  #patchStatus(id: string, patch: Partial<SandboxStatus>, cols: Partial<Row> = {}): void {
    const row = this.#byId(id);
    if (!row) return;
    this.d.db
      .update(sandboxes)
      .set({ ...cols, status: { ...(row.status as SandboxStatus), ...patch }, updatedAt: Date.now() })
      .where(eq(sandboxes.id, id))
      .run();
  }

  #view(r: Row): Sandbox {
    const status = r.status as SandboxStatus;
    const layers = r.lifecycleState === "preparing" ? this.#progress.get(r.id) : undefined;
    let progress: SandboxStatus["progress"];
    if (layers) {
      progress = { layers: layers.size, bytesDone: 0, bytesTotal: 0 };
      for (const l of layers.values()) {
        progress.bytesDone += l.done;
        progress.bytesTotal += l.total;
      }
    }
    return {
      metadata: { id: r.id, tenantId: r.tenantId, labels: r.labels, createdAt: iso(r.createdAt) as string, updatedAt: iso(r.updatedAt) as string },
      spec: r.spec as SandboxSpec,
      status: progress ? { ...status, progress } : status,
    };
  }

  /** Every sandbox id with a record (each may own a snapshot until deleted). */
  allIds(): string[] {
    return this.d.db.select({ id: sandboxes.id }).from(sandboxes).all().map((r) => r.id);
  }
}

const launchOf = (row: Row | undefined): LaunchInputs => (row?.launch ?? {}) as LaunchInputs;

/** Failure messages can quote what a tool saw (crun, the image code): launch inputs never leave. */
const scrub = (message: string, launch: LaunchInputs): string => {
  const secrets = [...(launch.argv ?? []), ...Object.values(launch.environment ?? {})].filter((v) => v.length >= 3).sort((a, b) => b.length - a.length);
  let out = message;
  for (const s of secrets) out = out.split(s).join("[redacted]");
  return out;
};

const describeExit = (e: ExitInfo): string =>
  e.oomKilled ? "the process was killed for exceeding its memory limit" : e.signal ? `the process was killed by ${e.signal}` : `the process exited with code ${e.code}`;

const describeFailure = (e: unknown): { reason: string; message: string } => {
  if (e instanceof ImageError || e instanceof BackendError || e instanceof ApiError) return { reason: e.code, message: e.message };
  return { reason: "internal", message: (e as Error)?.message ?? String(e) };
};

