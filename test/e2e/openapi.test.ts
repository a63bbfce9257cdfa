import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { validate } from "@readme/openapi-parser";
import { cleanupDirs, useServer } from "./harness";

const ARTIFACTS = resolve(import.meta.dir, "../artifacts");

describe("OpenAPI and Swagger UI", () => {
  const server = useServer();

  test("/openapi.json is a valid OpenAPI 3.1 document describing the API", async () => {
    const r = await server().api("GET", "/openapi.json", undefined, "");
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\.1\./);
    const result = await validate(structuredClone(r.body));
    if (!result.valid) console.error(JSON.stringify(result.errors, null, 2));
    expect(result.valid).toBe(true);
    expect(Object.keys(r.body.paths)).toContain("/api/tenants");
    expect(r.body.components.securitySchemes.bearer.scheme).toBe("bearer");
  });

  test("/docs renders in headless Chromium with every request kept on loopback", async () => {
    const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
    expect(chromium).toBeDefined();
    mkdirSync(ARTIFACTS, { recursive: true });
    const profile = mkdtempSync(join(tmpdir(), "nimbus-chromium-"));
    const shot = join(ARTIFACTS, "swagger-ui.png");
    const common = [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      // Any host but loopback fails to resolve: the page can only render from local assets.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      "--virtual-time-budget=8000",
    ];
    try {
      const dom = Bun.spawnSync([chromium as string, ...common, "--dump-dom", `${server().url}/docs`], { timeout: 60_000 });
      const html = dom.stdout.toString();
      expect(html).toContain("Nimbus API");
      expect(html).toContain("opblock");
      Bun.spawnSync([chromium as string, ...common, "--window-size=1280,900", `--screenshot=${shot}`, `${server().url}/docs`], { timeout: 60_000 });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
    } finally {
      cleanupDirs(profile);
    }
  }, 120_000);
});
