import { describe, expect, test } from "bun:test";
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
  test("bad values are usage errors", () => {
    for (const argv of [["--port", "x"], ["--port", "65536"], ["--log-level", "loud"], ["--nope"], ["--registry-mirror", "docker.io"], ["positional"]]) {
      expect(() => parseStart(argv, {})).toThrow(UsageError);
    }
    expect(() => parseStart([], { NIMBUS_PORT: "eighty" })).toThrow(UsageError);
  });
});
