import { join } from "node:path";
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
