import { Elysia } from "elysia";
import type { Logger } from "./logging";
import { ApiError, errorBody } from "./errors";
import type { Authenticator, Principal } from "./auth";
import { openapiPlugin, type ExtraPaths } from "./openapi";

/** JSON bodies above this are refused with 413 before they are parsed. */
export const MAX_JSON_BODY = 1024 * 1024;
/** Sandbox creation may carry a build context inline (base64 tar). */
export const MAX_CREATE_BODY = 64 * 1024 * 1024;
const CREATE_SANDBOX = /^\/api\/tenants\/[^/]+\/sandboxes\/?$/;

interface RequestMeta {
  id: string;
  start: number;
  path: string;
  principal?: Principal;
}

/** Path and query of a request URL without a URL object (this runs on every request). */
const splitUrl = (url: string): { path: string; query: string } => {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const q = url.indexOf("?", start);
  return q < 0 ? { path: url.slice(start), query: "" } : { path: url.slice(start, q), query: url.slice(q + 1) };
};

const meta = new WeakMap<Request, RequestMeta>();

/** Who made this request; only defined on /api routes, which all require a token. */
export const principalOf = (request: Request): Principal => {
  const p = meta.get(request)?.principal;
  if (!p) throw new ApiError(401, "unauthorized", "missing Authorization: Bearer <token> header");
  return p;
};

export const requestIdOf = (request: Request): string => meta.get(request)?.id ?? "-";

// Elysia's validator reports paths like "/spec/process/argv"; clients get the same pointer.
// Its summaries quote the offending value ("… but found: 42"): inputs may be secrets, so not that part.
const validationDetails = (error: unknown): { path: string; message: string; errors: { path: string; message: string }[] } => {
  const all = ((error as { all?: { path?: string; message?: string; summary?: string }[] }).all ?? []).map((e) => ({
    path: e.path || "/",
    message: (e.summary ?? e.message ?? "is invalid").replace(/ but found: [\s\S]*$/, ""),
  }));
  const first = all[0] ?? { path: "/", message: "request does not match the schema" };
  return { ...first, errors: all.slice(0, 20) };
};

export interface AppDeps {
  logger: Logger;
  auth: Authenticator;
  docs?: ExtraPaths;
}

/** The HTTP shell every controller mounts into: ids, auth, size limits, errors, request logs. */
export const createApp = ({ logger, auth, docs }: AppDeps) =>
  new Elysia({ normalize: false, serve: { maxRequestBodySize: MAX_CREATE_BODY + 1024 } })
    .onRequest(({ request, set }) => {
      const { path, query } = splitUrl(request.url);
      const m: RequestMeta = { id: crypto.randomUUID(), start: performance.now(), path };
      meta.set(request, m);
      set.headers["x-request-id"] = m.id;
      // Browsers cannot set headers on a WebSocket: an attach may carry a one-time ticket instead.
      const ticketed = path.endsWith("/attach") && new URLSearchParams(query).has("ticket");
      if ((path.startsWith("/api/") || path === "/api") && !ticketed) {
        m.principal = auth.authenticate(request.headers.get("authorization"));
      }
      const length = Number(request.headers.get("content-length") ?? 0);
      const limit = request.method === "POST" && CREATE_SANDBOX.test(path) ? MAX_CREATE_BODY : MAX_JSON_BODY;
      if (length > limit) {
        throw new ApiError(413, "payload_too_large", `request body of ${length} bytes exceeds the ${limit} byte limit`, { limit });
      }
    })
    .onError(({ code, error, request, set }) => {
      set.headers["content-type"] = "application/json";
      set.headers["x-request-id"] = requestIdOf(request);
      if (error instanceof ApiError) {
        set.status = error.status;
        if (error.status === 401) set.headers["www-authenticate"] = 'Bearer realm="nimbus"';
        return errorBody(error.code, error.message, error.details);
      }
      switch (code) {
        case "VALIDATION": {
          const d = validationDetails(error);
          set.status = 422;
          return errorBody("validation_failed", `${d.path}: ${d.message}`, d);
        }
        case "PARSE":
          set.status = 400;
          return errorBody("malformed_body", "the request body is not valid JSON");
        case "NOT_FOUND":
          set.status = 404;
          return errorBody("route_not_found", `no route for ${request.method} ${new URL(request.url).pathname}`);
      }
      const status = (error as { status?: number }).status;
      if (typeof status === "number" && status >= 400 && status < 500) {
        set.status = status;
        return errorBody("bad_request", (error as Error).message || "bad request");
      }
      const requestId = requestIdOf(request);
      logger.error({ requestId, err: error }, "unhandled error");
      set.status = 500;
      return errorBody("internal", "internal error; report the request id", { requestId });
    })
    .onAfterResponse(({ request, set }) => {
      const m = meta.get(request);
      if (!logger.isLevelEnabled("info")) return;
      logger.info(
        {
          requestId: m?.id,
          method: request.method,
          path: m?.path ?? splitUrl(request.url).path,
          status: typeof set.status === "number" ? set.status : 200,
          durationMs: m ? Math.round((performance.now() - m.start) * 100) / 100 : undefined,
        },
        "request",
      );
    })
    .use(openapiPlugin(docs));
