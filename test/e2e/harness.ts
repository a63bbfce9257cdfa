import { afterAll, beforeAll } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const BINARY = resolve(import.meta.dir, "../../dist/nimbus");

export interface ServerHandle {
  url: string;
  port: number;
  token: string;
  dataDir: string;
  xdg: string;
  proc: Subprocess;
  output: () => string;
  /** graceful stop (SIGTERM), resolves with the exit code */
  stop(): Promise<number>;
  /** SIGKILL, as a crash would */
  kill(): Promise<void>;
  /** admin-authenticated fetch returning status and parsed JSON */
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any; headers: Headers }>;
}

export const freePort = (): number => {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
};

export interface StartOptions {
  dataDir?: string;
  xdg?: string;
  args?: string[];
  env?: Record<string, string>;
}

/** Start dist/nimbus on a free port with temp data and XDG dirs; waits for /readyz. */
export const startServer = async (opts: StartOptions = {}): Promise<ServerHandle> => {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "nimbus-data-"));
  const xdg = opts.xdg ?? mkdtempSync(join(tmpdir(), "nimbus-xdg-"));
  const port = freePort();
  let out = "";
  const proc = Bun.spawn([BINARY, "start", "--port", String(port), "--data-dir", dataDir, ...(opts.args ?? [])], {
    env: { ...process.env, XDG_DATA_HOME: xdg, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) out += new TextDecoder().decode(chunk);
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nimbus exited ${proc.exitCode} at start:\n${out}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`nimbus did not become ready:\n${out}`);
    }
    await Bun.sleep(20);
  }
  const token = (JSON.parse(readFileSync(join(xdg, "nimbus", "auth", "token"), "utf8")) as { token: string }).token;
  const api: ServerHandle["api"] = async (method, path, body, tok = token) => {
    const headers: Record<string, string> = {};
    if (tok) headers.authorization = `Bearer ${tok}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: r.status, body: parsed, headers: r.headers };
  };
  return {
    url,
    port,
    token,
    dataDir,
    xdg,
    proc,
    output: () => out,
    api,
    stop: async () => {
      proc.kill("SIGTERM");
      return await proc.exited;
    },
    kill: async () => {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
};

/** Remove temp dirs a server used (after it stopped). */
export const cleanupDirs = (...dirs: string[]) => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
};

/** A server for one describe block: started before its tests, stopped and cleaned up after. */
export const useServer = (opts: StartOptions = {}): (() => ServerHandle) => {
  let s: ServerHandle | undefined;
  beforeAll(async () => {
    s = await startServer(opts);
  });
  afterAll(async () => {
    if (!s) return;
    await s.stop();
    cleanupDirs(s.dataDir, s.xdg);
  });
  return () => {
    if (!s) throw new Error("server not started");
    return s;
  };
};
