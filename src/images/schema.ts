// Image records (drizzle, sqlite). Exported for the server's drizzle-kit generation; the
// images subsystem also creates them itself (IMAGE_TABLES_DDL) when handed a bare database.
import { sqliteTable, text, integer } from "drizzle-orm/sqlite-core";

/** reference (normalised, with tag or digest) → what it resolved to */
export const images = sqliteTable("images", {
  reference: text("reference").primaryKey(),
  /** digest the reference resolved to (index/list digest for multi-platform images) */
  digest: text("digest").notNull(),
  /** platform manifest digest */
  manifestDigest: text("manifest_digest").notNull(),
  configDigest: text("config_digest").notNull(),
  /** ImageConfig as JSON */
  config: text("config").notNull(),
  /** diff ids, bottom first, JSON array */
  layers: text("layers").notNull(),
  /** compressed blob digests, bottom first, JSON array */
  blobs: text("blobs").notNull(),
  size: integer("size").notNull().default(0),
  createdAt: integer("created_at").notNull(),
  lastUsedAt: integer("last_used_at").notNull(),
});

/** unpacked layers by diff id */
export const layers = sqliteTable("layers", {
  diffId: text("diff_id").primaryKey(),
  blobDigest: text("blob_digest"),
  size: integer("size").notNull(),
  unpackedAt: integer("unpacked_at").notNull(),
});

export const IMAGE_TABLES_DDL = `
CREATE TABLE IF NOT EXISTS images (
  reference TEXT PRIMARY KEY NOT NULL,
  digest TEXT NOT NULL,
  manifest_digest TEXT NOT NULL,
  config_digest TEXT NOT NULL,
  config TEXT NOT NULL,
  layers TEXT NOT NULL,
  blobs TEXT NOT NULL,
  size INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layers (
  diff_id TEXT PRIMARY KEY NOT NULL,
  blob_digest TEXT,
  size INTEGER NOT NULL,
  unpacked_at INTEGER NOT NULL
);`;
