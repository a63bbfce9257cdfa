// The container backend: one OCI bundle per sandbox under <data>/sandboxes/<id>, launched by a
// per-sandbox monitor process (native/monitor.c) that links libcrun, and controlled
// in-process through bun:ffi into libcrun (native/libnimbus.ts) for state/kill/delete.
//
// Sandbox dir layout (sandboxDir(paths, id)):
//   config.json      generated OCI config          stdout.log / stderr.log  appended output
//   monitor.json     {monitorPid, containerPid, startedAt} while the monitor runs
//   monitor.sock     monitor control socket (stdin / close-stdin / watch / ping, see nimbus.h)
//   exit.json        written atomically once the container exited and libcrun cleaned up
//   monitor.log      monitor + libcrun diagnostics
//   port-<n>.sock / port-<n>.pid   port relays (openPort)
//   exec-<rand>.json process specs of running execs
// Nothing here lives only in this process: a new server process reconciles from disk.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync, chmodSync } from "node:fs";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import type { DataPaths } from "../host/paths.ts";
import { sandboxDir } from "../host/paths.ts";
import { openLibnimbus, LibcrunError, type Libnimbus } from "../../native/libnimbus.ts";
import { nativeArtifacts, type NativeArtifacts } from "./native.ts";
import { cgroupParent, ociConfig, processSpec } from "./spec.ts";
import { portSocketName } from "../network/index.ts";
import { CGROUP_FIX_DIR, preflight } from "../host/preflight.ts";
import { alive } from "../host/pid.ts";
import {
  BackendError,
  type Availability,
  type Backend,
  type ExecHandle,
  type ExecRequest,
  type ExitInfo,
  type LaunchRequest,
  type RuntimeState,
} from "./types.ts";

