import type { ServerWebSocket } from "bun";
import type { Backend, ExecHandle } from "../../runtime/types";
import type { Logger } from "../../server/logging";
import { logStream } from "../sandboxes/logs";
import type { SandboxStatus } from "../sandboxes/model";
import type { SandboxService } from "../sandboxes/service";
import { CLOSE, FRAME, type Channel } from "./model";
import type { SessionService } from "./service";

// One attach = one WebSocket on a lease. Frames are binary with a leading channel byte
// (0 stdin, 1 stdout, 2 stderr, 3 control JSON, 4 resize JSON), the way Kubernetes exec
// streams are shaped. The lease, not the socket, decides how long it lives: when the session
// ends (closed, expired, target stopped) every socket on it is closed with a code and reason.

/** The socket as the hub uses it: an identity to key connections by, send and close. */
type Raw = Pick<ServerWebSocket<unknown>, "send" | "close">;

interface Conn {
  sessionId: string;
  tenantId: string;
  sandboxId: string;
  channel: Channel;
  backend: Backend;
  /** who the main process runs as: the default for execs */
  runAs: { uid: number; gid: number; workingDir: string };
  exec?: ExecHandle;
  readers: ReadableStreamDefaultReader<Uint8Array>[];
  closed: boolean;
}

export interface StartMessage {
  type: "start";
  argv?: string[];
  environment?: Record<string, string>;
  workingDir?: string;
  user?: { uid: number; gid: number };
  cols?: number;
  rows?: number;
}

const encoder = new TextEncoder();

const frame = (channel: number, payload: Uint8Array): Uint8Array => {
  const out = new Uint8Array(payload.length + 1);
  out[0] = channel;
  out.set(payload, 1);
  return out;
};

const control = (msg: Record<string, unknown>) => frame(FRAME.control, encoder.encode(JSON.stringify(msg)));

const toBytes = (m: unknown): Uint8Array | null => {
  if (m instanceof Uint8Array) return m;
  if (m instanceof ArrayBuffer) return new Uint8Array(m);
  if (ArrayBuffer.isView(m)) return new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
  return null;
};

const CLOSE_FOR: Record<string, number> = { expired: CLOSE.expired, target_stopped: CLOSE.targetStopped };

export class AttachHub {
  readonly #conns = new Map<Raw, Conn>();

  constructor(
    private readonly sessions: SessionService,
    private readonly sandboxes: SandboxService,
    private readonly backends: Record<string, Backend>,
    private readonly logger: Logger,
  ) {
    sessions.onEnd((id, state, reason) => {
      for (const [raw, c] of this.#conns) {
        if (c.sessionId !== id) continue;
        this.#end(raw, c, CLOSE_FOR[reason] ?? (state === "expired" ? CLOSE.expired : CLOSE.closed), `session ${state}: ${reason}`);
      }
    });
  }

  /** Validates the lease and channel, then wires the socket. */
  /** `tail`: for stdio, replay the last N lines of each stream before following (default 0). */
  open(raw: Raw, tenantId: string, sessionId: string, channel: string | undefined, tail = 0): void {
    let conn: Conn;
    try {
      const s = this.sessions.row(tenantId, sessionId);
      if (s.state !== "open") return raw.close(CLOSE.refused, `session is ${s.state}`);
      const channels = s.channels as Channel[];
      const ch = (channel ?? channels[0]) as Channel;
      if (!channels.includes(ch)) return raw.close(CLOSE.refused, `channel ${ch} was not leased (session has ${channels.join(", ")})`);
      const sandbox = this.sandboxes.record(tenantId, s.targetId);
      if (sandbox.lifecycleState !== "ready") return raw.close(CLOSE.targetStopped, `target is ${sandbox.lifecycleState}`);
      const runAs = (sandbox.status as SandboxStatus).runAs ?? { uid: 0, gid: 0, workingDir: "/" };
      conn = { sessionId, tenantId, sandboxId: sandbox.id, channel: ch, backend: this.backends[sandbox.backend] as Backend, runAs, readers: [], closed: false };
    } catch (e) {
      return raw.close(CLOSE.refused, (e as Error).message.slice(0, 120));
    }
    this.#conns.set(raw, conn);
    raw.send(control({ type: "attached", channel: conn.channel, sessionId }));
    if (conn.channel === "stdio") void this.#pumpLogs(raw, conn, tail);
  }

