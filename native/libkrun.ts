// bun:ffi probe of libkrun (not packaged by Debian or npm): is `libkrun.so.1` loadable and does
// it export the entry points a krun backend would need? Never trust crun's
// `run.oci.handler=krun` annotation instead: Debian's crun has no krun handler built in and
// silently runs an ordinary container.
import { dlopen, FFIType } from "bun:ffi";

export interface KrunProbe {
  available: boolean;
  reason?: string;
  library?: string;
}

export const LIBKRUN_NAMES = ["libkrun.so.1", "libkrun.so"];

export const probeLibkrun = (names: string[] = LIBKRUN_NAMES): KrunProbe => {
  const errors: string[] = [];
  for (const name of names) {
    try {
      const lib = dlopen(name, {
        krun_create_ctx: { args: [], returns: FFIType.i32 },
        krun_free_ctx: { args: [FFIType.u32], returns: FFIType.i32 },
        krun_set_vm_config: { args: [FFIType.u32, FFIType.u8, FFIType.u32], returns: FFIType.i32 },
        krun_start_enter: { args: [FFIType.u32], returns: FFIType.i32 },
      });
      lib.close();
      return { available: true, library: name };
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message}`);
    }
  }
  return { available: false, reason: `libkrun not loadable (${errors.join("; ")})` };
};
