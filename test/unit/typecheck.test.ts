import { expect, test } from "bun:test";
import { resolve } from "node:path";

// Types are the documentation of shapes: the server and native bindings must type-check
// strictly (Bun runs TypeScript without checking it, so nothing else would notice).
test("src and native bindings type-check under --strict", () => {
  const root = resolve(import.meta.dir, "../..");
  const files = Bun.spawnSync(["git", "ls-files", "src/*.ts", "native/*.ts"], { cwd: root })
    .stdout.toString()
    .split("\n")
    .filter((f) => f && !f.endsWith("drizzle.config.ts"));
  expect(files.length).toBeGreaterThan(20);
  const flags = ["--noEmit", "--strict", "--noUncheckedIndexedAccess", "--target", "esnext", "--module", "esnext", "--moduleResolution", "bundler"];
  const more = ["--skipLibCheck", "--types", "bun", "--resolveJsonModule", "--allowImportingTsExtensions"];
  const r = Bun.spawnSync([`${root}/node_modules/.bin/tsc`, ...flags, ...more, ...files], { cwd: root });
  expect(r.stdout.toString() + r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
}, 60_000);
