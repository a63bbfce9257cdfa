// Runtime: turns a mounted root filesystem plus a process spec into an isolated, limited
// process (Backend in types.ts). Offers:
//   createContainerBackend  libcrun containers via a per-sandbox monitor (container.ts)
//   createKrunBackend       libkrun probe; refuses process execution (krun.ts)
//   preflight               host checks and fixes (src/host/preflight.ts)
//   nativeArtifacts         where the monitor executable and the ffi library are (native.ts)
//   ociConfig               OCI config generation (spec.ts)
import type { DataPaths } from "../host/paths.ts";
import { ContainerBackend, type Logger } from "./container.ts";
import { KrunBackend } from "./krun.ts";

export * from "./types.ts";
export { ContainerBackend, type Logger } from "./container.ts";
export { KrunBackend, KRUN_EXECUTION_DISABLED } from "./krun.ts";
export { nativeArtifacts, type NativeArtifacts } from "./native.ts";
export { ociConfig, processSpec, resourcesSpec, DEFAULT_RESOURCES, DEFAULT_CAPABILITIES, cgroupsPath, INIT_PATH, type OciOptions } from "./spec.ts";
export { defaultSeccomp } from "./seccomp.ts";
export { preflight, type PreflightCheck, type PreflightResult } from "../host/preflight.ts";

export const createContainerBackend = (opts: { paths: DataPaths; logger?: Logger }): ContainerBackend => new ContainerBackend(opts);
export const createKrunBackend = (opts: { paths: DataPaths; logger?: Logger }): KrunBackend => new KrunBackend(opts);
