// What the images subsystem offers the rest of Nimbus: image material by reference or build,
// unpacked into shared layer directories, and per-sandbox overlay snapshots over them.

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  exposedPorts?: string[];
  labels?: Record<string, string>;
}

export interface ResolvedImage {
  /** normalised reference, e.g. docker.io/library/node:22-alpine (or build:<digest>) */
  reference: string;
  /** manifest digest, sha256:... */
  digest: string;
  config: ImageConfig;
  /** unpacked layer directories, bottom first */
  layers: string[];
  /** platform manifest digest when `digest` names an index/list */
  manifestDigest?: string;
  /** layer diff ids, bottom first (same order as layers) */
  diffIds?: string[];
}

export interface PullProgress {
  layer: string;
  done: number;
  total: number;
}

export interface BuildRequest {
  dockerfile: string;
  /** context as a tar archive */
  context?: Uint8Array;
  /** or a directory on the host inside the operator's allow-list */
  contextDir?: string;
  buildArgs?: Record<string, string>;
}

export interface Snapshot {
  key: string;
  /** mounted overlay, ready to be a container rootfs */
  rootfs: string;
}

export interface ImageService {
  /** Normalise, pull if missing, unpack; throws ImageError. */
  resolve(reference: string, onProgress?: (p: PullProgress) => void): Promise<ResolvedImage>;
  build(req: BuildRequest): Promise<ResolvedImage>;
  /**
   * Writable overlay over `lowers` (bottom first) for one sandbox. `idmapLowers`: the lowers are
   * host directories with host ownership (a prepared root filesystem), shown shifted into the
   * container id range through idmapped mounts instead of being used as already-shifted layers.
   */
  prepareSnapshot(key: string, lowers: string[], opts?: { idmapLowers?: boolean }): Promise<Snapshot>;
  removeSnapshot(key: string): Promise<void>;
  /** uid/gid for a `user` string ("name", "uid", "uid:gid", "name:group") from the image's /etc files */
  resolveUser(lowers: string[], user: string | undefined): Promise<{ uid: number; gid: number; additionalGids: number[] }>;
  /** argv[0] resolved on PATH inside the layers; unchanged if it contains a slash */
  resolveExecutable(lowers: string[], argv0: string, path: string): Promise<string | null>;
}

export class ImageError extends Error {
  constructor(
    /** image_not_found | registry_auth_failed | registry_unreachable | invalid_reference | digest_mismatch | layer_rejected | build_failed | ... */
    readonly code: string,
    message: string,
    readonly status: number = 400,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