export interface Logger {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

export interface ContainerBackendOptions {
  paths: DataPaths;
  logger?: Logger;
  /** how long start waits for the monitor's report (ms) */
  startTimeoutMs?: number;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const SUN_PATH_MAX = 107;
const noop: Logger = { info() {}, warn() {}, error() {} };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const readJson = <T>(p: string): T | null => {
  try {
    return JSON.parse(readFileSync(p, "utf8")) as T;
  } catch {
    return null;
  }
};

/** alive and not a zombie */
const running = (pid: number): boolean => {
  if (!alive(pid)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

/** all cgroup hierarchy roots that may hold Nimbus cgroups */
const cgroupRoots = (): string[] => {
  const roots: string[] = [];
  const base = "/sys/fs/cgroup";
  if (existsSync(join(base, "cgroup.controllers"))) return [base];
  try {
    for (const e of readdirSync(base)) roots.push(join(base, e));
  } catch {}
  try {
    for (const e of readdirSync(CGROUP_FIX_DIR)) roots.push(join(CGROUP_FIX_DIR, e));
  } catch {}
  return roots;
};

const rmCgroup = (dir: string) => {
  // children first; a cgroup dir is removed with rmdir, never recursively
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmCgroup(join(dir, e.name));
    rmdirSync(dir);
  } catch {}
};

interface MonitorInfo {
  id: string;
  monitorPid: number;
  containerPid: number;
  startedAt: string;
}

interface Watch {
  promise: Promise<ExitInfo>;
  socket?: Socket;
}

export class ContainerBackend implements Backend {
  readonly name = "container" as const;
  private readonly paths: DataPaths;
  private readonly log: Logger;
  private readonly native: NativeArtifacts;
  private readonly lib: Libnimbus;
  private readonly exitCbs: ((id: string, exit: ExitInfo) => void)[] = [];
  private readonly watches = new Map<string, Watch>();
  private readonly reported = new Set<string>();
  private readonly stdinConns = new Map<string, Promise<Socket>>();
  private readonly startTimeoutMs: number;
  /** this server's cgroup parent: only cgroups under it are ours to create and clean */
  private readonly cgroupParent: string;

  constructor(opts: ContainerBackendOptions) {
    this.paths = opts.paths;
    this.cgroupParent = cgroupParent(opts.paths.root);
    this.log = opts.logger ?? noop;
    this.startTimeoutMs = opts.startTimeoutMs ?? 30_000;
    for (const d of [this.paths.sandboxes, this.paths.runtimeState, this.paths.native]) mkdirSync(d, { recursive: true });
    this.native = nativeArtifacts(this.paths);
    this.lib = openLibnimbus(this.native.lib);
  }

  /** the native library binding (state/kill/delete/pause/resume/update) */
  get libcrun(): Libnimbus {
    return this.lib;
  }

  availability(): Availability {
    const pf = preflight({ fix: false });
    const bad = pf.checks.filter((c) => !c.ok);
    return bad.length ? { available: false, reason: bad.map((c) => c.detail).join("; ") } : { available: true };
  }

  /**
   * Create the cgroup parent in every v1 hierarchy before any sandbox does: concurrent starts
   * would otherwise race to create it, and a cpuset child of a parent whose cpus/mems are not
   * filled in yet cannot be written ("write cpuset.cpus").
   */
  private parentReady = false;
  private ensureCgroupParent(): void {
    if (this.parentReady) return;
    for (const root of cgroupRoots()) {
      let dir = root;
      for (const part of this.cgroupParent.split("/").filter(Boolean)) {
        const parent = dir;
        dir = join(dir, part);
        try {
          mkdirSync(dir);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") break;
        }
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          try {
            if (readFileSync(join(dir, f), "utf8").trim() === "") writeFileSync(join(dir, f), readFileSync(join(parent, f), "utf8"));
          } catch {}
        }
      }
    }
    this.parentReady = true;
  }

  /** On server shutdown: drop this server's cgroup parent where no sandbox is left in it. */
  close(): void {
    for (const root of cgroupRoots()) {
      try {
        rmdirSync(join(root, this.cgroupParent));
      } catch {}
    }
    this.parentReady = false;
  }

  private dir(id: string): string {
    if (!ID_RE.test(id)) throw new BackendError("invalid_sandbox_id", `invalid sandbox id ${JSON.stringify(id)}`, { id });
    return sandboxDir(this.paths, id);
  }

  private exitFile(id: string): ExitInfo | null {
    return readJson<ExitInfo>(join(this.dir(id), "exit.json"));
  }

  private monitorInfo(id: string): MonitorInfo | null {
    return readJson<MonitorInfo>(join(this.dir(id), "monitor.json"));
  }

  private emitExit(id: string, exit: ExitInfo) {
    if (this.reported.has(id)) return;
    this.reported.add(id);
    for (const cb of this.exitCbs) {
      try {
        cb(id, exit);
      } catch (e) {
        this.log.error({ err: e, id }, "onExit callback failed");
      }
    }
  }

  /** A promise for the main process's exit; event-driven through the monitor's watch command. */
  private watch(id: string): Promise<ExitInfo> {
    const existing = this.watches.get(id);
    if (existing) return existing.promise;
    const dir = this.dir(id);
    const w: Watch = { promise: Promise.resolve(null as unknown as ExitInfo) };
    w.promise = new Promise<ExitInfo>((resolve) => {
      let settled = false;
      const done = (exit: ExitInfo) => {
        if (settled) return;
        settled = true;
        this.emitExit(id, exit);
        resolve(exit);
      };
      const fallback = async () => {
        // the monitor is gone or the socket failed: exit.json is the record
        for (let i = 0; !settled; i++) {
          const exit = this.exitFile(id);
          if (exit) return done(exit);
          const info = this.monitorInfo(id);
          if (!existsSync(dir) || (info && !alive(info.monitorPid)) || (!info && i > 40)) {
            // monitor died without recording an exit (killed): treat as killed
            return done({ code: null, signal: "SIGKILL", oomKilled: false, finishedAt: new Date().toISOString() });
          }
          await sleep(Math.min(25 * (i + 1), 250));
        }
      };
      const first = this.exitFile(id);
      if (first) return done(first);
      let buf = "";
      const sock = createConnection({ path: join(dir, "monitor.sock") });
      w.socket = sock;
      sock.on("connect", () => sock.write("w"));
      sock.on("data", (d) => (buf += d.toString("utf8")));
      sock.on("error", () => {});
      sock.on("close", () => {
        const line = buf.trim();
        if (line) {
          try {
            return done(JSON.parse(line) as ExitInfo);
          } catch {}
        }
        void fallback();
      });
      sock.unref?.();
    });
    this.watches.set(id, w);
    return w.promise;
  }

  async start(req: LaunchRequest): Promise<{ pid: number; startedAt: string }> {
    const dir = this.dir(req.id);
    if (!existsSync(req.rootfs)) throw new BackendError("rootfs_missing", `root filesystem ${req.rootfs} does not exist`, { rootfs: req.rootfs });
    const sockPath = join(dir, "monitor.sock");
    if (sockPath.length > SUN_PATH_MAX)
      throw new BackendError("path_too_long", `sandbox dir ${dir} is too long for a unix socket path`, { dir });
    const info = this.monitorInfo(req.id);
    if (info && alive(info.monitorPid))
      throw new BackendError("sandbox_exists", `sandbox ${req.id} is already running`, { id: req.id });
    // async fs calls: they slow down under many concurrent starts; the event loop keeps serving
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o711);
    this.reported.delete(req.id);
    this.watches.delete(req.id);
    let config;
    try {
      this.ensureCgroupParent();
      config = ociConfig(req, { init: this.native.init, cgroupParent: this.cgroupParent });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw new BackendError("invalid_spec", (e as Error).message, { id: req.id });
    }
    // config.json holds the process environment: readable by root only
    await writeFile(join(dir, "config.json"), JSON.stringify(config), { mode: 0o600 });

    const proc = Bun.spawn([this.native.monitor, "run", "--id", req.id, "--bundle", dir, "--state-root", this.paths.runtimeState, "--init"], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
    });
    let report = "";
    const reader = proc.stdout.getReader();
    const timer = setTimeout(() => proc.kill("SIGKILL"), this.startTimeoutMs);
    try {
      const dec = new TextDecoder();
      while (!report.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        report += dec.decode(value, { stream: true });
      }
    } finally {
      clearTimeout(timer);
      reader.releaseLock();
      proc.unref();
    }
    let parsed: { error?: string; containerPid?: number; startedAt?: string } = {};
    try {
      parsed = JSON.parse(report.split("\n")[0] || "{}");
    } catch {}
    if (!parsed.containerPid) {
      const mlog = (() => {
        try {
          return readFileSync(join(dir, "monitor.log"), "utf8").trim().split("\n").slice(-3).join(" | ");
        } catch {
          return "";
        }
      })();
      const stderr = (() => {
        try {
          return readFileSync(join(dir, "stderr.log"), "utf8").slice(-500);
        } catch {
          return "";
        }
      })();
      await this.destroy(req.id);
      throw new BackendError("start_failed", `sandbox ${req.id} failed to start: ${parsed.error ?? (mlog || "monitor exited without a report")}`, {
        id: req.id,
        ...(stderr ? { stderr } : {}),
      });
    }
    void this.watch(req.id);
    return { pid: parsed.containerPid, startedAt: parsed.startedAt! };
  }

