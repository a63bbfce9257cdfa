import { describe, expect, test } from "bun:test";
import { parseReference, ImageError } from "../../../src/images";

describe("parseReference", () => {
  const cases: Array<[string, string]> = [
    ["python:3.12-slim", "docker.io/library/python:3.12-slim"],
    ["busybox", "docker.io/library/busybox:latest"],
    ["docker.io/library/node:22-alpine", "docker.io/library/node:22-alpine"],
    ["index.docker.io/foo/bar", "docker.io/foo/bar:latest"],
    ["user/repo:v1", "docker.io/user/repo:v1"],
    ["localhost/repo", "localhost/repo:latest"],
    ["127.0.0.1:5000/a/b/c:tag", "127.0.0.1:5000/a/b/c:tag"],
    ["ghcr.io/org/img@sha256:" + "a".repeat(64), "ghcr.io/org/img@sha256:" + "a".repeat(64)],
    ["ghcr.io/org/img:1.0@sha256:" + "b".repeat(64), "ghcr.io/org/img:1.0@sha256:" + "b".repeat(64)],
    ["registry.example.com:443/x__y.z-w:TAG_1.2-3", "registry.example.com:443/x__y.z-w:TAG_1.2-3"],
  ];
  for (const [input, want] of cases) test(input, () => expect(parseReference(input).toString()).toBe(want));

  test("parts", () => {
    const r = parseReference("127.0.0.1:5000/a/b:t");
    expect([r.registry, r.repository, r.tag, r.digest]).toEqual(["127.0.0.1:5000", "a/b", "t", undefined]);
  });

  for (const bad of ["", "UPPER/case", "a b", "repo:", "repo@sha256:123", ":tag", "a//b", "-lead", "host:99999/x", "repo:" + "t".repeat(200), "a/../b"]) {
    test(`invalid: ${JSON.stringify(bad)}`, () => {
      let e: unknown;
      try { parseReference(bad); } catch (x) { e = x; }
      expect(e).toBeInstanceOf(ImageError);
      expect((e as ImageError).code).toBe("invalid_reference");
      expect((e as ImageError).status).toBe(400);
    });
  }
});
