import { readFileSync } from "node:fs";
import { adminTokenPath } from "../host/token";
import { parse, UsageError } from "./args";

export const IMAGE_HELP = `Usage: nimbus image prune [--all] [--endpoint URL]

Remove image material no sandbox uses, on a running server (admin token from
$XDG_DATA_HOME/nimbus/auth/token).

Options:
  --all            also remove image records no sandbox stands on
  --endpoint URL   server to talk to (env NIMBUS_ENDPOINT, default http://127.0.0.1:8080)
`;

export const runImage = async (argv: string[]): Promise<number> => {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    process.stdout.write(IMAGE_HELP);
    return 0;
  }
  if (sub !== "prune") throw new UsageError(`unknown image command ${JSON.stringify(sub)}; run 'nimbus image --help'`);
  const { values } = parse(rest, { all: { type: "boolean" }, endpoint: { type: "string" } });
  if (values.help) {
    process.stdout.write(IMAGE_HELP);
    return 0;
  }
  const endpoint = (values.endpoint ?? process.env.NIMBUS_ENDPOINT ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  if (!/^https?:\/\//.test(endpoint)) throw new UsageError(`--endpoint: ${JSON.stringify(endpoint)} is not an http(s) URL`);
  const token = (JSON.parse(readFileSync(adminTokenPath(), "utf8")) as { token: string }).token;
  const res = await fetch(`${endpoint}/api/images/prune`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ all: values.all ?? false }),
  });
  const body = (await res.json()) as { images: string[]; layers: number; blobs: number; snapshots: string[]; bytes: number; error?: { message: string } };
  if (!res.ok) {
    process.stderr.write(`nimbus: prune failed: ${body.error?.message ?? res.status}\n`);
    return 1;
  }
  process.stdout.write(
    `removed ${body.images.length} images, ${body.layers} layers, ${body.blobs} blobs, ${body.snapshots.length} snapshots; ${(body.bytes / 1048576).toFixed(1)} MiB freed\n`,
  );
  return 0;
};