  async state(id: string): Promise<RuntimeState> {
    const dir = this.dir(id);
    const exit = this.exitFile(id);
    if (exit) return { state: "exited", exit };
    if (!existsSync(dir)) return { state: "missing" };
    const info = this.monitorInfo(id);
    try {
      const st = this.lib.state(this.paths.runtimeState, id);
      const startedAt = info?.startedAt ?? st.created;
      if (st.status === "running" || st.status === "created") return { state: "running", pid: st.pid, startedAt };
      if (st.status === "paused") return { state: "paused", pid: st.pid, startedAt };
    } catch {}
    // stopped but the monitor has not recorded it yet: wait briefly for exit.json
    if (info && alive(info.monitorPid)) {
      const exit2 = await Promise.race([this.watch(id), sleep(2000).then(() => null)]);
      if (exit2) return { state: "exited", exit: exit2 };
      return { state: "running", pid: info.containerPid, startedAt: info.startedAt };
    }
    return { state: "missing" };
  }

  async kill(id: string, signal: string): Promise<void> {
    this.dir(id);
    try {
      this.lib.kill(this.paths.runtimeState, id, signal.startsWith("SIG") ? signal : `SIG${signal}`);
    } catch (e) {
      if (this.exitFile(id)) return; // already exited: nothing to signal
      throw new BackendError("kill_failed", (e as Error).message, { id, signal });
    }
  }

