import { Type } from "@sinclair/typebox";
import { Timestamp } from "../shared";

export const ImageRecord = Type.Object({
  reference: Type.String(),
  digest: Type.String(),
  size: Type.Integer({ description: "compressed bytes" }),
  createdAt: Timestamp,
  lastUsedAt: Timestamp,
});

export const ImageList = Type.Object({ items: Type.Array(ImageRecord) }, { $id: "ImageList" });

export const PruneRequest = Type.Object(
  { all: Type.Optional(Type.Boolean({ description: "also remove image records no sandbox stands on (default: only unreferenced layers, blobs and orphaned snapshots)" })) },
  { additionalProperties: false },
);

export const PruneResult = Type.Object(
  {
    images: Type.Array(Type.String()),
    layers: Type.Integer(),
    blobs: Type.Integer(),
    snapshots: Type.Array(Type.String()),
    bytes: Type.Integer(),
  },
  { $id: "PruneResult" },
);
