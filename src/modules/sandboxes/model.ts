import { Type, type Static } from "@sinclair/typebox";
import { OneOf, Page, PageQuery, QueryBool, QueryInt, TenantParams, Timestamp } from "../shared";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()]);

export const LIFECYCLE_STATES = ["pending", "preparing", "starting", "ready", "stopping", "stopped", "failed"] as const;
export type LifecycleState = (typeof LIFECYCLE_STATES)[number];
export const LifecycleState = OneOf(LIFECYCLE_STATES);

export const Profile = Type.Union([Type.Literal("worker"), Type.Literal("desktop")], { description: "worker: a process; desktop: a process with a virtual display" });
export const BackendName = Type.Union([Type.Literal("container"), Type.Literal("krun")]);

export const Owner = Type.Union([
  Type.Object({ kind: Type.Literal("standalone"), displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }, { additionalProperties: false }),
  Type.Object(
    { kind: Type.Literal("service"), serviceName: Type.String({ minLength: 1, maxLength: 63 }) },
    { additionalProperties: false, description: "set by services only; refused on direct creation" },
  ),
]);

const ReferenceSource = Type.Object(
  { kind: Type.Literal("reference"), reference: Type.String({ minLength: 1, maxLength: 512, examples: ["docker.io/library/python:3.12-slim"] }) },
  { additionalProperties: false },
);
const BuildSource = Type.Object(
  {
    kind: Type.Literal("build"),
    dockerfile: Type.String({ minLength: 1, maxLength: 256 * 1024, description: "Dockerfile text" }),
    context: Type.Optional(Type.String({ contentEncoding: "base64", description: "build context as a base64 tar archive" })),
    contextDir: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: "host directory inside the server's --build-context-allow list" })),
    buildArgs: Type.Optional(Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 8192 }))),
  },
  { additionalProperties: false },
);

export const Root = Type.Union([
  Type.Object({ kind: Type.Literal("oci_image"), source: Type.Union([ReferenceSource, BuildSource]) }, { additionalProperties: false }),
  Type.Object(
    { kind: Type.Literal("rootfs"), path: Type.String({ minLength: 1, maxLength: 4096, description: "prepared root filesystem: a host directory inside the server's --rootfs-allow list" }) },
    { additionalProperties: false },
  ),
]);

export const ProcessInput = Type.Object(
  {
    argv: Type.Optional(Type.Array(Type.String({ maxLength: 128 * 1024 }), { minItems: 1, maxItems: 4096, description: "defaults to the image's ENTRYPOINT + CMD" })),
    environment: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 128 * 1024 }), { description: "name → value; names must not contain '='" })),
    workingDir: Type.Optional(Type.String({ pattern: "^/", maxLength: 4096 })),
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "name, uid, uid:gid or name:group inside the image" })),
  },
  { additionalProperties: false },
);

export const Resources = Type.Object(
  {
    cpu: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: "cores, fractional allowed" })),
    memoryMiB: Type.Optional(Type.Integer({ minimum: 16 })),
    pids: Type.Optional(Type.Integer({ minimum: 8 })),
  },
  { additionalProperties: false },
);

export const PortInput = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    name: Type.Optional(Type.String({ pattern: "^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$" })),
    protocol: Type.Optional(Type.Union([Type.Literal("http"), Type.Literal("tcp")])),
  },
  { additionalProperties: false },
);

export const SandboxSpecInput = Type.Object(
  {
    owner: Owner,
    backend: Type.Optional(BackendName),
    root: Root,
    process: Type.Optional(ProcessInput),
    resources: Type.Optional(Resources),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 24 * 3600 * 1000, description: "stop the sandbox automatically this long after it became ready" })),
    ports: Type.Optional(Type.Array(PortInput, { maxItems: 16 })),
  },
  { additionalProperties: false },
);

export const LabelMap = Type.Record(Type.String(), Type.String(), { description: "Kubernetes label syntax; at most 64" });

export const CreateSandbox = Type.Object(
  { profile: Type.Optional(Profile), spec: SandboxSpecInput, labels: Type.Optional(LabelMap) },
  { additionalProperties: false, $id: "CreateSandbox" },
);
export type CreateSandbox = Static<typeof CreateSandbox>;
export type SandboxSpecInput = Static<typeof SandboxSpecInput>;

