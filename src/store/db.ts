import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { MigrationMeta } from "drizzle-orm/migrator";
import { journal, migrationSql } from "./migrations";
import * as schema from "./schema";

export type Store = BunSQLiteDatabase<typeof schema> & { $client: Database };

/** Open (creating if needed) the state database, WAL mode, migrated to the current schema. */
export const openStore = (file: string): Store => {
  const sqlite = new Database(file, { create: true, strict: true });
  sqlite.exec("PRAGMA journal_mode = WAL");
  sqlite.exec("PRAGMA synchronous = NORMAL");
  sqlite.exec("PRAGMA foreign_keys = ON");
  sqlite.exec("PRAGMA busy_timeout = 5000");
  const db = drizzle(sqlite, { schema }) as Store;
  migrate(db);
  return db;
};

// Same metadata drizzle's folder migrator derives, but from the SQL bundled into the binary.
const migrate = (db: Store): void => {
  const migrations: MigrationMeta[] = journal.entries.map((entry) => {
    const sql = migrationSql[entry.tag];
    if (sql === undefined) throw new Error(`migration ${entry.tag} is missing from the bundle`);
    return {
      sql: sql.split("--> statement-breakpoint"),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: createHash("sha256").update(sql).digest("hex"),
    };
  });
  // biome-ignore lint: drizzle exposes the dialect migrator only on the instance
  (db as any).dialect.migrate(migrations, (db as any).session, {});
};
