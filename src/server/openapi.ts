import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
// Swagger UI's assets ship inside the binary: the docs page must work with no network.
import bundleJs from "../../node_modules/swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import css from "../../node_modules/swagger-ui-dist/swagger-ui.css" with { type: "file" };
import { VERSION } from "../version";

const ASSETS: Record<string, { file: string; type: string }> = {
  "swagger-ui-bundle.js": { file: bundleJs, type: "text/javascript; charset=utf-8" },
  "swagger-ui.css": { file: css, type: "text/css; charset=utf-8" },
};

/** Paths Elysia cannot describe itself (WebSocket upgrades), documented by their modules. */
export type ExtraPaths = Record<string, Record<string, unknown>>;

export const openapiPlugin = (extraPaths: ExtraPaths = {}) =>
  new Elysia({ name: "nimbus-openapi" })
    .use(
      openapi({
        path: "/docs",
        specPath: "/openapi.json",
        provider: "swagger-ui",
        exclude: { paths: [/^\/docs/] },
        swagger: { cdn: "/docs/assets/swagger-ui-bundle.js", theme: "/docs/assets/swagger-ui.css", autoDarkMode: false },
        documentation: {
          info: {
            title: "Nimbus API",
            version: VERSION,
            description:
              "Self-hosted sandboxes: create isolated worlds (root filesystem, process, deny-by-default network), lease sessions to them, stop them. Every non-2xx response carries `{error: {code, message, details}}`.",
          },
          tags: [
            { name: "tenants", description: "Tenants and their tokens (admin token only)" },
            { name: "sandboxes", description: "Isolated worlds addressed by id" },
            { name: "sessions", description: "Leases to ready targets, with attach over WebSocket" },
            { name: "images", description: "Stored image material and garbage collection (admin token only)" },
            { name: "system", description: "Health and capabilities" },
          ],
          components: {
            securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "admin token or a tenant token" } },
          },
          security: [{ bearer: [] }],
          paths: extraPaths as never,
        },
      }),
    )
    .get(
      "/docs/assets/:name",
      ({ params, status }) => {
        const asset = ASSETS[params.name];
        if (!asset) return status(404, { error: { code: "not_found", message: `no asset ${params.name}` } });
        return new Response(Bun.file(asset.file), { headers: { "content-type": asset.type, "cache-control": "public, max-age=86400" } });
      },
      { detail: { hide: true } },
    );