export const Redacted = Type.Object({ redacted: Type.Literal(true), valueCount: Type.Integer() }, { description: "launch inputs are never readable back" });
export type Redacted = Static<typeof Redacted>;

const RootView = Type.Union([
  Type.Object({ kind: Type.Literal("oci_image"), source: Type.Union([ReferenceSource, Type.Object({ kind: Type.Literal("build"), dockerfileDigest: Type.String(), contextDigest: Nullable(Type.String()) })]) }),
  Type.Object({ kind: Type.Literal("rootfs"), path: Type.String() }),
]);

export const SandboxSpec = Type.Object({
  profile: Profile,
  owner: Owner,
  backend: BackendName,
  root: RootView,
  process: Type.Object({ argv: Redacted, environment: Redacted, workingDir: Nullable(Type.String()), user: Nullable(Type.String()) }),
  resources: Type.Object({ cpu: Type.Number(), memoryMiB: Type.Integer(), pids: Type.Integer() }),
  timeoutMs: Nullable(Type.Integer()),
  ports: Type.Array(Type.Object({ port: Type.Integer(), name: Type.String(), protocol: Type.Union([Type.Literal("http"), Type.Literal("tcp")]) })),
});
export type SandboxSpec = Static<typeof SandboxSpec>;

export const Endpoint = Type.Object({ name: Type.String(), port: Type.Integer(), protocol: Type.String(), url: Type.String() });
export type Endpoint = Static<typeof Endpoint>;

export const ExitStatus = Type.Object({ code: Nullable(Type.Integer()), signal: Nullable(Type.String()), oomKilled: Type.Boolean() });

export const SandboxStatus = Type.Object({
  lifecycleState: LifecycleState,
  reason: Nullable(Type.String({ description: "machine-readable cause of the current state" })),
  message: Nullable(Type.String()),
  exit: Nullable(ExitStatus),
  endpoints: Type.Array(Endpoint),
  image: Nullable(Type.Object({ reference: Type.String(), digest: Type.String() })),
  runAs: Type.Optional(
    Type.Object(
      { uid: Type.Integer(), gid: Type.Integer(), workingDir: Type.String() },
      { description: "the identity and directory the main process got (image defaults resolved); execs default to it" },
    ),
  ),
  progress: Type.Optional(
    Type.Object(
      { layers: Type.Integer(), bytesDone: Type.Integer(), bytesTotal: Type.Integer() },
      { description: "image download progress while preparing" },
    ),
  ),
  transitions: Type.Record(Type.String(), Timestamp, { description: "when each lifecycle state was entered" }),
});
export type SandboxStatus = Static<typeof SandboxStatus>;

export const Sandbox = Type.Object(
  {
    metadata: Type.Object({ id: Type.String(), tenantId: Type.String(), labels: Type.Record(Type.String(), Type.String()), createdAt: Timestamp, updatedAt: Timestamp }),
    spec: SandboxSpec,
    status: SandboxStatus,
  },
  { $id: "Sandbox" },
);
export type Sandbox = Static<typeof Sandbox>;

export const SandboxList = Page(Sandbox, "SandboxList");

export const ListQuery = Type.Object(
  {
    labelKey: Type.Optional(Type.String({ minLength: 1, maxLength: 317 })),
    labelValue: Type.Optional(Type.String({ maxLength: 63 })),
    lifecycleState: Type.Optional(LifecycleState),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const SandboxParams = Type.Object({ tenant: Type.String(), id: Type.String() });
export { TenantParams };

export const StopBody = Type.Object(
  { graceMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 300_000, description: "time between SIGTERM and SIGKILL (default 10000)" })) },
  { additionalProperties: false },
);

export const LogsQuery = Type.Object(
  {
    stream: Type.Optional(Type.Union([Type.Literal("stdout"), Type.Literal("stderr")])),
    follow: Type.Optional(QueryBool({ description: "keep streaming until the sandbox stops" })),
    tail: Type.Optional(QueryInt({ minimum: 0, maximum: 100_000, description: "start with the last N lines" })),
  },
  { additionalProperties: false },
);

/** What a sandbox was launched with; stored only until its process has started. */
export interface LaunchInputs {
  argv?: string[];
  environment?: Record<string, string>;
  build?: { dockerfile: string; context?: string; contextDir?: string; buildArgs?: Record<string, string> };
}
