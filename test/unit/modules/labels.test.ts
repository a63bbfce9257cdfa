import { describe, expect, test } from "bun:test";
import { labelKeyProblem, labelValueProblem, validateLabels } from "../../../src/modules/labels";
import { ApiError } from "../../../src/server/errors";

describe("Kubernetes label syntax", () => {
  test("keys", () => {
    for (const ok of ["purpose", "app.kubernetes.io/name", "a", "A_b-c.d", "example.com/x", "x".repeat(63)]) expect({ ok, p: labelKeyProblem(ok) }).toEqual({ ok, p: null });
    for (const bad of ["", "-a", "a-", "bad key", "x".repeat(64), "UPPER.example/x", "/x", "a/b/c", "ünï"]) expect(labelKeyProblem(bad)).not.toBeNull();
  });
  test("values", () => {
    for (const ok of ["", "batch", "v1.2_3-x"]) expect(labelValueProblem(ok)).toBeNull();
    for (const bad of ["-x", "x ", "v".repeat(64), "a/b"]) expect(labelValueProblem(bad)).not.toBeNull();
  });
  test("validateLabels names the offending key and bounds the count", () => {
    expect(() => validateLabels({ purpose: "batch" })).not.toThrow();
    try {
      validateLabels({ good: "x", "bad key": "y" });
      throw new Error("should have thrown");
    } catch (e) {
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).status).toBe(422);
      expect((e as ApiError).details).toEqual({ path: "/labels/bad key" });
    }
    expect(() => validateLabels(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, ""])))).toThrow(/at most 64/);
  });
});
