import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// Times are epoch milliseconds; JSON columns hold shapes described by the modules' TypeBox models.

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  displayName: text("display_name"),
  createdAt: integer("created_at").notNull(),
});

export const tenantTokens = sqliteTable(
  "tenant_tokens",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    name: text("name"),
    /** sha256 of the token; the token itself is shown once and never stored */
    hash: text("hash").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("tenant_tokens_hash").on(t.hash), index("tenant_tokens_tenant").on(t.tenantId)],
);

export const sandboxes = sqliteTable(
  "sandboxes",
  {
    /** insertion order: the stable sort key behind list cursors */
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    profile: text("profile").notNull(),
    backend: text("backend").notNull(),
    labels: text("labels", { mode: "json" }).$type<Record<string, string>>().notNull(),
    /** the spec as readable back: argv and environment already replaced by counts */
    spec: text("spec", { mode: "json" }).notNull(),
    /** launch inputs (argv, environment) kept only until the process has started */
    launch: text("launch", { mode: "json" }),
    lifecycleState: text("lifecycle_state").notNull(),
    status: text("status", { mode: "json" }).notNull(),
    imageDigest: text("image_digest"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  // lists are per tenant in seq order, optionally by state: both served without a sort
  (t) => [
    uniqueIndex("sandboxes_id").on(t.id),
    index("sandboxes_tenant_seq").on(t.tenantId, t.seq),
    index("sandboxes_tenant_state_seq").on(t.tenantId, t.lifecycleState, t.seq),
  ],
);

export const sessions = sqliteTable(
  "sessions",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    targetKind: text("target_kind").notNull(),
    targetId: text("target_id").notNull(),
    channels: text("channels", { mode: "json" }).$type<string[]>().notNull(),
    requestedTtlMs: integer("requested_ttl_ms").notNull(),
    grantedTtlMs: integer("granted_ttl_ms").notNull(),
    expiresAt: integer("expires_at").notNull(),
    targetSnapshot: text("target_snapshot", { mode: "json" }).notNull(),
    state: text("state").notNull(),
    closedAt: integer("closed_at"),
    closeReason: text("close_reason"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("sessions_id").on(t.id),
    index("sessions_tenant_seq").on(t.tenantId, t.seq),
    index("sessions_tenant_state").on(t.tenantId, t.state),
    index("sessions_open_expiry").on(t.state, t.expiresAt),
    index("sessions_target").on(t.targetKind, t.targetId),
  ],
);
