// Public surface of the images subsystem.
import { ImageServiceImpl, pruneImages as pruneImpl, type ImageServiceOptions, type PruneOptions, type PruneResult } from "./service";

export * from "./types";
export { parseReference, type Reference } from "./reference";
export { resolveUser } from "./view";
export { images, layers, IMAGE_TABLES_DDL } from "./schema";
export type { ImageServiceOptions, PruneOptions, PruneResult, StepRunner, Logger } from "./service";
export { ImageServiceImpl } from "./service";

export function createImageService(opts: ImageServiceOptions): ImageServiceImpl {
  return new ImageServiceImpl(opts);
}

/** Garbage-collect unreferenced blobs, layers and (optionally) images and dead snapshots. */
export function pruneImages(svc: ImageServiceImpl, opts: PruneOptions = {}): Promise<PruneResult> {
  return svc.prune(opts);
}
void pruneImpl;
