// Idmapped mounts (Linux >= 5.12; as overlay lowers >= 5.19): show a host directory owned by
// host ids 0..size-1 as owned by ID_MAP.hostBase + id, without touching the directory itself.
// Used for operator-provided prepared root filesystems, whose files belong to host root and
// would otherwise be unmapped (nobody) inside the container's user namespace.
import * as fs from "node:fs";
import { ID_MAP } from "../host/idmap";
import { moveMount, openTreeClone, setMountIdmap } from "./sys";

let usernsFd: Promise<number> | null = null;

/**
 * An fd for a user namespace whose uid_map/gid_map is `0 hostBase size` (the container map).
 * Bun cannot fork, so a helper `unshare --user sleep infinity` creates the namespace; we write
 * its maps (we are root in the parent namespace), open /proc/<pid>/ns/user and kill the helper —
 * the fd keeps the namespace alive. One per process (O_CLOEXEC, so children never inherit it).
 */
export function containerUsernsFd(): Promise<number> {
  usernsFd ??= makeUsernsFd().catch((e) => { usernsFd = null; throw e; });
  return usernsFd;
}

async function makeUsernsFd(): Promise<number> {
  const unshare = Bun.which("unshare") ?? "/usr/bin/unshare";
  const sleep = Bun.which("sleep") ?? "/bin/sleep";
  const helper = Bun.spawn([unshare, "--user", sleep, "infinity"], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  try {
    const mine = fs.readlinkSync("/proc/self/ns/user");
    const nsPath = `/proc/${helper.pid}/ns/user`;
    const deadline = Date.now() + 5000;
    for (;;) {
      if (helper.exitCode !== null || helper.signalCode !== null) {
        throw new Error(`unshare --user exited early: ${(await new Response(helper.stderr).text()).trim() || helper.exitCode}`);
      }
      let ns = mine;
      try { ns = fs.readlinkSync(nsPath); } catch {}
      if (ns !== mine) break;
      if (Date.now() > deadline) throw new Error("unshare --user did not enter a new user namespace within 5 s");
      await Bun.sleep(1);
    }
    const map = `0 ${ID_MAP.hostBase} ${ID_MAP.size}\n`;
    fs.writeFileSync(`/proc/${helper.pid}/uid_map`, map);
    fs.writeFileSync(`/proc/${helper.pid}/gid_map`, map);
    const fd = fs.openSync(nsPath, "r");
    const norm = (s: string) => s.trim().split(/\s+/).join(" ");
    const got = norm(fs.readFileSync(`/proc/${helper.pid}/uid_map`, "utf8"));
    if (got !== norm(map)) { fs.closeSync(fd); throw new Error(`helper uid_map is "${got}", expected "${norm(map)}"`); }
    return fd;
  } finally {
    helper.kill(9);
    await helper.exited;
  }
}

/**
 * Mount an idmapped clone of `source` (not recursive: submounts below it are not included,
 * just as overlay lowers never cross into them) at `target`, mapping host id N to hostBase + N.
 */
export async function mountIdmapped(source: string, target: string): Promise<void> {
  const nsFd = await containerUsernsFd();
  const fd = openTreeClone(source);
  try {
    setMountIdmap(fd, nsFd, source);
    moveMount(fd, target);
  } finally {
    fs.closeSync(fd); // a detached tree that was never attached is freed here
  }
}
