import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { alive } from "./pid";

// One server per data dir: two would both reconcile, adopt and delete the same sandboxes.
// A pid file is enough here (all servers are local processes); a stale one is taken over.

export class DataDirInUse extends Error {}

/** Claim the data dir for this process; returns the release function. */
export const lockDataDir = (dataDir: string): (() => void) => {
  const file = join(dataDir, "nimbus.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
        } catch {}
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DataDirInUse(`data dir ${dataDir} is in use by another nimbus server (pid ${pid})`);
      }
      unlinkSync(file); // stale: its server is gone
    }
  }
  throw new DataDirInUse(`could not claim data dir ${dataDir}`);
};
