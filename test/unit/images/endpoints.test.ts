import { describe, expect, test } from "bun:test";
import { parseReference } from "../../../src/images/reference";
import { RegistryClient } from "../../../src/images/registry";

describe("registry endpoints", () => {
  const bases = (c: RegistryClient, ref: string) => c.endpoints(parseReference(ref)).map((e) => e.base);

  test("Docker Hub goes to registry-1.docker.io over HTTPS; a mirror replaces it", () => {
    expect(bases(new RegistryClient(), "python:3.12-slim")).toEqual(["https://registry-1.docker.io"]);
    expect(bases(new RegistryClient({ mirrors: { "docker.io": "http://127.0.0.1:5000/" } }), "python:3.12-slim")).toEqual(["http://127.0.0.1:5000"]);
  });

  test("loopback registries speak plain HTTP without configuration, as with Docker", () => {
    expect(bases(new RegistryClient(), "127.0.0.1:5000/library/busybox:latest")).toEqual(["http://127.0.0.1:5000"]);
    expect(bases(new RegistryClient(), "localhost:5000/app")).toEqual(["http://localhost:5000"]);
    expect(bases(new RegistryClient(), "ghcr.io/org/app:1")).toEqual(["https://ghcr.io"]);
    expect(bases(new RegistryClient(), "127.0.0.1.example.com/app")).toEqual(["https://127.0.0.1.example.com"]);
    expect(bases(new RegistryClient({ insecureRegistries: ["registry.lan:5000"] }), "registry.lan:5000/app")).toEqual(["http://registry.lan:5000"]);
  });
});
