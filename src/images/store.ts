// Content store: blobs/sha256/<hex>, written to tmp and renamed only after the digest checks.
import * as fs from "node:fs";
import { join } from "node:path";
import type { DataPaths } from "../host/paths";
import { ImageError } from "./types";

export function digestHex(digest: string): { algo: "sha256" | "sha512"; hex: string } {
  const m = digest.match(/^(sha256|sha512):([a-f0-9]+)$/);
  if (!m || (m[1] === "sha256" && m[2]!.length !== 64) || (m[1] === "sha512" && m[2]!.length !== 128)) {
    throw new ImageError("invalid_digest", `malformed digest "${digest}"`, 422, { digest });
  }
  return { algo: m[1] as "sha256" | "sha512", hex: m[2]! };
}

export function digestOf(data: Uint8Array, algo: "sha256" | "sha512" = "sha256"): string {
  return `${algo}:${new Bun.CryptoHasher(algo).update(data).digest("hex")}`;
}

let tmpSeq = 0;

export class ContentStore {
  constructor(readonly paths: DataPaths) {
    for (const d of [join(paths.blobs, "sha256"), join(paths.blobs, "sha512"), paths.layers, paths.tmp, paths.snapshots]) {
      fs.mkdirSync(d, { recursive: true });
    }
  }

  blobPath(digest: string): string {
    const { algo, hex } = digestHex(digest);
    return join(this.paths.blobs, algo, hex);
  }

  layerPath(diffId: string): string {
    const { algo, hex } = digestHex(diffId);
    return join(this.paths.layers, algo === "sha256" ? hex : `${algo}-${hex}`);
  }

  has(digest: string): boolean {
    return fs.existsSync(this.blobPath(digest));
  }

  tmpName(prefix: string): string {
    return join(this.paths.tmp, `${prefix}-${process.pid}-${Date.now().toString(36)}-${(tmpSeq++).toString(36)}`);
  }

  /** Store a small blob after checking its digest. */
  putVerified(digest: string, data: Uint8Array): string {
    const { algo } = digestHex(digest);
    const got = digestOf(data, algo);
    if (got !== digest) throw new ImageError("digest_mismatch", `content digest mismatch: expected ${digest}, got ${got}`, 502, { expected: digest, actual: got });
    const dest = this.blobPath(digest);
    if (fs.existsSync(dest)) return dest;
    const tmp = this.tmpName("blob");
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, dest);
    return dest;
  }

  read(digest: string): Buffer {
    return fs.readFileSync(this.blobPath(digest));
  }
}
