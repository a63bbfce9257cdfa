import { Type, type Static } from "@sinclair/typebox";
import { Page, TenantId, Timestamp } from "../shared";

export const CreateTenant = Type.Object(
  {
    id: TenantId,
    displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false, $id: "CreateTenant" },
);
export type CreateTenant = Static<typeof CreateTenant>;

export const Tenant = Type.Object(
  {
    metadata: Type.Object({ id: Type.String(), createdAt: Timestamp }),
    spec: Type.Object({ displayName: Type.Union([Type.String(), Type.Null()]) }),
  },
  { $id: "Tenant" },
);
export type Tenant = Static<typeof Tenant>;

export const TenantList = Page(Tenant, "TenantList");

export const CreateToken = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
  { additionalProperties: false, $id: "CreateToken" },
);

export const TokenInfo = Type.Object(
  {
    metadata: Type.Object({
      id: Type.String(),
      tenantId: Type.String(),
      name: Type.Union([Type.String(), Type.Null()]),
      createdAt: Timestamp,
      revokedAt: Type.Union([Timestamp, Type.Null()]),
    }),
  },
  { $id: "TenantToken" },
);
export type TokenInfo = Static<typeof TokenInfo>;

export const IssuedToken = Type.Composite([TokenInfo, Type.Object({ token: Type.String({ description: "shown once; store it now" }) })], {
  $id: "IssuedTenantToken",
});

export const TokenList = Page(TokenInfo, "TenantTokenList");
