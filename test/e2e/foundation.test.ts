import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, cleanupDirs, startServer, useServer, type ServerHandle } from "./harness";

describe("nimbus binary: boot, admin token, tenants, auth", () => {
  const server = useServer();
  // every test below talks to the same server
  let s: ServerHandle;
  beforeAll(() => {
    s = server();
  });

  test("first boot writes the admin token file as 0600 JSON in a 0700 dir", () => {
    const file = join(s.xdg, "nimbus", "auth", "token");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(s.xdg, "nimbus", "auth")).mode & 0o777).toBe(0o700);
    const parsed = JSON.parse(readFileSync(file, "utf8"));
    expect(typeof parsed.token).toBe("string");
    // 256 bits of entropy, base64url: 43 characters after the prefix
    expect(parsed.token.length).toBeGreaterThanOrEqual(43);
    expect(s.output()).not.toContain(parsed.token);
  });

  test("quickstart step 3: POST /api/tenants → 201, repeat → 409", async () => {
    const r = await s.api("POST", "/api/tenants", { id: "demo" });
    expect(r.status).toBe(201);
    expect(r.body.metadata.id).toBe("demo");
    const again = await s.api("POST", "/api/tenants", { id: "demo" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("tenant_exists");
    const got = await s.api("GET", "/api/tenants/demo");
    expect(got.status).toBe(200);
    const list = await s.api("GET", "/api/tenants");
    expect(list.body.items.map((t: any) => t.metadata.id)).toContain("demo");
  });

  test("no token or a wrong token is 401 with WWW-Authenticate on every API route", async () => {
    const routes: [string, string][] = [
      ["GET", "/api/tenants"],
      ["POST", "/api/tenants"],
      ["GET", "/api/tenants/demo"],
      ["DELETE", "/api/tenants/demo"],
      ["GET", "/api/capabilities"],
      ["GET", "/api/tenants/demo/sandboxes"],
      ["POST", "/api/tenants/demo/sandboxes"],
      ["GET", "/api/tenants/demo/sessions"],
      ["GET", "/api/tenants/demo/nothing-here"],
    ];
    for (const [method, path] of routes) {
      for (const tok of ["", "wrong-token"]) {
        const r = await s.api(method, path, method === "POST" ? { id: "x" } : undefined, tok);
        expect({ method, path, tok, status: r.status }).toEqual({ method, path, tok, status: 401 });
        expect(r.headers.get("www-authenticate")).toContain("Bearer");
        expect(r.body.error.code).toBe("unauthorized");
      }
    }
  });

  test("a tenant token acts on its own tenant only; another tenant is 404", async () => {
    await s.api("POST", "/api/tenants", { id: "alpha" });
    await s.api("POST", "/api/tenants", { id: "beta" });
    const issued = await s.api("POST", "/api/tenants/alpha/tokens", { name: "ci" });
    expect(issued.status).toBe(201);
    const tok = issued.body.token as string;
    const listed = await s.api("GET", "/api/tenants/alpha/tokens");
    expect(JSON.stringify(listed.body)).not.toContain(tok);
    expect((await s.api("GET", "/api/tenants/alpha/sandboxes", undefined, tok)).status).toBe(200);
    const other = await s.api("GET", "/api/tenants/beta/sandboxes", undefined, tok);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe("tenant_not_found");
    // tenant management stays with the admin
    expect((await s.api("POST", "/api/tenants", { id: "gamma" }, tok)).status).toBe(403);
    // revoked tokens stop working
    await s.api("DELETE", `/api/tenants/alpha/tokens/${issued.body.metadata.id}`);
    expect((await s.api("GET", "/api/tenants/alpha/sandboxes", undefined, tok)).status).toBe(401);
  });

  test("bad input is a 4xx JSON error and stores nothing", async () => {
    const before = (await s.api("GET", "/api/tenants?limit=500")).body.items.length;
    const cases: [unknown, number][] = [
      ['{"id": ', 400],
      ["not json at all", 400],
      [{ id: 42 }, 422],
      [{ id: "UPPER" }, 422],
      [{ id: "-lead" }, 422],
      [{ id: "a".repeat(64) }, 422],
      [{ id: "ünïcødé" }, 422],
      [{ id: "snow☃" }, 422],
      [{ id: "ok-id", extra: true }, 422],
      [{}, 422],
      [[], 422],
    ];
    for (const [body, status] of cases) {
      const r = await s.api("POST", "/api/tenants", body);
      expect({ body, status: r.status }).toEqual({ body, status });
      expect(typeof r.body.error.code).toBe("string");
      expect(typeof r.body.error.message).toBe("string");
    }
    const huge = await s.api("POST", "/api/tenants", JSON.stringify({ id: "big", pad: "x".repeat(2 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe("payload_too_large");
    const after = (await s.api("GET", "/api/tenants?limit=500")).body.items.length;
    expect(after).toBe(before);
  });

  test("unknown routes are JSON 404s; health and readiness answer", async () => {
    const r = await s.api("GET", "/no/such/route");
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe("route_not_found");
    expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect((await s.api("GET", "/healthz", undefined, "")).status).toBe(200);
    expect((await s.api("GET", "/readyz", undefined, "")).status).toBe(200);
    const caps = await s.api("GET", "/api/capabilities");
    expect(caps.status).toBe(200);
    expect(caps.body.version).toMatch(/^\d+\.\d+\.\d+/);
    const backends = Object.fromEntries(caps.body.backends.map((b: any) => [b.name, b]));
    expect(backends.container).toMatchObject({ available: true, processExecution: true });
    // krun never runs processes yet; whether libkrun loads is reported as it is on this host
    expect(backends.krun.processExecution).toBe(false);
    const libkrun = ["/usr/lib/x86_64-linux-gnu/libkrun.so.1", "/usr/lib/libkrun.so.1", "/usr/local/lib/libkrun.so.1", "/usr/lib64/libkrun.so.1"].some((p) => existsSync(p));
    expect(backends.krun.available).toBe(libkrun);
    if (!libkrun) expect(backends.krun.reason).toContain("libkrun");
    const profiles = Object.fromEntries(caps.body.profiles.map((p: any) => [p.name, p]));
    expect(profiles.worker.available).toBe(true);
    expect(profiles.desktop.available).toBe(false);
    expect(caps.body.channels).toEqual(["stdio", "exec", "pty"]);
  });

  test("request log lines carry method/path/status and never the token", async () => {
    await s.api("GET", "/api/tenants");
    const requestLines = () => s.output().split("\n").filter((l) => l.includes('"msg":"request"'));
    for (let i = 0; i < 100 && !requestLines().some((l) => l.includes('"path":"/api/tenants"') && l.includes('"status":200')); i++) await Bun.sleep(20);
    const lines = requestLines().filter((l) => l.includes('"path":"/api/tenants"') && l.includes('"method":"GET"'));
    expect(requestLines().length).toBeGreaterThan(5);
    expect(lines.length).toBeGreaterThan(0);
    const line = JSON.parse(lines.findLast((l) => l.includes(`"status":200`)) as string);
    expect(line).toMatchObject({ method: "GET", path: "/api/tenants", status: 200 });
    expect(typeof line.requestId).toBe("string");
    expect(s.output()).not.toContain(s.token);
  });
});

describe("nimbus binary: restarts and token file safety", () => {
  test("a second boot reuses the token and keeps tenants", async () => {
    const a = await startServer();
    await a.api("POST", "/api/tenants", { id: "kept" });
    expect(await a.stop()).toBe(0);
    const b = await startServer({ dataDir: a.dataDir, xdg: a.xdg });
    try {
      expect(b.token).toBe(a.token);
      expect((await b.api("GET", "/api/tenants/kept")).status).toBe(200);
    } finally {
      await b.stop();
      cleanupDirs(a.dataDir, a.xdg);
    }
  });

  test("one server per data dir and per port: a second one fails with a clear message", async () => {
    const a = await startServer();
    try {
      const sameDir = Bun.spawnSync([BINARY, "start", "--port", "0", "--data-dir", a.dataDir], { env: { ...process.env, XDG_DATA_HOME: a.xdg } });
      expect(sameDir.exitCode).not.toBe(0);
      expect(sameDir.stderr.toString()).toContain("in use by another nimbus server");
      const other = mkdtempSync(join(tmpdir(), "nimbus-data-"));
      const samePort = Bun.spawnSync([BINARY, "start", "--port", String(a.port), "--data-dir", other], { env: { ...process.env, XDG_DATA_HOME: a.xdg }, timeout: 10_000 });
      expect(samePort.exitCode).not.toBe(0);
      expect(samePort.stderr.toString()).toMatch(/in use|EADDRINUSE/i);
      cleanupDirs(other);
    } finally {
      await a.stop();
      cleanupDirs(a.dataDir, a.xdg);
    }
  });

  test("a world-readable or corrupt token file is a clear startup error, not a new token", async () => {
    const a = await startServer();
    await a.stop();
    const file = join(a.xdg, "nimbus", "auth", "token");
    chmodSync(file, 0o644);
    const p1 = Bun.spawnSync([BINARY, "start", "--port", "0", "--data-dir", a.dataDir], { env: { ...process.env, XDG_DATA_HOME: a.xdg } });
    expect(p1.exitCode).not.toBe(0);
    expect(p1.stderr.toString()).toContain("chmod 600");
    chmodSync(file, 0o600);
    writeFileSync(file, "{not json");
    const p2 = Bun.spawnSync([BINARY, "start", "--port", "0", "--data-dir", a.dataDir], { env: { ...process.env, XDG_DATA_HOME: a.xdg } });
    expect(p2.exitCode).not.toBe(0);
    expect(p2.stderr.toString()).toContain("not valid JSON");
    expect(readFileSync(file, "utf8")).toBe("{not json");
    cleanupDirs(a.dataDir, a.xdg);
  });
});

describe("nimbus CLI", () => {
  test("version, help, and usage errors exit 2 with one line", () => {
    const v = Bun.spawnSync([BINARY, "version"]);
    expect(v.exitCode).toBe(0);
    expect(v.stdout.toString()).toMatch(/^nimbus \d+\.\d+\.\d+\n$/);
    const h = Bun.spawnSync([BINARY, "--help"]);
    expect(h.exitCode).toBe(0);
    expect(h.stdout.toString()).toContain("start");
    const sh = Bun.spawnSync([BINARY, "start", "--help"]);
    expect(sh.stdout.toString()).toContain("--data-dir");
    for (const args of [["start", "--bogus"], ["start", "--port", "abc"], ["start", "--port", "70000"], ["start", "--log-level", "loud"], ["frobnicate"]]) {
      const r = Bun.spawnSync([BINARY, ...args]);
      expect({ args, code: r.exitCode }).toEqual({ args, code: 2 });
      expect(r.stderr.toString().trim().split("\n").length).toBe(1);
    }
    expect(existsSync(BINARY)).toBe(true);
  });

  test("doctor checks the host and reports each check on a line", () => {
    const r = Bun.spawnSync([BINARY, "doctor"]);
    const out = r.stdout.toString();
    expect(r.exitCode).toBe(0);
    expect(out).toMatch(/^ok {2}/m);
    expect(out.toLowerCase()).toContain("cgroup");
    expect(out.toLowerCase()).toContain("overlay");
    expect(Bun.spawnSync([BINARY, "doctor", "--bogus"]).exitCode).toBe(2);
  });
});
