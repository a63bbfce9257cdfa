import { randomBytes } from "node:crypto";
import { and, asc, eq, gt, isNull, sql } from "drizzle-orm";
import { hashToken, mintTenantToken } from "../../server/auth";
import { conflict, notFound } from "../../server/errors";
import type { Store } from "../../store/db";
import { sandboxes, sessions, tenants, tenantTokens } from "../../store/schema";
import { iso } from "../shared";
import type { CreateTenant, Tenant, TokenInfo } from "./model";

type TenantRow = typeof tenants.$inferSelect;
type TokenRow = typeof tenantTokens.$inferSelect;

const toTenant = (r: TenantRow): Tenant => ({
  metadata: { id: r.id, createdAt: iso(r.createdAt) as string },
  spec: { displayName: r.displayName },
});

const toToken = (r: TokenRow): TokenInfo => ({
  metadata: { id: r.id, tenantId: r.tenantId, name: r.name, createdAt: iso(r.createdAt) as string, revokedAt: iso(r.revokedAt) },
});

export class TenantService {
  // hot path (every tenant-scoped request): prepared once, not rebuilt per call
  readonly #byId;

  constructor(private readonly db: Store) {
    this.#byId = db.select().from(tenants).where(eq(tenants.id, sql.placeholder("id"))).prepare();
  }

  create(input: CreateTenant): Tenant {
    const row = { id: input.id, displayName: input.displayName ?? null, createdAt: Date.now() };
    const inserted = this.db.insert(tenants).values(row).onConflictDoNothing().returning().get();
    if (!inserted) throw conflict("tenant_exists", `tenant ${JSON.stringify(input.id)} already exists`, { id: input.id });
    return toTenant(inserted);
  }

  list(limit: number, after?: string): { items: Tenant[]; nextPageToken?: string } {
    const rows = this.db
      .select()
      .from(tenants)
      .where(after ? gt(tenants.id, after) : undefined)
      .orderBy(asc(tenants.id))
      .limit(limit + 1)
      .all();
    const page = rows.slice(0, limit).map(toTenant);
    const last = rows.length > limit ? rows[limit - 1] : undefined;
    return last ? { items: page, nextPageToken: Buffer.from(last.id).toString("base64url") } : { items: page };
  }

  /** Throws tenant_not_found. */
  get(id: string): Tenant {
    const row = this.#byId.get({ id });
    if (!row) throw notFound("tenant", id);
    return toTenant(row);
  }

  exists(id: string): boolean {
    return this.#byId.get({ id }) !== undefined;
  }

  /** A tenant that still holds sandboxes cannot be deleted: their processes and storage would be orphaned. */
  delete(id: string): void {
    this.get(id);
    this.db.transaction((tx) => {
      const held = tx.select({ id: sandboxes.id }).from(sandboxes).where(eq(sandboxes.tenantId, id)).limit(1).get();
      if (held) throw conflict("tenant_not_empty", `tenant ${JSON.stringify(id)} still has sandboxes; delete them first`, { id });
      tx.delete(sessions).where(eq(sessions.tenantId, id)).run();
      tx.delete(tenantTokens).where(eq(tenantTokens.tenantId, id)).run();
      tx.delete(tenants).where(eq(tenants.id, id)).run();
    });
  }

  issueToken(tenantId: string, name?: string): TokenInfo & { token: string } {
    this.get(tenantId);
    const token = mintTenantToken();
    const row = this.db
      .insert(tenantTokens)
      .values({ id: `tok_${randomBytes(10).toString("hex")}`, tenantId, name: name ?? null, hash: hashToken(token), createdAt: Date.now() })
      .returning()
      .get();
    return { ...toToken(row), token };
  }

  listTokens(tenantId: string): TokenInfo[] {
    this.get(tenantId);
    return this.db.select().from(tenantTokens).where(eq(tenantTokens.tenantId, tenantId)).orderBy(asc(tenantTokens.createdAt)).all().map(toToken);
  }

  /** Idempotent: revoking a revoked token returns it unchanged. */
  revokeToken(tenantId: string, tokenId: string): TokenInfo {
    this.get(tenantId);
    const where = and(eq(tenantTokens.tenantId, tenantId), eq(tenantTokens.id, tokenId));
    this.db.update(tenantTokens).set({ revokedAt: Date.now() }).where(and(where, isNull(tenantTokens.revokedAt))).run();
    const row = this.db.select().from(tenantTokens).where(where).get();
    if (!row) throw notFound("token", tokenId);
    return toToken(row);
  }
}
