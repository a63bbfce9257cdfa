import { Elysia, t } from "elysia";
import { ErrorBody } from "../../server/errors";
import { PageQuery } from "../shared";
import { adminOnly } from "./scope";
import { CreateTenant, CreateToken, IssuedToken, Tenant, TenantList, TokenInfo, TokenList } from "./model";
import type { TenantService } from "./service";

const IdParams = t.Object({ tenant: t.String() });

/** Admin-only management of tenants and their tokens. */
export const tenantsController = (tenants: TenantService) =>
  new Elysia({ name: "tenants", detail: { tags: ["tenants"] } })
    .use(adminOnly())
    .post(
      "/api/tenants",
      ({ body, set }) => {
        set.status = 201;
        return tenants.create(body);
      },
      { body: CreateTenant, response: { 201: Tenant, 409: ErrorBody }, detail: { summary: "Create a tenant" } },
    )
    .get(
      "/api/tenants",
      ({ query }) => {
        const after = query.pageToken ? Buffer.from(query.pageToken, "base64url").toString() : undefined;
        return tenants.list(query.limit ?? 50, after);
      },
      {
        query: t.Object(PageQuery),
        response: { 200: TenantList },
        detail: { summary: "List tenants" },
      },
    )
    .get("/api/tenants/:tenant", ({ params }) => tenants.get(params.tenant), {
      params: IdParams,
      response: { 200: Tenant, 404: ErrorBody },
      detail: { summary: "Get a tenant" },
    })
    .delete(
      "/api/tenants/:tenant",
      ({ params, set }) => {
        tenants.delete(params.tenant);
        set.status = 204;
      },
      { params: IdParams, detail: { summary: "Delete a tenant (must hold no sandboxes)" } },
    )
    .post(
      "/api/tenants/:tenant/tokens",
      ({ params, body, set }) => {
        set.status = 201;
        return tenants.issueToken(params.tenant, body?.name);
      },
      { params: IdParams, body: t.Optional(CreateToken), response: { 201: IssuedToken }, detail: { summary: "Mint a tenant token (returned once)" } },
    )
    .get("/api/tenants/:tenant/tokens", ({ params }) => ({ items: tenants.listTokens(params.tenant) }), {
      params: IdParams,
      response: { 200: TokenList },
      detail: { summary: "List a tenant's tokens (no secrets)" },
    })
    .delete("/api/tenants/:tenant/tokens/:tokenId", ({ params }) => tenants.revokeToken(params.tenant, params.tokenId), {
      params: t.Object({ tenant: t.String(), tokenId: t.String() }),
      response: { 200: TokenInfo },
      detail: { summary: "Revoke a tenant token" },
    });
