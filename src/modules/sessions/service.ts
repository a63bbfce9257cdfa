import { randomBytes } from "node:crypto";
import { and, asc, eq, gt, lte, sql } from "drizzle-orm";
import { ApiError, conflict, notFound } from "../../server/errors";
import type { Logger } from "../../server/logging";
import type { Store } from "../../store/db";
import { sessions } from "../../store/schema";
import type { SandboxSpec, SandboxStatus } from "../sandboxes/model";
import type { SandboxService } from "../sandboxes/service";
import { cursor, iso } from "../shared";
import type { Channel, OpenSession, Session, SessionState, Target, TargetSnapshot } from "./model";

type Row = typeof sessions.$inferSelect;

export interface SessionLimits {
  minTtlMs: number;
  maxTtlMs: number;
  defaultTtlMs: number;
}

export type SessionEndListener = (id: string, state: SessionState, reason: string) => void;

const toSession = (r: Row): Session => ({
  metadata: { id: r.id, tenantId: r.tenantId, createdAt: iso(r.createdAt) as string },
  spec: {
    target: r.targetKind === "sandbox" ? { sandbox: { id: r.targetId } } : { service: { name: r.targetId } },
    channels: r.channels as Channel[],
    requestedTtlMs: r.requestedTtlMs,
    grantedTtlMs: r.grantedTtlMs,
    expiresAt: iso(r.expiresAt) as string,
    targetSnapshot: r.targetSnapshot as TargetSnapshot,
  },
  status: { state: r.state as SessionState, closedAt: iso(r.closedAt), closeReason: r.closeReason },
});

/** Leases: a TTL'd, durable record of what a client attached to. */
export class SessionService {
  readonly #listeners: SessionEndListener[] = [];
  readonly #tickets = new Map<string, { sessionId: string; tenantId: string; expiresAt: number }>();
  #sweeper?: ReturnType<typeof setInterval>;
  readonly #byTenantAndId;

  constructor(
    private readonly db: Store,
    private readonly sandboxes: SandboxService,
    private readonly limits: SessionLimits,
    private readonly logger: Logger,
  ) {
    this.#byTenantAndId = db
      .select()
      .from(sessions)
      .where(and(eq(sessions.tenantId, sql.placeholder("tenantId")), eq(sessions.id, sql.placeholder("id"))))
      .prepare();
    sandboxes.onStopped((tenantId, id) => this.closeForTarget(tenantId, "sandbox", id, "target_stopped"));
  }

  onEnd(l: SessionEndListener): void {
    this.#listeners.push(l);
  }

  /** Expire what is due now (including leases that ran out while the server was down), then keep sweeping. */
  start(intervalMs = 250): void {
    this.sweep();
    this.#sweeper = setInterval(() => this.sweep(), intervalMs);
  }

  stop(): void {
    clearInterval(this.#sweeper);
  }

  sweep(): void {
    const now = Date.now();
    const due = this.db
      .update(sessions)
      .set({ state: "expired", closedAt: now, closeReason: "expired" })
      .where(and(eq(sessions.state, "open"), lte(sessions.expiresAt, now)))
      .returning({ id: sessions.id })
      .all();
    for (const { id } of due) this.#emit(id, "expired", "expired");
  }

  clampTtl(requested: number | undefined): number {
    const r = requested ?? this.limits.defaultTtlMs;
    return Math.min(this.limits.maxTtlMs, Math.max(this.limits.minTtlMs, r));
  }

  open(tenantId: string, input: OpenSession): Session {
    const { kind, targetId, snapshot } = this.#snapshot(tenantId, input.target);
    const now = Date.now();
    const requested = input.requestedTtlMs ?? this.limits.defaultTtlMs;
    const granted = this.clampTtl(requested);
    const row = this.db
      .insert(sessions)
      .values({
        id: `ses_${randomBytes(10).toString("hex")}`,
        tenantId,
        targetKind: kind,
        targetId,
        channels: input.channels,
        requestedTtlMs: requested,
        grantedTtlMs: granted,
        expiresAt: now + granted,
        targetSnapshot: snapshot,
        state: "open",
        createdAt: now,
      })
      .returning()
      .get();
    this.logger.info({ sessionId: row.id, tenantId, target: `${kind}/${targetId}`, grantedTtlMs: granted }, "session opened");
    return toSession(row);
  }

  #snapshot(tenantId: string, target: Target): { kind: "sandbox" | "service"; targetId: string; snapshot: TargetSnapshot } {
    if ("service" in target) {
      // No service resolves to a sandbox until services exist; a name that resolves to nothing is unknown.
      throw notFound("service", target.service.name);
    }
    const row = this.sandboxes.record(tenantId, target.sandbox.id);
    if (row.lifecycleState !== "ready") {
      throw conflict("target_not_ready", `sandbox ${row.id} is ${row.lifecycleState}; sessions attach to ready targets only`, { lifecycleState: row.lifecycleState });
    }
    const spec = row.spec as SandboxSpec;
    const status = row.status as SandboxStatus;
    return {
      kind: "sandbox",
      targetId: row.id,
      snapshot: {
        kind: "sandbox",
        id: row.id,
        lifecycleState: row.lifecycleState,
        backend: spec.backend,
        profile: spec.profile,
        image: status.image,
        owner: spec.owner,
        observedAt: new Date().toISOString(),
      },
    };
  }