  async stop(id: string, graceMs: number): Promise<ExitInfo> {
    const dir = this.dir(id);
    const done = this.exitFile(id);
    if (done) return done;
    if (!existsSync(dir)) throw new BackendError("sandbox_not_found", `sandbox ${id} has no runtime state`, { id });
    const exited = this.watch(id);
    const signal = (sig: string) => {
      try {
        this.lib.kill(this.paths.runtimeState, id, sig);
      } catch {}
    };
    signal("SIGTERM");
    const first = await Promise.race([exited, sleep(Math.max(0, graceMs)).then(() => null)]);
    if (first) return first;
    signal("SIGKILL");
    const second = await Promise.race([exited, sleep(10_000).then(() => null)]);
    if (second) return second;
    throw new BackendError("stop_timeout", `sandbox ${id} did not exit after SIGKILL`, { id });
  }

  /** Tear down everything of a sandbox: processes, relays, crun state, cgroups, dir. */
  private async destroy(id: string): Promise<void> {
    const dir = this.dir(id);
    const info = this.monitorInfo(id);
    // port relays
    try {
      for (const f of readdirSync(dir)) {
        if (!/^port-\d+\.pid$/.test(f)) continue;
        const pid = Number(readFileSync(join(dir, f), "utf8"));
        if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
      }
    } catch {}
    // the container and its monitor
    if (!this.exitFile(id)) {
      try {
        this.lib.kill(this.paths.runtimeState, id, "SIGKILL");
      } catch {}
      if (info && alive(info.monitorPid)) {
        const exited = await Promise.race([this.watch(id), sleep(5000).then(() => null)]);
        if (!exited && alive(info.monitorPid)) process.kill(info.monitorPid, "SIGKILL");
      }
    }
    this.stdinConns.get(id)?.then((s) => s.destroy()).catch(() => {});
    this.stdinConns.delete(id);
    try {
      this.lib.delete(this.paths.runtimeState, id, true);
    } catch {}
    rmSync(join(this.paths.runtimeState, id), { recursive: true, force: true });
    for (const root of cgroupRoots()) rmCgroup(join(root, this.cgroupParent, id));
    // anything mounted below the sandbox dir (nothing by default; the rootfs belongs to images)
    for (const mp of mountsUnder(dir).reverse()) spawnSync("umount", ["-l", mp]);
    // the monitor unlinks its files right after reporting the exit: let it finish first, and
    // retry, since a recursive rm racing with those unlinks can give up with files left over
    for (let i = 0; i < 100 && info && running(info.monitorPid); i++) await sleep(10);
    for (let i = 0; i < 5 && existsSync(dir); i++) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {}
      if (existsSync(dir)) await sleep(20);
    }
    this.watches.get(id)?.socket?.destroy();
    this.watches.delete(id);
  }

  async delete(id: string): Promise<void> {
    await this.destroy(id);
    this.reported.delete(id);
  }

  onExit(cb: (id: string, exit: ExitInfo) => void): void {
    this.exitCbs.push(cb);
  }

  async reconcile(known: string[]): Promise<Map<string, RuntimeState>> {
    const knownSet = new Set(known);
    const result = new Map<string, RuntimeState>();
    const ids = new Set<string>();
    for (const base of [this.paths.sandboxes, this.paths.runtimeState]) {
      try {
        for (const e of readdirSync(base, { withFileTypes: true })) if (e.isDirectory() && ID_RE.test(e.name)) ids.add(e.name);
      } catch {}
    }
    for (const id of ids) {
      if (!knownSet.has(id)) {
        this.log.info({ id }, "reconcile: removing leftovers of unknown sandbox");
        await this.destroy(id);
        continue;
      }
      const exit = this.exitFile(id);
      if (exit) {
        result.set(id, { state: "exited", exit });
        this.emitExit(id, exit);
        continue;
      }
      const info = this.monitorInfo(id);
      if (info && alive(info.monitorPid)) {
        const st = await this.state(id);
        result.set(id, st);
        if (st.state === "running" || st.state === "paused") void this.watch(id);
        continue;
      }
      // monitor gone without an exit record: the container (if any) cannot be reaped by us
      let orphan = false;
      try {
        const st = this.lib.state(this.paths.runtimeState, id);
        orphan = st.status === "running" || st.status === "paused";
      } catch {}
      if (orphan || info) {
        this.log.warn({ id }, "reconcile: monitor is gone; killing the orphaned container");
        try {
          this.lib.kill(this.paths.runtimeState, id, "SIGKILL", true);
        } catch {}
        await sleep(50);
        try {
          this.lib.delete(this.paths.runtimeState, id, true);
        } catch {}
        const lost: ExitInfo = { code: null, signal: "SIGKILL", oomKilled: false, finishedAt: new Date().toISOString() };
        writeFileSync(join(this.dir(id), "exit.json"), JSON.stringify(lost));
        result.set(id, { state: "exited", exit: lost });
        this.emitExit(id, lost);
      } else {
        result.set(id, { state: "missing" });
      }
    }
    for (const id of known) if (!result.has(id)) result.set(id, { state: "missing" });
    // cgroups of ids we do not know (e.g. the sandbox dir was removed by hand)
    for (const root of cgroupRoots()) {
      try {
        for (const e of readdirSync(join(root, this.cgroupParent), { withFileTypes: true }))
          if (e.isDirectory() && !knownSet.has(e.name)) rmCgroup(join(root, this.cgroupParent, e.name));
      } catch {}
    }
    // stray monitors/relays of our data dir whose sandbox is unknown
    for (const { pid, args } of nimbusProcesses(this.paths.sandboxes)) {
      const id = args.includes("--id") ? args[args.indexOf("--id") + 1] : sandboxIdFromPath(this.paths.sandboxes, args);
      if (id && !knownSet.has(id)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
    }
    return result;
  }

  async exec(id: string, req: ExecRequest): Promise<ExecHandle> {
    const dir = this.dir(id);
    const st = await this.state(id);
    if (st.state !== "running") throw new BackendError("sandbox_not_running", `sandbox ${id} is not running (${st.state})`, { id, state: st.state });
    const file = join(dir, `exec-${randomBytes(6).toString("hex")}.json`);
    writeFileSync(file, JSON.stringify(processSpec(req.process, { terminal: req.tty, size: req.size })));
    const args = [this.native.monitor, "exec", "--state-root", this.paths.runtimeState, "--id", id, "--process", file];
    if (req.tty) args.push("--tty", "--resize-fd", "3");
    const proc = Bun.spawn(args, {
      stdio: req.tty ? ["pipe", "pipe", "pipe", "pipe"] : ["pipe", "pipe", "pipe"],
    }) as ReturnType<typeof Bun.spawn> & { stdio: (number | null)[] };
    const resizeFd = req.tty ? (proc.stdio[3] as number) : -1;
    const pump = (stream: ReadableStream<Uint8Array>) => {
      const pending: Uint8Array[] = [];
      let cb = null as ((c: Uint8Array) => void) | null;
      const done = (async () => {
        for await (const chunk of stream) {
          if (cb) cb(chunk);
          else pending.push(chunk);
        }
      })().catch(() => {});
      return {
        on(f: (c: Uint8Array) => void) {
          cb = f;
          for (const c of pending.splice(0)) f(c);
        },
        done,
      };
    };
    const out = pump(proc.stdout as ReadableStream<Uint8Array>);
    const err = pump(proc.stderr as ReadableStream<Uint8Array>);
    const stdin = proc.stdin as import("bun").FileSink;
    const fs = await import("node:fs");
    const exited = (async () => {
      const code = await proc.exited;
      await Promise.all([out.done, err.done]);
      rmSync(file, { force: true });
      if (resizeFd >= 0) {
        try {
          fs.closeSync(resizeFd);
        } catch {}
      }
      return code ?? 128 + 9;
    })();
    return {
      write(data) {
        stdin.write(data);
        stdin.flush();
      },
      closeStdin() {
        try {
          stdin.end();
        } catch {}
      },
      onStdout: (cb) => out.on(cb),
      onStderr: (cb) => (req.tty ? undefined : err.on(cb)),
      resize(cols, rows) {
        if (resizeFd < 0) return;
        try {
          fs.writeSync(resizeFd, `${Math.floor(cols)} ${Math.floor(rows)}\n`);
        } catch {}
      },
      kill(signal = "SIGKILL") {
        try {
          proc.kill(signal as NodeJS.Signals); // the helper forwards it to the process
        } catch {}
      },
      exited,
    };
  }

  private stdinConn(id: string): Promise<Socket> {
    let p = this.stdinConns.get(id);
    if (!p) {
      p = new Promise<Socket>((resolve, reject) => {
        const s = createConnection({ path: join(this.dir(id), "monitor.sock") });
        s.once("connect", () => {
          s.write("i");
          resolve(s);
        });
        s.once("error", (e) => {
          this.stdinConns.delete(id);
          reject(e);
        });
        s.on("close", () => this.stdinConns.delete(id));
        s.unref?.();
      });
      this.stdinConns.set(id, p);
    }
    return p;
  }

  async writeStdin(id: string, data: Uint8Array): Promise<void> {
    let s: Socket;
    try {
      s = await this.stdinConn(id);
    } catch (e) {
      throw new BackendError("sandbox_not_running", `cannot write to sandbox ${id} stdin: ${(e as Error).message}`, { id });
    }
    await new Promise<void>((resolve, reject) => s.write(data, (e) => (e ? reject(e) : resolve())));
  }

  /** Close the main process's stdin (it reads EOF). */
  async closeStdin(id: string): Promise<void> {
    await this.stdinConns.get(id)?.then((s) => s.end()).catch(() => {});
    await new Promise<void>((resolve) => {
      const s = createConnection({ path: join(this.dir(id), "monitor.sock") });
      s.once("connect", () => s.end("c"));
      s.once("error", () => resolve());
      s.once("close", () => resolve());
    });
  }

  logPaths(id: string): { stdout: string; stderr: string } {
    const dir = this.dir(id);
    return { stdout: join(dir, "stdout.log"), stderr: join(dir, "stderr.log") };
  }

  async openPort(id: string, port: number): Promise<string> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BackendError("invalid_port", `invalid port ${port}`, { port });
    const dir = this.dir(id);
    const sock = join(dir, portSocketName(port));
    const pidFile = join(dir, `port-${port}.pid`);
    const existing = Number(readJson<number>(pidFile) ?? 0);
    if (existing > 0 && alive(existing) && existsSync(sock)) return sock;
    const st = await this.state(id);
    if (st.state !== "running") throw new BackendError("sandbox_not_running", `sandbox ${id} is not running (${st.state})`, { id });
    const proc = Bun.spawn([this.native.monitor, "relay", "--pid", String(st.pid), "--port", String(port), "--socket", sock], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const first = await new Response(proc.stdout).text().then((t) => t);
    // the relay closes its stdout after "ready"; a failed relay exits with a message on stderr
    if (!first.startsWith("ready")) {
      const msg = await new Response(proc.stderr).text();
      throw new BackendError("port_relay_failed", `port relay for ${id}:${port} failed: ${msg.trim()}`, { id, port });
    }
    proc.unref();
    writeFileSync(pidFile, String(proc.pid));
    return sock;
  }

  /** Pause/resume/update through libcrun (beyond the Backend interface). */
  async pause(id: string): Promise<void> {
    this.dir(id);
    this.lib.pause(this.paths.runtimeState, id);
  }

  async resume(id: string): Promise<void> {
    this.lib.resume(this.paths.runtimeState, id);
  }

  async update(id: string, resources: object): Promise<void> {
    this.lib.update(this.paths.runtimeState, id, resources);
  }
}

const mountsUnder = (dir: string): string[] => {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4]?.replace(/\\040/g, " "))
      .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)));
  } catch {
    return [];
  }
};

const nimbusProcesses = (sandboxes: string): { pid: number; args: string[] }[] => {
  const out: { pid: number; args: string[] }[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const args = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").filter(Boolean);
      if (!args[0]?.endsWith("nimbus-monitor")) continue;
      if (!args.some((a) => a.startsWith(`${sandboxes}/`))) continue;
      out.push({ pid: Number(e), args });
    } catch {}
  }
  return out;
};

const sandboxIdFromPath = (sandboxes: string, args: string[]): string | undefined => {
  const p = args.find((a) => a.startsWith(`${sandboxes}/`));
  return p?.slice(sandboxes.length + 1).split("/")[0];
};

export { LibcrunError };
