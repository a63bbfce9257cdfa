import { resolve } from "node:path";
import { ConfigFileError, defaultDataDir, LOG_LEVELS, readConfigFile, type ConfigFile, type ServerConfig } from "../host/config";
import { list, parse, toMirrors, toPort, UsageError } from "./args";

export const START_HELP = `Usage: nimbus start [options]

Start the Nimbus server.

Options:
  --port <n>                   port to listen on (env NIMBUS_PORT, default 8080)
  --host <addr>                address to bind (env NIMBUS_HOST, default 127.0.0.1)
  --data-dir <dir>             state, images and sandboxes (env NIMBUS_DATA_DIR,
                               default ${defaultDataDir()})
  --log-level <level>          ${LOG_LEVELS.join("|")} (env NIMBUS_LOG_LEVEL, default info)
  --registry-mirror <r=url>    serve registry r from url, repeatable
                               (env NIMBUS_REGISTRY_MIRRORS, comma-separated)
  --insecure-registry <host>   reach this registry over plain HTTP, repeatable
                               (env NIMBUS_INSECURE_REGISTRIES)
  --rootfs-allow <dir>         allow prepared root filesystems under dir, repeatable
                               (env NIMBUS_ROOTFS_ALLOW)
  --build-context-allow <dir>  allow build contexts read from dir, repeatable
                               (env NIMBUS_BUILD_CONTEXT_ALLOW)
  --config <file>              JSON with the same settings (host, port, dataDir, logLevel,
                               registryMirrors, insecureRegistries, rootfsAllow,
                               buildContextAllow); flags and env win over it (env NIMBUS_CONFIG)
  -h, --help                   show this help

The admin token is written on first boot to $XDG_DATA_HOME/nimbus/auth/token
(default ~/.local/share/nimbus/auth/token).
`;

export const parseStart = (argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig | "help" => {
  const { values } = parse(argv, {
    port: { type: "string" },
    host: { type: "string" },
    "data-dir": { type: "string" },
    "log-level": { type: "string" },
    "registry-mirror": { type: "string", multiple: true },
    "insecure-registry": { type: "string", multiple: true },
    "rootfs-allow": { type: "string", multiple: true },
    "build-context-allow": { type: "string", multiple: true },
    config: { type: "string" },
  });
  if (values.help) return "help";
  const configPath = values.config ?? env.NIMBUS_CONFIG;
  let file: ConfigFile = {};
  try {
    if (configPath) file = readConfigFile(configPath);
  } catch (e) {
    if (e instanceof ConfigFileError) throw new UsageError(e.message);
    throw e;
  }
  const logLevel = values["log-level"] ?? env.NIMBUS_LOG_LEVEL ?? file.logLevel ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`--log-level: ${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(", ")}`);
  const host = values.host ?? env.NIMBUS_HOST ?? file.host ?? "127.0.0.1";
  if (!host || /\s/.test(host)) throw new UsageError(`--host: ${JSON.stringify(host)} is not an address`);
  const dataDir = values["data-dir"] ?? env.NIMBUS_DATA_DIR ?? file.dataDir ?? defaultDataDir(env);
  if (!dataDir) throw new UsageError("--data-dir: must not be empty");
  return {
    host,
    port: values.port !== undefined ? toPort(values.port, "--port") : env.NIMBUS_PORT ? toPort(env.NIMBUS_PORT, "NIMBUS_PORT") : (file.port ?? 8080),
    dataDir: resolve(dataDir),
    logLevel: logLevel as ServerConfig["logLevel"],
    // maps and lists add up: config file, then env, then flags (later wins per key)
    registryMirrors: {
      ...Object.fromEntries(Object.entries(file.registryMirrors ?? {}).map(([k, v]) => [k, v.replace(/\/+$/, "")])),
      ...toMirrors(list(env.NIMBUS_REGISTRY_MIRRORS), "NIMBUS_REGISTRY_MIRRORS"),
      ...toMirrors(values["registry-mirror"] ?? [], "--registry-mirror"),
    },
    insecureRegistries: [...(file.insecureRegistries ?? []), ...list(env.NIMBUS_INSECURE_REGISTRIES), ...(values["insecure-registry"] ?? [])],
    rootfsAllow: [...(file.rootfsAllow ?? []), ...list(env.NIMBUS_ROOTFS_ALLOW), ...(values["rootfs-allow"] ?? [])].map((d) => resolve(d)),
    buildContextAllow: [...(file.buildContextAllow ?? []), ...list(env.NIMBUS_BUILD_CONTEXT_ALLOW), ...(values["build-context-allow"] ?? [])].map((d) => resolve(d)),
  };
};
