// A stand-in "server" for the reconcile test: starts sandboxes with the container backend,
// prints their ids, then idles until it is SIGKILLed.
import { createContainerBackend } from "../../../src/runtime/index.ts";
import { dataPaths } from "../../../src/host/paths.ts";

const [root, rootfs, ...ids] = process.argv.slice(2);
const backend = createContainerBackend({ paths: dataPaths(root!) });
for (const id of ids) {
  const script = id.startsWith("quick")
    ? "echo bye; exit 9"
    : "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done";
  await backend.start({
    id,
    rootfs: rootfs!,
    hostname: id,
    process: { argv: ["/bin/sh", "-c", script], env: {}, cwd: "/", uid: 0, gid: 0 },
    resources: { cpu: 0.5, memoryMiB: 64, pids: 32 },
  });
}
console.log(JSON.stringify({ started: ids }));
setInterval(() => {}, 1 << 30);
