import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LibcrunError, openLibnimbus } from "../../../native/libnimbus.ts";
import { dataPaths } from "../../../src/host/paths.ts";
import { nativeArtifacts } from "../../../src/runtime/native.ts";

// Strings handed to libcrun must stay alive for the whole call. With ptr(Buffer) numbers a
// collection between two argument allocations could free the first buffer; libcrun then read
// garbage paths (state dirs named after random bytes appeared in the working directory during
// benchmark runs). The race is not reproducible on demand; this checks, under GC pressure,
// that every call sees exactly the id and state root it was given and creates nothing else.
test("libcrun calls see exactly the state root and id they were given, under GC pressure", () => {
  const root = mkdtempSync(join(tmpdir(), "nimbus-ffi-"));
  const stateRoot = join(root, "state");
  const cwdBefore = readdirSync(process.cwd()).sort();
  try {
    const lib = openLibnimbus(nativeArtifacts(dataPaths(root)).lib);
    for (let i = 0; i < 400; i++) {
      const id = `ffi-check-${i}`;
      if (i % 20 === 0) Bun.gc(true);
      // garbage between allocation and call, to give a collector a reason to run
      const noise = Array.from({ length: 200 }, (_, k) => `${k}`.repeat(20));
      let err: unknown;
      try {
        lib.state(stateRoot, id);
      } catch (e) {
        err = e;
      }
      expect(noise.length).toBe(200);
      expect(err).toBeInstanceOf(LibcrunError);
      expect((err as Error).message).toContain(id);
    }
    expect(readdirSync(process.cwd()).sort()).toEqual(cwdBefore);
    // nothing but (at most) the state root itself was created
    expect(readdirSync(root).filter((e) => e !== "state" && e !== "native")).toEqual([]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