  async #pumpLogs(raw: Raw, c: Conn, tail: number): Promise<void> {
    const paths = c.backend.logPaths(c.sandboxId);
    const finished = () => c.closed;
    const pump = async (path: string, ch: number) => {
      const reader = (await logStream(path, { tail, follow: true, finished })).getReader();
      c.readers.push(reader);
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (done || c.closed) return;
        if (value) raw.send(frame(ch, value));
      }
    };
    await Promise.all([pump(paths.stdout, FRAME.stdout), pump(paths.stderr, FRAME.stderr)]);
  }

  message(raw: Raw, message: unknown): void {
    const c = this.#conns.get(raw);
    if (!c || c.closed) return;
    const bytes = toBytes(message);
    if (!bytes || bytes.length === 0) {
      raw.send(control({ type: "error", message: "frames must be binary with a leading channel byte" }));
      return;
    }
    const payload = bytes.subarray(1);
    switch (bytes[0]) {
      case FRAME.stdin:
        if (c.channel === "stdio") {
          c.backend.writeStdin(c.sandboxId, payload).catch((e) => raw.send(control({ type: "error", message: `stdin: ${(e as Error).message}` })));
        } else c.exec?.write(payload);
        return;
      case FRAME.resize: {
        const size = parseJson(payload) as { cols?: number; rows?: number } | null;
        if (size && Number.isInteger(size.cols) && Number.isInteger(size.rows)) c.exec?.resize(size.cols as number, size.rows as number);
        return;
      }
      case FRAME.control: {
        const msg = parseJson(payload) as { type?: string } | null;
        if (msg?.type === "start") void this.#startExec(raw, c, msg as StartMessage);
        else if (msg?.type === "eof") c.exec?.closeStdin();
        else if (msg?.type === "signal") c.exec?.kill(String((msg as { signal?: string }).signal ?? "SIGTERM"));
        return;
      }
      default:
        raw.send(control({ type: "error", message: `unknown channel byte ${bytes[0]}` }));
    }
  }

  async #startExec(raw: Raw, c: Conn, m: StartMessage): Promise<void> {
    if (c.channel === "stdio" || c.exec) {
      raw.send(control({ type: "error", message: c.exec ? "a process is already running on this attach" : "stdio attaches to the main process; lease exec or pty to run commands" }));
      return;
    }
    const tty = c.channel === "pty";
    const argv = m.argv?.length ? m.argv : tty ? ["/bin/sh"] : null;
    if (!argv || !argv.every((a) => typeof a === "string")) {
      raw.send(control({ type: "error", message: "start needs argv: string[]" }));
      return;
    }
    try {
      const env: Record<string, string> = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...(tty ? { TERM: "xterm-256color" } : {}), ...(m.environment ?? {}) };
      const handle = await c.backend.exec(c.sandboxId, {
        process: { argv, env, cwd: m.workingDir ?? c.runAs.workingDir, uid: m.user?.uid ?? c.runAs.uid, gid: m.user?.gid ?? c.runAs.gid },
        tty,
        size: tty ? { cols: m.cols ?? 80, rows: m.rows ?? 24 } : undefined,
      });
      c.exec = handle;
      handle.onStdout((d) => !c.closed && raw.send(frame(FRAME.stdout, d)));
      handle.onStderr((d) => !c.closed && raw.send(frame(FRAME.stderr, d)));
      raw.send(control({ type: "started" }));
      const exitCode = await handle.exited;
      if (c.closed) return;
      raw.send(control({ type: "exit", exitCode }));
      this.#end(raw, c, CLOSE.normal, `exited ${exitCode}`);
    } catch (e) {
      this.logger.warn({ sessionId: c.sessionId, err: (e as Error).message }, "exec failed");
      raw.send(control({ type: "error", code: (e as { code?: string }).code ?? "exec_failed", message: (e as Error).message }));
      this.#end(raw, c, CLOSE.refused, "exec failed");
    }
  }

  close(raw: Raw): void {
    const c = this.#conns.get(raw);
    if (c) this.#end(raw, c, CLOSE.normal, "client closed");
  }

  #end(raw: Raw, c: Conn, code: number, reason: string): void {
    if (c.closed) return;
    c.closed = true;
    this.#conns.delete(raw);
    for (const r of c.readers) r.cancel().catch(() => {});
    c.exec?.kill("SIGKILL");
    try {
      raw.send(control({ type: "closed", code, reason }));
      raw.close(code, reason);
    } catch {}
  }

  closeAll(): void {
    for (const [raw, c] of this.#conns) this.#end(raw, c, 1001, "server shutting down");
  }
}

const parseJson = (b: Uint8Array): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(b));
  } catch {
    return null;
  }
};
