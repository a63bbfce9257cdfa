import { join } from "node:path";

// Layout of a data dir. Every on-disk location Nimbus owns is derived here, so a reader
// (and reconcile) can find anything from the data dir alone.
export interface DataPaths {
  root: string;
  db: string;
  /** content-addressed blobs: blobs/sha256/<hex> */
  blobs: string;
  /** one directory per unpacked layer, keyed by the layer's diff id */
  layers: string;
  /** per-sandbox overlay upper/work dirs and mount points */
  snapshots: string;
  /** per-sandbox bundle: config.json, logs, exit status, sockets */
  sandboxes: string;
  /** crun's state root (libcrun state_root) */
  runtimeState: string;
  /** native helpers extracted from the binary, content-addressed */
  native: string;
  /** build cache, temp files (same filesystem as blobs so renames are atomic) */
  tmp: string;
}

export const dataPaths = (root: string): DataPaths => ({
  root,
  db: join(root, "nimbus.db"),
  blobs: join(root, "content", "blobs"),
  layers: join(root, "content", "layers"),
  snapshots: join(root, "snapshots"),
  sandboxes: join(root, "sandboxes"),
  runtimeState: join(root, "run", "crun"),
  native: join(root, "native"),
  tmp: join(root, "tmp"),
});

export const sandboxDir = (paths: DataPaths, id: string): string => join(paths.sandboxes, id);
