import { Elysia } from "elysia";
import { principalOf } from "../../server/app";
import { requireAdmin, requireTenantAccess } from "../../server/auth";
import { notFound } from "../../server/errors";
import type { TenantService } from "./service";

/**
 * For routes under /api/tenants/:tenant/…: the caller must hold the admin token or that
 * tenant's token, and the tenant must exist. Both failures look the same (404) to a tenant token.
 */
export const tenantScope = (tenants: TenantService) =>
  new Elysia({ name: "tenant-scope" }).resolve({ as: "scoped" }, ({ request, params }) => {
    const tenantId = (params as Record<string, string | undefined>).tenant;
    const principal = principalOf(request);
    if (tenantId === undefined) return { principal, tenantId: "" };
    requireTenantAccess(principal, tenantId);
    if (!tenants.exists(tenantId)) throw notFound("tenant", tenantId);
    return { principal, tenantId };
  });

/** For server-wide routes (tenants, images): the admin token only. */
export const adminOnly = () =>
  new Elysia().resolve({ as: "scoped" }, ({ request }) => {
    const principal = principalOf(request);
    requireAdmin(principal);
    return { principal };
  });
