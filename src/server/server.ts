import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { availableParallelism, homedir, totalmem } from "node:os";
import { join } from "node:path";
import { createImageService } from "../images";
import type { ServerConfig } from "../host/config";
import { ID_MAP } from "../host/idmap";
import { dataPaths } from "../host/paths";
import { lockDataDir } from "../host/lock";
import { adminTokenPath, loadOrCreateAdminToken } from "../host/token";
import { preflight } from "../host/preflight";
import { imagesController } from "../modules/images";
import { sandboxesController } from "../modules/sandboxes";
import { SandboxService, type SandboxLimits } from "../modules/sandboxes/service";
import { attachDocs, sessionsController } from "../modules/sessions";
import { AttachHub } from "../modules/sessions/attach";
import { CHANNELS } from "../modules/sessions/model";
import { SessionService, type SessionLimits } from "../modules/sessions/service";
import { systemController } from "../modules/system";
import type { Capabilities } from "../modules/system/model";
import { tenantsController } from "../modules/tenants";
import { TenantService } from "../modules/tenants/service";
import { MAX_LABELS } from "../modules/labels";
import { EndpointProxy } from "../network/endpoints";
import { createContainerBackend, createKrunBackend } from "../runtime";
import { openStore } from "../store/db";
import { VERSION } from "../version";
import { createApp } from "./app";
import { Authenticator } from "./auth";
import { createLogger } from "./logging";
import { stepRunner } from "./step-runner";

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

const MiB = 1024 * 1024;

const sandboxLimits = (): SandboxLimits => ({
  defaultCpu: 1,
  defaultMemoryMiB: 512,
  defaultPids: 1024,
  maxCpu: availableParallelism(),
  maxMemoryMiB: Math.floor(totalmem() / MiB),
  maxPids: 32_768,
  defaultGraceMs: 10_000,
});

/** RUN steps of a build get the default sandbox limits. */
const limitsForBuild = () => {
  const l = sandboxLimits();
  return { cpu: l.defaultCpu, memoryMiB: Math.max(l.defaultMemoryMiB, 1024), pids: l.defaultPids };
};

const sessionLimits: SessionLimits = { minTtlMs: 1_000, maxTtlMs: 24 * 3600 * 1000, defaultTtlMs: 3600 * 1000 };

/** Assemble and start the server; resolves once it listens and has reconciled. */
export const startServer = async (config: ServerConfig): Promise<RunningServer> => {
  const logger = createLogger(config.logLevel);
  const paths = dataPaths(config.dataDir);
  // Owner root, group = container root's host gid, 0710: the runtime (inside the user
  // namespace) can reach a sandbox's rootfs below, no other host user can even list it.
  mkdirSync(paths.root, { recursive: true, mode: 0o710 });
  chownSync(paths.root, 0, ID_MAP.hostBase);
  chmodSync(paths.root, 0o710);
  const unlock = lockDataDir(paths.root);

  const host = await preflight({ fix: true });
  for (const c of host.checks) (c.ok ? logger.debug : logger.error).call(logger, { check: c.name, fixed: c.fixed }, c.detail);
  if (!host.ok) {
    const failed = host.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    throw new Error(`host is not ready for sandboxes (run 'nimbus doctor'): ${failed.join("; ")}`);
  }

  const tokenFile = adminTokenPath();
  const { token, created } = loadOrCreateAdminToken(tokenFile);
  logger.info({ file: tokenFile, created }, created ? "admin token created" : "admin token loaded");

  const store = openStore(paths.db);
  const backends = { container: createContainerBackend({ paths, logger }), krun: createKrunBackend({ paths, logger }) };
  const images = createImageService({
    paths,
    db: store,
    createTables: false,
    mirrors: config.registryMirrors,
    insecureRegistries: config.insecureRegistries,
    // registry credentials: the user's Docker login, overridden by our own file in the data dir
    credentialsFile: [join(process.env.HOME || homedir(), ".docker", "config.json"), join(paths.root, "registry-auth.json")],
    contextAllowList: config.buildContextAllow,
    logger,
    runner: stepRunner(backends.container, limitsForBuild()),
  });
  const limits = sandboxLimits();
  const tenants = new TenantService(store);
  const sandboxes = new SandboxService({
    db: store,
    images,
    backends,
    endpoints: new EndpointProxy(),
    limits,
    rootfsAllow: config.rootfsAllow,
    buildContextAllow: config.buildContextAllow,
    logger,
    desktopAvailable: false,
  });
  const sessions = new SessionService(store, sandboxes, sessionLimits, logger);
  const hub = new AttachHub(sessions, sandboxes, backends, logger);

  const capabilities = (): Capabilities => ({
    version: VERSION,
    platform: { os: process.platform, arch: process.arch },
    backends: [
      { name: "container", ...sandboxes.availabilityOf("container"), processExecution: true },
      { name: "krun", ...sandboxes.availabilityOf("krun"), processExecution: false },
    ],
    profiles: [
      { name: "worker", available: true },
      { name: "desktop", available: false, reason: "no virtual display support on this server yet" },
    ],
    channels: [...CHANNELS],
    limits: {
      maxCpu: limits.maxCpu,
      maxMemoryMiB: limits.maxMemoryMiB,
      maxPids: limits.maxPids,
      defaultCpu: limits.defaultCpu,
      defaultMemoryMiB: limits.defaultMemoryMiB,
      defaultPids: limits.defaultPids,
      maxSessionTtlMs: sessionLimits.maxTtlMs,
      minSessionTtlMs: sessionLimits.minTtlMs,
      maxLabels: MAX_LABELS,
    },
  });

  let ready = false;
  const app = createApp({ logger, auth: new Authenticator(token, store), docs: attachDocs })
    .use(systemController({ ready: () => ready, capabilities }))
    .use(tenantsController(tenants))
    .use(sandboxesController(tenants, sandboxes, backends))
    .use(sessionsController(tenants, sessions, hub))
    .use(imagesController(images, () => sandboxes.allIds()));

  // reusePort off: a second server on a busy port must fail, not silently share it
  app.listen({ hostname: config.host, port: config.port, reusePort: false });
  const server = app.server;
  if (!server) throw new Error("server did not start");
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;

  await sandboxes.reconcile();
  sessions.start();
  ready = true;
  logger.info({ url, dataDir: paths.root, version: VERSION }, "nimbus listening");

  return {
    url,
    stop: async () => {
      ready = false;
      sessions.stop();
      hub.closeAll();
      sandboxes.shutdown();
      await app.stop();
      backends.container.close();
      store.$client.close();
      unlock();
      logger.info("nimbus stopped; sandboxes keep running and are re-adopted on the next start");
      logger.flush();
    },
  };
};
