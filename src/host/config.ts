import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { userDataDir } from "./token";

/** Everything `nimbus start` can be told, after flags, NIMBUS_* env vars and defaults are merged. */
export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
  /** registry host → base URL serving it, e.g. docker.io → http://127.0.0.1:5000 */
  registryMirrors: Record<string, string>;
  /** registries reached over plain HTTP */
  insecureRegistries: string[];
  /** host directories a prepared root filesystem may come from */
  rootfsAllow: string[];
  /** host directories a build context may be read from */
  buildContextAllow: string[];
}

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

/** The data dir `nimbus start` uses when none is given: beside the admin token. */
export const defaultDataDir = (env: NodeJS.ProcessEnv = process.env): string => join(userDataDir(env), "data");

/** `nimbus start --config FILE` (or NIMBUS_CONFIG): the same settings as the flags, as JSON. */
export const ConfigFile = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    dataDir: Type.Optional(Type.String({ minLength: 1 })),
    logLevel: Type.Optional(Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)))),
    registryMirrors: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: "^https?://[^/\\s]+" }))),
    insecureRegistries: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    rootfsAllow: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    buildContextAllow: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);
export type ConfigFile = Static<typeof ConfigFile>;

export class ConfigFileError extends Error {}

export const readConfigFile = (file: string): ConfigFile => {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigFileError(`config ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  const first = Value.Errors(ConfigFile, raw).First();
  if (first) throw new ConfigFileError(`config ${file}: ${first.path || "/"} ${first.message}`);
  return raw as ConfigFile;
};
