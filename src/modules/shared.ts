import { Type, type TLiteral, type TSchema, type TUnion } from "@sinclair/typebox";
import { t } from "elysia";

// Schema pieces every module's model shares.

export const TENANT_ID_PATTERN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";

export const TenantId = Type.String({
  pattern: TENANT_ID_PATTERN,
  minLength: 1,
  maxLength: 63,
  description: "DNS-label-like tenant id",
  examples: ["demo"],
});

export const Timestamp = Type.String({ format: "date-time", description: "ISO 8601 timestamp" });

export const TenantParams = Type.Object({ tenant: Type.String() });

/** A page of a list: opaque cursor to fetch the next page, absent on the last one. */
export const Page = <T extends TSchema>(item: T, name: string) =>
  Type.Object({ items: Type.Array(item), nextPageToken: Type.Optional(Type.String()) }, { $id: name });

// Query strings arrive as text: Elysia's Numeric/BooleanString decode them before validation.
export const QueryInt = (options: { minimum?: number; maximum?: number; description?: string }) => t.Numeric({ ...options, multipleOf: 1 });
export const QueryBool = (options: { description?: string } = {}) => t.BooleanString(options);

export const PageQuery = {
  limit: Type.Optional(QueryInt({ minimum: 1, maximum: 500, description: "page size (default 50)" })),
  pageToken: Type.Optional(Type.String({ maxLength: 200 })),
};

export const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());

/** Cursor over an insertion-ordered sequence column; opaque to clients. */
export const cursor = {
  encode: (seq: number): string => Buffer.from(`s:${seq}`).toString("base64url"),
  decode: (token: string | undefined): number | undefined => {
    if (token === undefined) return undefined;
    const m = /^s:(\d{1,15})$/.exec(Buffer.from(token, "base64url").toString());
    return m ? Number(m[1]) : Number.NaN;
  },
};

/** A union of string literals from a const list, keeping the literal types. */
export const OneOf = <const T extends readonly string[]>(values: T, options: { description?: string } = {}) =>
  Type.Union(
    values.map((v) => Type.Literal(v)) as unknown as { -readonly [K in keyof T]: TLiteral<T[K]> },
    options,
  ) as unknown as TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }>;
