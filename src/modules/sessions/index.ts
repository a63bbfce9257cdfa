import { Elysia, t } from "elysia";
import { principalOf } from "../../server/app";
import { requireTenantAccess } from "../../server/auth";
import { ErrorBody } from "../../server/errors";
import { QueryInt } from "../shared";
import { tenantScope } from "../tenants/scope";
import type { TenantService } from "../tenants/service";
import type { AttachHub } from "./attach";
import { AttachTicket, CLOSE, CloseSession, OpenSession, RenewSession, Session, SessionList, SessionListQuery, SessionParams } from "./model";
import type { SessionService } from "./service";

const BASE = "/api/tenants/:tenant/sessions";

export const ATTACH_DESCRIPTION = `WebSocket. Authenticate with \`Authorization: Bearer\` or a one-time \`?ticket=\` from POST …/attach-ticket.
Choose the channel with \`?channel=stdio|exec|pty\` (default: the session's first channel); for stdio,
\`?tail=N\` first replays the last N lines the main process wrote to each stream.
Frames are binary; the first byte is the channel: 0 stdin, 1 stdout, 2 stderr, 3 control (JSON), 4 resize (JSON {cols, rows}).
For exec and pty, send control {"type":"start","argv":[...],"environment":{},"workingDir":"/","user":{"uid":0,"gid":0},"cols":80,"rows":24} first
(user and workingDir default to the main process's, see status.runAs);
the server answers {"type":"started"}, streams output, then {"type":"exit","exitCode":n} and closes with 1000.
Control {"type":"eof"} closes the process's stdin. When the lease ends the socket closes with 4001 (expired), 4002 (closed) or 4003 (target stopped).`;

/** OpenAPI for the attach upgrade, which Elysia's generator cannot express. */
export const attachDocs = {
  [`${BASE.replace(":tenant", "{tenant}")}/{id}/attach`]: {
    get: {
      tags: ["sessions"],
      summary: "Attach to a session (WebSocket)",
      description: ATTACH_DESCRIPTION,
      parameters: [
        { name: "tenant", in: "path", required: true, schema: { type: "string" } },
        { name: "id", in: "path", required: true, schema: { type: "string" } },
        { name: "channel", in: "query", required: false, schema: { type: "string", enum: ["stdio", "exec", "pty"] } },
        { name: "ticket", in: "query", required: false, schema: { type: "string" }, description: "one-time attach ticket instead of the Authorization header" },
        { name: "tail", in: "query", required: false, schema: { type: "integer", minimum: 0 }, description: "stdio: replay the last N lines of output first" },
      ],
      responses: { "101": { description: "Switching Protocols: the attach stream" }, "401": { description: "no valid token or ticket" }, "404": { description: "no such session" } },
    },
  },
};

export const sessionsController = (tenants: TenantService, sessions: SessionService, hub: AttachHub) =>
  new Elysia({ name: "sessions", detail: { tags: ["sessions"] } })
    // Attach first: it authenticates itself so a browser can use a ticket instead of a header.
    .ws(`${BASE}/:id/attach`, {
      params: SessionParams,
      query: t.Object({ channel: t.Optional(t.String()), ticket: t.Optional(t.String()), tail: t.Optional(QueryInt({ minimum: 0, maximum: 100_000 })) }),
      beforeHandle({ request, params }) {
        const ticket = new URL(request.url).searchParams.get("ticket");
        if (ticket) {
          // checked here, used up when the socket opens (Elysia may run this hook more than once)
          if (!sessions.checkTicket(ticket, params.tenant, params.id)) throw new Response(JSON.stringify({ error: { code: "unauthorized", message: "attach ticket is invalid, used or expired" } }), { status: 401, headers: { "content-type": "application/json", "www-authenticate": 'Bearer realm="nimbus"' } });
          return;
        }
        requireTenantAccess(principalOf(request), params.tenant);
        sessions.row(params.tenant, params.id);
      },
      open(ws) {
        const { ticket } = ws.data.query;
        if (ticket && !sessions.redeemTicket(ticket, ws.data.params.tenant, ws.data.params.id)) return ws.raw.close(CLOSE.refused, "attach ticket already used");
        hub.open(ws.raw, ws.data.params.tenant, ws.data.params.id, ws.data.query.channel, ws.data.query.tail ?? 0);
      },
      message(ws, message) {
        hub.message(ws.raw, message);
      },
      close(ws) {
        hub.close(ws.raw);
      },
      detail: { hide: true },
    })
    .use(tenantScope(tenants))
    .post(
      BASE,
      ({ tenantId, body, set }) => {
        set.status = 201;
        return sessions.open(tenantId, body);
      },
      {
        params: t.Object({ tenant: t.String() }),
        body: OpenSession,
        response: { 201: Session, 404: ErrorBody, 409: ErrorBody },
        detail: { summary: "Lease a session to a ready target" },
      },
    )
    .get(BASE, ({ tenantId, query }) => sessions.list(tenantId, query), {
      params: t.Object({ tenant: t.String() }),
      query: SessionListQuery,
      response: { 200: SessionList },
      detail: { summary: "List sessions, filtered by target and state" },
    })
    .get(`${BASE}/:id`, ({ tenantId, params }) => sessions.get(tenantId, params.id), {
      params: SessionParams,
      response: { 200: Session, 404: ErrorBody },
      detail: { summary: "Get a session" },
    })
    .post(`${BASE}/:id/close`, ({ tenantId, params, body }) => sessions.close(tenantId, params.id, body?.reason), {
      params: SessionParams,
      body: t.Optional(CloseSession),
      response: { 200: Session, 404: ErrorBody },
      detail: { summary: "Close a session (idempotent; the first reason is kept)" },
    })
    .post(`${BASE}/:id/renew`, ({ tenantId, params, body }) => sessions.renew(tenantId, params.id, body?.requestedTtlMs), {
      params: SessionParams,
      body: t.Optional(RenewSession),
      response: { 200: Session, 404: ErrorBody, 409: ErrorBody },
      detail: { summary: "Extend an open lease from now by the (clamped) requested TTL" },
    })
    .post(
      `${BASE}/:id/attach-ticket`,
      ({ tenantId, params, set }) => {
        set.status = 201;
        return sessions.issueTicket(tenantId, params.id);
      },
      { params: SessionParams, response: { 201: AttachTicket, 404: ErrorBody, 409: ErrorBody }, detail: { summary: "One-time attach credential for browsers (30 s)" } },
    );
