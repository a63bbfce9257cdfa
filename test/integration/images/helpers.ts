import { Database } from "bun:sqlite";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { mkdtempSync, readdirSync, rmSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { dataPaths } from "../../../src/host/paths";
import { createImageService, IMAGE_TABLES_DDL, type ImageServiceOptions } from "../../../src/images";
import { unmount } from "../../../src/images/sys";

const roots: string[] = [];

/** A fresh data dir + image service with its tables created the way a test should (plain DDL). */
export function makeService(opts: Partial<ImageServiceOptions> = {}) {
  const root = mkdtempSync("/var/tmp/nimbus-images-test-");
  roots.push(root);
  const sqlite = new Database(":memory:");
  sqlite.exec(IMAGE_TABLES_DDL);
  const svc = createImageService({ paths: dataPaths(root), db: drizzle(sqlite), createTables: false, credentialsFile: [], retries: 2, backoffMs: 20, ...opts });
  return { svc, root, paths: dataPaths(root) };
}

/** Unmount anything left under our test roots and delete them (also after failures). */
export function cleanupAll(): void {
  const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1]).filter(Boolean) as string[];
  for (const root of roots.splice(0)) {
    for (const m of mounts.filter((m) => m.startsWith(root)).sort().reverse()) { try { unmount(m); } catch {} }
    rmSync(root, { recursive: true, force: true });
  }
}

export function isMounted(path: string): boolean {
  return readFileSync("/proc/self/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === path);
}

export const ls = (p: string) => (existsSync(p) ? readdirSync(p).sort() : []);
export { join };
