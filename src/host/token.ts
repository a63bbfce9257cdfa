import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** Where per-user Nimbus files live: $XDG_DATA_HOME/nimbus, or the platform default. */
export const userDataDir = (env: NodeJS.ProcessEnv = process.env): string => {
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, "nimbus");
  const home = env.HOME || homedir();
  if (process.platform === "darwin") return join(home, "Library", "Application Support", "nimbus");
  return join(home, ".local", "share", "nimbus");
};

export const adminTokenPath = (env: NodeJS.ProcessEnv = process.env): string => join(userDataDir(env), "auth", "token");

export class TokenFileError extends Error {}

/**
 * Return the admin token, creating it on first boot. An existing file that is unreadable,
 * not our JSON, or readable by group/others is an error: silently minting a new token
 * would lock out whoever holds the old one, and a leaked file must be noticed.
 */
export const loadOrCreateAdminToken = (file: string): { token: string; created: boolean } => {
  let raw: string | undefined;
  try {
    raw = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new TokenFileError(`cannot read admin token ${file}: ${(e as Error).message}`);
  }
  if (raw !== undefined) {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) {
      throw new TokenFileError(`admin token ${file} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600)`);
    }
    let token: unknown;
    try {
      token = (JSON.parse(raw) as { token?: unknown }).token;
    } catch {
      throw new TokenFileError(`admin token ${file} is not valid JSON; move it away to mint a new token`);
    }
    if (typeof token !== "string" || token.length < 32) {
      throw new TokenFileError(`admin token ${file} has no usable "token" field; move it away to mint a new token`);
    }
    return { token, created: false };
  }
  const token = `nmb_admin_${randomBytes(32).toString("base64url")}`;
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ token })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return { token, created: true };
};
