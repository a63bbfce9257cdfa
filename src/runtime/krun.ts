// The krun (microVM) backend. libkrun is probed through bun:ffi at construction and its
// availability reported; process execution fails closed: the product docs say krun "fails
// closed for process execution until its network egress enforcement reaches parity". start()
// therefore always throws before touching the disk, so a refused launch leaves nothing behind.
// (Never emulate it with crun's `run.oci.handler=krun` annotation: Debian's crun has no krun
// handler and would silently run an ordinary container.)
import { probeLibkrun, type KrunProbe } from "../../native/libkrun.ts";
import type { DataPaths } from "../host/paths.ts";
import { BackendError, type Availability, type Backend, type ExecHandle, type ExitInfo, type LaunchRequest, type RuntimeState } from "./types.ts";

export const KRUN_EXECUTION_DISABLED =
  "the krun backend fails closed for process execution until its network egress enforcement reaches parity";

export class KrunBackend implements Backend {
  readonly name = "krun" as const;
  private readonly probe: KrunProbe;

  constructor(_opts: { paths: DataPaths; logger?: unknown; probe?: KrunProbe }) {
    this.probe = _opts.probe ?? probeLibkrun();
  }

  availability(): Availability {
    return this.probe.available
      ? { available: false, reason: `libkrun loaded (${this.probe.library}) but ${KRUN_EXECUTION_DISABLED}` }
      : { available: false, reason: this.probe.reason ?? "libkrun not loadable" };
  }

  /** libkrun itself is present (separately from whether launches are allowed) */
  libraryAvailable(): boolean {
    return this.probe.available;
  }

  async start(req: LaunchRequest): Promise<{ pid: number; startedAt: string }> {
    if (!this.probe.available)
      throw new BackendError("backend_unavailable", `krun backend unavailable: ${this.probe.reason}`, { backend: "krun", id: req.id });
    throw new BackendError("krun_process_execution_disabled", KRUN_EXECUTION_DISABLED, { backend: "krun", id: req.id });
  }

  async state(_id: string): Promise<RuntimeState> {
    return { state: "missing" };
  }
  async stop(id: string): Promise<ExitInfo> {
    throw new BackendError("sandbox_not_found", `krun sandbox ${id} does not exist`, { id });
  }
  async kill(id: string): Promise<void> {
    throw new BackendError("sandbox_not_found", `krun sandbox ${id} does not exist`, { id });
  }
  async delete(_id: string): Promise<void> {}
  onExit(_cb: (id: string, exit: ExitInfo) => void): void {}
  async reconcile(known: string[]): Promise<Map<string, RuntimeState>> {
    return new Map(known.map((id) => [id, { state: "missing" } as RuntimeState]));
  }
  async exec(id: string): Promise<ExecHandle> {
    throw new BackendError("krun_process_execution_disabled", KRUN_EXECUTION_DISABLED, { id });
  }
  async writeStdin(id: string): Promise<void> {
    throw new BackendError("sandbox_not_found", `krun sandbox ${id} does not exist`, { id });
  }
  logPaths(_id: string): { stdout: string; stderr: string } {
    return { stdout: "/dev/null", stderr: "/dev/null" };
  }
  async openPort(id: string): Promise<string> {
    throw new BackendError("sandbox_not_found", `krun sandbox ${id} does not exist`, { id });
  }
}
