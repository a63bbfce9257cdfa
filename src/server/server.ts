import { chmodSync, mkdirSync } from "node:fs";
import type { ServerConfig } from "../host/config";
import { dataPaths } from "../host/paths";
import { adminTokenPath, loadOrCreateAdminToken } from "../host/token";
import { systemController } from "../modules/system";
import { tenantsController } from "../modules/tenants";
import { TenantService } from "../modules/tenants/service";
import { openStore } from "../store/db";
import { VERSION } from "../version";
import { createApp } from "./app";
import { Authenticator } from "./auth";
import { createLogger } from "./logging";

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/** Assemble and start the server; resolves once it listens. */
export const startServer = async (config: ServerConfig): Promise<RunningServer> => {
  const logger = createLogger(config.logLevel);
  const paths = dataPaths(config.dataDir);
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  chmodSync(paths.root, 0o700);

  const tokenFile = adminTokenPath();
  const { token, created } = loadOrCreateAdminToken(tokenFile);
  logger.info({ file: tokenFile, created }, created ? "admin token created" : "admin token loaded");

  const store = openStore(paths.db);
  const tenants = new TenantService(store);
  let ready = false;

  const app = createApp({ logger, auth: new Authenticator(token, store) })
    .use(
      systemController({
        ready: () => ready,
        capabilities: () => ({
          version: VERSION,
          platform: { os: process.platform, arch: process.arch },
          backends: [],
          profiles: [],
          channels: [],
          limits: { maxCpu: 0, maxMemoryMiB: 0, maxPids: 0, defaultCpu: 0, defaultMemoryMiB: 0, defaultPids: 0, maxSessionTtlMs: 0, minSessionTtlMs: 0, maxLabels: 0 },
        }),
      }),
    )
    .use(tenantsController(tenants));

  app.listen({ hostname: config.host, port: config.port });
  const server = app.server;
  if (!server) throw new Error("server did not start");
  ready = true;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  logger.info({ url, dataDir: paths.root, version: VERSION }, "nimbus listening");

  return {
    url,
    stop: async () => {
      await app.stop();
      store.$client.close();
      logger.info("nimbus stopped");
      logger.flush();
    },
  };
};
