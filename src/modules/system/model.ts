import { Type, type Static } from "@sinclair/typebox";

const Availability = {
  available: Type.Boolean(),
  reason: Type.Optional(Type.String({ description: "why it is unavailable, or a limit on what it does" })),
};

export const Capabilities = Type.Object(
  {
    version: Type.String(),
    platform: Type.Object({ os: Type.String(), arch: Type.String() }),
    backends: Type.Array(
      Type.Object({
        name: Type.Union([Type.Literal("container"), Type.Literal("krun")]),
        ...Availability,
        processExecution: Type.Boolean({ description: "whether sandboxes on this backend may run processes" }),
      }),
    ),
    profiles: Type.Array(Type.Object({ name: Type.String(), ...Availability })),
    channels: Type.Array(Type.String()),
    limits: Type.Object({
      maxCpu: Type.Number(),
      maxMemoryMiB: Type.Integer(),
      maxPids: Type.Integer(),
      defaultCpu: Type.Number(),
      defaultMemoryMiB: Type.Integer(),
      defaultPids: Type.Integer(),
      maxSessionTtlMs: Type.Integer(),
      minSessionTtlMs: Type.Integer(),
      maxLabels: Type.Integer(),
    }),
  },
  { $id: "Capabilities" },
);
export type Capabilities = Static<typeof Capabilities>;
