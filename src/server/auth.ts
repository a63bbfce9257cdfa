import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { and, eq, isNull, sql } from "drizzle-orm";
import type { Store } from "../store/db";
import { tenantTokens } from "../store/schema";
import { ApiError, notFound } from "./errors";

export type Principal = { kind: "admin" } | { kind: "tenant"; tenantId: string; tokenId: string };

export const hashToken = (token: string): string => createHash("sha256").update(token).digest("hex");

export const mintTenantToken = (): string => `nmb_${randomBytes(32).toString("base64url")}`;

const unauthorized = (message: string) => new ApiError(401, "unauthorized", message);

/** Resolves the bearer token of a request to who is calling. */
export class Authenticator {
  readonly #adminDigest: Buffer;
  readonly #byHash;

  constructor(adminToken: string, store: Store) {
    this.#adminDigest = createHash("sha256").update(adminToken).digest();
    this.#byHash = store
      .select({ id: tenantTokens.id, tenantId: tenantTokens.tenantId })
      .from(tenantTokens)
      .where(and(eq(tenantTokens.hash, sql.placeholder("hash")), isNull(tenantTokens.revokedAt)))
      .prepare();
  }

  authenticate(authorization: string | null | undefined): Principal {
    if (!authorization) throw unauthorized("missing Authorization: Bearer <token> header");
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match) throw unauthorized("Authorization header must be 'Bearer <token>'");
    const token = match[1] as string;
    // Compare digests so both sides have the same length and the comparison is constant-time.
    if (timingSafeEqual(createHash("sha256").update(token).digest(), this.#adminDigest)) return { kind: "admin" };
    const row = this.#byHash.get({ hash: hashToken(token) });
    if (!row) throw unauthorized("the token is not valid");
    return { kind: "tenant", tenantId: row.tenantId, tokenId: row.id };
  }
}

export const requireAdmin = (p: Principal): void => {
  if (p.kind !== "admin") throw new ApiError(403, "forbidden", "this operation needs the admin token");
};

/** A tenant token sees only its own tenant; anything else looks like it does not exist. */
export const requireTenantAccess = (p: Principal, tenantId: string): void => {
  if (p.kind === "tenant" && p.tenantId !== tenantId) throw notFound("tenant", tenantId);
};
