import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { pushFixtures, startFixtureRegistry, type FixtureRegistry } from "../../fixtures/images";
import { startProxy, startRegistry, type ProxyHandle, type RegistryHandle } from "../../fixtures/registry";
import { ImageError } from "../../../src/images";
import { cleanupAll, join, makeService } from "./helpers";

const user = { username: "alice", password: "s3cret-pass" };
let basic: RegistryHandle;
let open: FixtureRegistry;
let bearer: ProxyHandle;

beforeAll(async () => {
  basic = await startRegistry({ basicAuth: user });
  await pushFixtures(basic.url, { auth: user, only: ["busybox"] });
  open = await startFixtureRegistry({ only: ["busybox", "zstd"] });
  bearer = await startProxy(open.url, { bearer: user });
});
afterAll(async () => {
  await bearer?.stop();
  await open?.stop();
  await basic?.stop();
  cleanupAll();
});

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; return "ok"; } catch (e) { if (e instanceof ImageError) return e.code; throw e; }
}

describe("basic auth (htpasswd on docker-registry)", () => {
  test("anonymous is refused with registry_auth_failed", async () => {
    const { svc } = makeService({ insecureRegistries: [basic.host] });
    expect(await code(svc.resolve(`${basic.host}/library/busybox`))).toBe("registry_auth_failed");
  });
  test("wrong password is refused", async () => {
    const { svc } = makeService({ insecureRegistries: [basic.host], credentials: { [basic.host]: { ...user, password: "nope" } } });
    expect(await code(svc.resolve(`${basic.host}/library/busybox`))).toBe("registry_auth_failed");
  });
  test("credentials from a docker config.json-style file", async () => {
    const { svc, root } = makeService({ insecureRegistries: [basic.host] });
    const file = join(root, "auth.json");
    writeFileSync(file, JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from(`${user.username}:${user.password}`).toString("base64") } } }));
    const { svc: svc2 } = makeService({ insecureRegistries: [basic.host], credentialsFile: file });
    void svc;
    const img = await svc2.resolve(`${basic.host}/library/busybox`);
    expect(img.layers).toHaveLength(1);
  });
  test("credentials for a docker.io mirror are looked up by the mirror's host", async () => {
    const { svc } = makeService({ mirrors: { "docker.io": basic.url }, credentials: { [basic.host]: user } });
    expect((await svc.resolve("busybox")).layers).toHaveLength(1);
  });
});

describe("bearer token flow", () => {
  test("challenge → token → retry, token cached per scope", async () => {
    const { svc } = makeService({ insecureRegistries: [bearer.host], credentials: { [bearer.host]: user } });
    const img = await svc.resolve(`${bearer.host}/library/busybox`);
    expect(img.layers).toHaveLength(1);
    const afterFirst = bearer.tokensIssued();
    expect(afterFirst).toBe(1);
    await svc.resolve(`${bearer.host}/library/zstd`);
    expect(bearer.tokensIssued()).toBe(2); // new repository → new scope → new token
  });
  test("without credentials the token server refuses: registry_auth_failed", async () => {
    const { svc } = makeService({ insecureRegistries: [bearer.host] });
    expect(await code(svc.resolve(`${bearer.host}/library/busybox`))).toBe("registry_auth_failed");
  });
});
