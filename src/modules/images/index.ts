import { Elysia, t } from "elysia";
import type { ImageServiceImpl } from "../../images";
import { iso } from "../shared";
import { adminOnly } from "../tenants/scope";
import { ImageList, PruneRequest, PruneResult } from "./model";

/** Server-wide image material (admin): what is stored, and garbage collection of what no sandbox uses. */
export const imagesController = (images: ImageServiceImpl, liveSandboxIds: () => string[]) =>
  new Elysia({ name: "images", detail: { tags: ["images"] } })
    .use(adminOnly())
    .get(
      "/api/images",
      () => ({
        items: images.listImages().map((i) => ({ ...i, createdAt: iso(i.createdAt) as string, lastUsedAt: iso(i.lastUsedAt) as string })),
      }),
      { response: { 200: ImageList }, detail: { summary: "List pulled and built images" } },
    )
    .post(
      "/api/images/prune",
      // Every sandbox record keeps its snapshot until it is deleted, so all of them are live.
      ({ body }) => images.prune({ all: body?.all ?? false, liveSnapshots: liveSandboxIds() }),
      { body: t.Optional(PruneRequest), response: { 200: PruneResult }, detail: { summary: "Remove unreferenced blobs, layers and snapshots; never what a sandbox uses" } },
    );
