import { parseArgs, type ParseArgsConfig } from "node:util";

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {}

export const parse = <T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T) => {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
};

export const toPort = (raw: string, source: string): number => {
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 0 || port > 65535) throw new UsageError(`${source}: ${JSON.stringify(raw)} is not a port number (0-65535)`);
  return port;
};

/** `--registry-mirror docker.io=http://127.0.0.1:5000` (repeatable) */
export const toMirrors = (values: string[], source: string): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf("=");
    const host = v.slice(0, i);
    const url = v.slice(i + 1);
    if (i <= 0 || !/^https?:\/\/[^/\s]+/.test(url)) throw new UsageError(`${source}: ${JSON.stringify(v)} must be REGISTRY=http(s)://HOST[:PORT]`);
    out[host] = url.replace(/\/+$/, "");
  }
  return out;
};

export const list = (env: string | undefined): string[] =>
  (env ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