  /** Throws session_not_found; an open lease past its expiry is expired on the way. */
  row(tenantId: string, id: string): Row {
    const r = this.#byTenantAndId.get({ tenantId, id });
    if (!r) throw notFound("session", id);
    if (r.state === "open" && r.expiresAt <= Date.now()) {
      this.sweep();
      return this.row(tenantId, id);
    }
    return r;
  }

  get(tenantId: string, id: string): Session {
    return toSession(this.row(tenantId, id));
  }

  list(tenantId: string, q: { sandboxId?: string; serviceName?: string; state?: string; limit?: number; pageToken?: string }) {
    this.sweep();
    const after = cursor.decode(q.pageToken);
    if (Number.isNaN(after)) throw new ApiError(422, "invalid_page_token", "/pageToken: is not a token this server issued", { path: "/pageToken" });
    const limit = q.limit ?? 50;
    const conds = [eq(sessions.tenantId, tenantId)];
    if (after !== undefined) conds.push(gt(sessions.seq, after));
    if (q.sandboxId) conds.push(eq(sessions.targetKind, "sandbox"), eq(sessions.targetId, q.sandboxId));
    if (q.serviceName) conds.push(eq(sessions.targetKind, "service"), eq(sessions.targetId, q.serviceName));
    if (q.state) conds.push(eq(sessions.state, q.state));
    const rows = this.db.select().from(sessions).where(and(...conds)).orderBy(asc(sessions.seq)).limit(limit + 1).all();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { items: page.map(toSession), ...(rows.length > limit && last ? { nextPageToken: cursor.encode(last.seq) } : {}) };
  }

  /** Idempotent: closing an ended session returns it unchanged (its first reason stands). */
  close(tenantId: string, id: string, reason = "closed_by_client"): Session {
    const r = this.row(tenantId, id);
    if (r.state !== "open") return toSession(r);
    this.db.update(sessions).set({ state: "closed", closedAt: Date.now(), closeReason: reason }).where(and(eq(sessions.id, id), eq(sessions.state, "open"))).run();
    this.#emit(id, "closed", reason);
    return this.get(tenantId, id);
  }

  renew(tenantId: string, id: string, requestedTtlMs?: number): Session {
    const r = this.row(tenantId, id);
    if (r.state !== "open") throw conflict("session_ended", `session ${id} is ${r.state}; open a new one`, { state: r.state });
    const requested = requestedTtlMs ?? r.requestedTtlMs;
    const granted = this.clampTtl(requested);
    this.db.update(sessions).set({ requestedTtlMs: requested, grantedTtlMs: granted, expiresAt: Date.now() + granted }).where(eq(sessions.id, id)).run();
    return this.get(tenantId, id);
  }

  closeForTarget(tenantId: string, kind: "sandbox" | "service", targetId: string, reason: string): void {
    const ended = this.db
      .update(sessions)
      .set({ state: "closed", closedAt: Date.now(), closeReason: reason })
      .where(and(eq(sessions.tenantId, tenantId), eq(sessions.targetKind, kind), eq(sessions.targetId, targetId), eq(sessions.state, "open")))
      .returning({ id: sessions.id })
      .all();
    for (const { id } of ended) this.#emit(id, "closed", reason);
  }

  /** A one-time, short-lived credential for browsers, which cannot set headers on a WebSocket. */
  issueTicket(tenantId: string, id: string): { ticket: string; expiresAt: string } {
    const r = this.row(tenantId, id);
    if (r.state !== "open") throw conflict("session_ended", `session ${id} is ${r.state}`, { state: r.state });
    const ticket = `att_${randomBytes(24).toString("base64url")}`;
    const expiresAt = Date.now() + 30_000;
    for (const [k, v] of this.#tickets) if (v.expiresAt < Date.now()) this.#tickets.delete(k);
    this.#tickets.set(ticket, { sessionId: id, tenantId, expiresAt });
    return { ticket, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** True when the ticket was issued for this session, is unexpired and unused. */
  checkTicket(ticket: string, tenantId: string, id: string): boolean {
    const t = this.#tickets.get(ticket);
    return !!t && t.sessionId === id && t.tenantId === tenantId && t.expiresAt >= Date.now();
  }

  /** Like checkTicket, and uses the ticket up. */
  redeemTicket(ticket: string, tenantId: string, id: string): boolean {
    const ok = this.checkTicket(ticket, tenantId, id);
    this.#tickets.delete(ticket);
    return ok;
  }

  #emit(id: string, state: SessionState, reason: string) {
    for (const l of this.#listeners) l(id, state, reason);
  }
}
