import { Type, type Static } from "@sinclair/typebox";
import { OneOf, Page, PageQuery, Timestamp } from "../shared";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()]);

export const CHANNELS = ["stdio", "exec", "pty"] as const;
export type Channel = (typeof CHANNELS)[number];
export const Channel = OneOf(CHANNELS, {
  description: "stdio: the main process's stdin/stdout/stderr; exec: run commands; pty: a terminal",
});

export const Target = Type.Union([
  Type.Object({ sandbox: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }) }, { additionalProperties: false }),
  Type.Object({ service: Type.Object({ name: Type.String({ minLength: 1, maxLength: 63 }) }, { additionalProperties: false }) }, { additionalProperties: false }),
]);
export type Target = Static<typeof Target>;

export const OpenSession = Type.Object(
  {
    target: Target,
    channels: Type.Array(Channel, { minItems: 1, maxItems: 3, uniqueItems: true }),
    requestedTtlMs: Type.Optional(Type.Integer({ minimum: 1, description: "clamped to the server's bounds; the grant says what was given" })),
  },
  { additionalProperties: false, $id: "OpenSession" },
);
export type OpenSession = Static<typeof OpenSession>;

export const TargetSnapshot = Type.Object({
  kind: Type.Union([Type.Literal("sandbox"), Type.Literal("service")]),
  id: Type.String({ description: "the sandbox attached to (for a service: its resolved backend sandbox)" }),
  serviceName: Type.Optional(Type.String()),
  lifecycleState: Type.String(),
  backend: Type.String(),
  profile: Type.String(),
  image: Nullable(Type.Object({ reference: Type.String(), digest: Type.String() })),
  owner: Type.Unknown(),
  observedAt: Timestamp,
});
export type TargetSnapshot = Static<typeof TargetSnapshot>;

export const SESSION_STATES = ["open", "closed", "expired"] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export const Session = Type.Object(
  {
    metadata: Type.Object({ id: Type.String(), tenantId: Type.String(), createdAt: Timestamp }),
    spec: Type.Object({
      target: Target,
      channels: Type.Array(Channel),
      requestedTtlMs: Type.Integer(),
      grantedTtlMs: Type.Integer(),
      expiresAt: Timestamp,
      targetSnapshot: TargetSnapshot,
    }),
    status: Type.Object({
      state: OneOf(SESSION_STATES),
      closedAt: Nullable(Timestamp),
      closeReason: Nullable(Type.String()),
    }),
  },
  { $id: "Session" },
);
export type Session = Static<typeof Session>;

export const SessionList = Page(Session, "SessionList");

export const SessionListQuery = Type.Object(
  {
    sandboxId: Type.Optional(Type.String({ maxLength: 64 })),
    serviceName: Type.Optional(Type.String({ maxLength: 63 })),
    state: Type.Optional(OneOf(SESSION_STATES)),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const SessionParams = Type.Object({ tenant: Type.String(), id: Type.String() });

export const CloseSession = Type.Object({ reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }, { additionalProperties: false });
export const RenewSession = Type.Object({ requestedTtlMs: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false });

export const AttachTicket = Type.Object({ ticket: Type.String(), expiresAt: Timestamp }, { $id: "AttachTicket" });

/** Attach frames: binary, first byte is the channel. */
export const FRAME = { stdin: 0, stdout: 1, stderr: 2, control: 3, resize: 4 } as const;

/** WebSocket close codes an attach ends with. */
export const CLOSE = { normal: 1000, expired: 4001, closed: 4002, targetStopped: 4003, refused: 4004 } as const;
