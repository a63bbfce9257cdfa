import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../../src/cli/args";
import { parseStart } from "../../../src/cli/start";

describe("nimbus start flags and NIMBUS_* env", () => {
  test("defaults", () => {
    const c = parseStart([], { HOME: "/home/u" });
    expect(c).toMatchObject({ host: "127.0.0.1", port: 8080, logLevel: "info", dataDir: "/home/u/.local/share/nimbus/data" });
  });
  test("flags beat env, env beats defaults", () => {
    const env = { NIMBUS_PORT: "9000", NIMBUS_HOST: "0.0.0.0", NIMBUS_LOG_LEVEL: "debug", NIMBUS_REGISTRY_MIRRORS: "docker.io=http://127.0.0.1:5000" };
    expect(parseStart([], env)).toMatchObject({ port: 9000, host: "0.0.0.0", logLevel: "debug", registryMirrors: { "docker.io": "http://127.0.0.1:5000" } });
    expect(parseStart(["--port", "8081", "--log-level", "warn"], env)).toMatchObject({ port: 8081, logLevel: "warn" });
  });
  test("a JSON config file sets the same things; env and flags win over it", () => {
    const dir = mkdtempSync(join(tmpdir(), "nimbus-config-"));
    const file = join(dir, "nimbus.json");
    writeFileSync(file, JSON.stringify({ port: 9100, logLevel: "warn", registryMirrors: { "docker.io": "http://127.0.0.1:5000/" }, rootfsAllow: ["/srv/roots"] }));
    expect(parseStart(["--config", file], {})).toMatchObject({ port: 9100, logLevel: "warn", registryMirrors: { "docker.io": "http://127.0.0.1:5000" }, rootfsAllow: ["/srv/roots"] });
    expect(parseStart(["--port", "9200"], { NIMBUS_CONFIG: file, NIMBUS_LOG_LEVEL: "error" })).toMatchObject({ port: 9200, logLevel: "error" });
    writeFileSync(file, JSON.stringify({ port: "eighty" }));
    expect(() => parseStart(["--config", file], {})).toThrow(/\/port/);
    writeFileSync(file, JSON.stringify({ prot: 1 }));
    expect(() => parseStart(["--config", file], {})).toThrow(UsageError);
    writeFileSync(file, "{");
    expect(() => parseStart(["--config", file], {})).toThrow(UsageError);
    expect(() => parseStart(["--config", join(dir, "missing.json")], {})).toThrow(/no such file/);
    rmSync(dir, { recursive: true, force: true });
  });

  test("bad values are usage errors", () => {
    for (const argv of [["--port", "x"], ["--port", "65536"], ["--log-level", "loud"], ["--nope"], ["--registry-mirror", "docker.io"], ["positional"]]) {
      expect(() => parseStart(argv, {})).toThrow(UsageError);
    }
    expect(() => parseStart([], { NIMBUS_PORT: "eighty" })).toThrow(UsageError);
  });
});
