import { Elysia, t } from "elysia";
import type { Backend } from "../../runtime/types";
import { ErrorBody } from "../../server/errors";
import { tenantScope } from "../tenants/scope";
import type { TenantService } from "../tenants/service";
import { asEventStream, logStream } from "./logs";
import { CreateSandbox, ListQuery, LogsQuery, Sandbox, SandboxList, SandboxParams, StopBody, TenantParams } from "./model";
import type { SandboxService } from "./service";

const BASE = "/api/tenants/:tenant/sandboxes";

export const sandboxesController = (tenants: TenantService, sandboxes: SandboxService, backends: Record<string, Backend>) =>
  new Elysia({ name: "sandboxes", detail: { tags: ["sandboxes"] } })
    .use(tenantScope(tenants))
    .post(
      BASE,
      ({ tenantId, body, set }) => {
        set.status = 201;
        return sandboxes.create(tenantId, body);
      },
      {
        params: TenantParams,
        body: CreateSandbox,
        response: { 201: Sandbox, 403: ErrorBody, 404: ErrorBody, 422: ErrorBody },
        detail: {
          summary: "Create a sandbox",
          description: "Returns at once in `pending`; the server drives it to `ready` (or `failed` with a reason). `spec.process.argv` and `spec.process.environment` are never readable back.",
        },
      },
    )
    .get(BASE, ({ tenantId, query }) => sandboxes.list(tenantId, query), {
      params: TenantParams,
      query: ListQuery,
      response: { 200: SandboxList },
      detail: { summary: "List sandboxes, filtered by label and state, in creation order" },
    })
    .get(`${BASE}/:id`, ({ tenantId, params }) => sandboxes.get(tenantId, params.id), {
      params: SandboxParams,
      response: { 200: Sandbox, 404: ErrorBody },
      detail: { summary: "Get a sandbox" },
    })
    .post(`${BASE}/:id/stop`, ({ tenantId, params, body }) => sandboxes.stop(tenantId, params.id, body ?? {}), {
      params: SandboxParams,
      body: t.Optional(StopBody),
      response: { 200: Sandbox, 404: ErrorBody },
      detail: { summary: "Stop a sandbox (idempotent): SIGTERM, grace, SIGKILL; returns once stopped" },
    })
    .delete(
      `${BASE}/:id`,
      async ({ tenantId, params, set }) => {
        await sandboxes.delete(tenantId, params.id);
        set.status = 204;
      },
      { params: SandboxParams, detail: { summary: "Delete a stopped sandbox's record and storage" } },
    )
    .get(
      `${BASE}/:id/logs`,
      async ({ tenantId, params, query, request }) => {
        const row = sandboxes.record(tenantId, params.id);
        const paths = (backends[row.backend] as Backend).logPaths(params.id);
        const stream = query.stream ?? "stdout";
        const body = await logStream(stream === "stderr" ? paths.stderr : paths.stdout, {
          tail: query.tail,
          follow: query.follow ?? false,
          finished: () => {
            const state = sandboxes.record(tenantId, params.id).lifecycleState;
            return state === "stopped" || state === "failed";
          },
        });
        if (request.headers.get("accept")?.includes("text/event-stream")) {
          return new Response(asEventStream(body, stream), { headers: { "content-type": "text/event-stream", "cache-control": "no-store" } });
        }
        return new Response(body, { headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" } });
      },
      {
        params: SandboxParams,
        query: LogsQuery,
        detail: {
          summary: "The main process's output (stdout by default); follow=true streams until it stops",
          description: "Plain text by default; with `Accept: text/event-stream`, Server-Sent Events: `output` events carrying `{stream, text}` and a final `end`.",
        },
      },
    );
