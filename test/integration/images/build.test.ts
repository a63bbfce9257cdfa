import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { startFixtureRegistry, type FixtureRegistry } from "../../fixtures/images";
import { tarArchive } from "../../../src/images/tar";
import { ImageError, type StepRunner } from "../../../src/images";
import { cleanupAll, join, makeService } from "./helpers";

let reg: FixtureRegistry;
let ctxDir: string;
const runs: string[][] = [];

// Test runner: a chroot into the step's snapshot in a fresh network namespace (no network).
// The server injects a runner backed by the container runtime instead.
const runner: StepRunner = async ({ rootfs, argv, env, cwd }) => {
  runs.push(argv);
  const r = spawnSync("unshare", ["--net", "--fork", "/usr/sbin/chroot", rootfs, "/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd, ...argv], { encoding: "utf8", env: Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])) });
  return { exitCode: r.status ?? 1, output: r.stdout + r.stderr };
};

beforeAll(async () => {
  reg = await startFixtureRegistry({ only: ["busybox"] });
  ctxDir = mkdtempSync("/var/tmp/nimbus-build-ctx-");
  mkdirSync(join(ctxDir, "src/sub"), { recursive: true });
  writeFileSync(join(ctxDir, "app.sh"), "#!/bin/sh\necho app says $GREETING\n", { mode: 0o755 });
  writeFileSync(join(ctxDir, "src/a.txt"), "A\n");
  writeFileSync(join(ctxDir, "src/sub/b.txt"), "B\n");
});
afterAll(async () => { await reg?.stop(); rmSync(ctxDir, { recursive: true, force: true }); cleanupAll(); });

const DOCKERFILE = `# a small build
ARG BASE=busybox
FROM \${BASE}
ENV GREETING=hello \\
    OTHER="two words"
WORKDIR /app
COPY app.sh ./
COPY src/ /data/
RUN echo "built with $GREETING" > /app/built.txt && ip link | grep -c UP > /app/netifs.txt; rm -f /etc/hosts
USER app
LABEL org.example.k=v
EXPOSE 8080
ENTRYPOINT ["/app/app.sh"]
CMD ["x"]
`;

describe("Dockerfile builds", () => {
  test("RUN/COPY/ENV produce an image whose root sees the results; a rebuild hits the cache", async () => {
    const { svc } = makeService({ mirrors: reg.mirrors, runner, contextAllowList: ["/var/tmp"] });
    const img = await svc.build({ dockerfile: DOCKERFILE, contextDir: ctxDir });
    expect(img.reference).toMatch(/^build:sha256:/);
    expect(img.config.env).toContain("GREETING=hello");
    expect(img.config.env).toContain("OTHER=two words");
    expect(img.config.workingDir).toBe("/app");
    expect(img.config.user).toBe("app");
    expect(img.config.entrypoint).toEqual(["/app/app.sh"]);
    expect(img.config.cmd).toEqual(["x"]);
    expect(img.config.exposedPorts).toEqual(["8080/tcp"]);
    expect(img.config.labels).toEqual({ "org.example.k": "v" });
    const snap = await svc.prepareSnapshot("build_check", img.layers);
    try {
      expect(readFileSync(join(snap.rootfs, "app/built.txt"), "utf8")).toBe("built with hello\n");
      expect(readFileSync(join(snap.rootfs, "app/netifs.txt"), "utf8").trim()).toBe("0"); // no network during RUN
      expect(readFileSync(join(snap.rootfs, "data/sub/b.txt"), "utf8")).toBe("B\n");
      expect(readFileSync(join(snap.rootfs, "data/a.txt"), "utf8")).toBe("A\n");
      expect(() => readFileSync(join(snap.rootfs, "etc/hosts"))).toThrow(); // deletion carried as a whiteout
      const out = spawnSync("/usr/sbin/chroot", [snap.rootfs, "/app/app.sh"], { encoding: "utf8", env: { GREETING: "hi", PATH: "/bin" } });
      expect(out.stdout).toBe("app says hi\n");
    } finally { await svc.removeSnapshot("build_check"); }
    const before = runs.length;
    const again = await svc.build({ dockerfile: DOCKERFILE, contextDir: ctxDir }) as any;
    expect(runs.length).toBe(before); // RUN not executed again
    expect(again.build.cached).toBe(3);
    expect(again.digest).toBe(img.digest);
  });

  test("context as a tar; COPY + ENV without RUN", async () => {
    const { svc } = makeService({ mirrors: reg.mirrors });
    const ctx = tarArchive([{ name: "hello.txt", data: new TextEncoder().encode("hi\n") }]);
    const img = await svc.build({ dockerfile: "FROM busybox\nENV A=1\nCOPY hello.txt /greet/\n", context: ctx });
    expect(readFileSync(join(img.layers.at(-1)!, "greet/hello.txt"), "utf8")).toBe("hi\n");
  });

  test("errors carry the Dockerfile line", async () => {
    const { svc } = makeService({ mirrors: reg.mirrors, runner });
    const ctx = tarArchive([{ name: "x", data: new Uint8Array(1) }]);
    const cases: Array<[string, string, number]> = [
      ["FROM busybox\n\nHEALTHCHECK CMD true\n", "build_unsupported_instruction", 3],
      ["FROM busybox\nCOPY missing.txt /\n", "build_context_missing", 2],
      ["FROM busybox\nCOPY ../x /\n", "build_context_missing", 2],
      ["FROM busybox\nADD http://example.com/x /\n", "build_unsupported_instruction", 2],
      ["FROM busybox\nRUN exit 3\n", "build_failed", 2],
    ];
    for (const [df, code, line] of cases) {
      let e: unknown;
      try { await svc.build({ dockerfile: df, context: ctx }); } catch (x) { e = x; }
      expect(e).toBeInstanceOf(ImageError);
      expect([(e as ImageError).code, (e as ImageError).details.line]).toEqual([code, line]);
      expect((e as ImageError).status).toBeGreaterThanOrEqual(400);
      expect((e as ImageError).status).toBeLessThan(500);
    }
    const { svc: noRunner } = makeService({ mirrors: reg.mirrors });
    await expect(noRunner.build({ dockerfile: "FROM busybox\nRUN true\n" })).rejects.toMatchObject({ code: "build_unsupported_instruction" });
    await expect(noRunner.build({ dockerfile: "FROM busybox\nCOPY x /\n", contextDir: "/etc" })).rejects.toMatchObject({ code: "build_context_forbidden" });
  });
});
