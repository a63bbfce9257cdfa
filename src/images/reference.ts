// Image references: `[registry[:port]/]repository[:tag][@algorithm:hex]`, normalised the way
// Docker does (single-component Docker Hub names live under `library/`, no tag means `latest`).
import { ImageError } from "./types";

export interface Reference {
  /** registry host as written after normalisation, e.g. docker.io, 127.0.0.1:5000 */
  registry: string;
  /** repository path, e.g. library/node */
  repository: string;
  tag?: string;
  digest?: string;
  /** canonical string form: registry/repository[:tag][@digest] */
  toString(): string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$|^\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?$/;

export const DOCKER_HUB = "docker.io";

function invalid(input: string, why: string): never {
  throw new ImageError("invalid_reference", `invalid image reference "${input}": ${why}`, 400, { reference: input });
}

export function parseReference(input: string): Reference {
  if (typeof input !== "string" || input.length === 0) invalid(String(input), "empty");
  if (input.length > 512) invalid(input.slice(0, 64) + "…", "longer than 512 characters");
  if (/\s/.test(input)) invalid(input, "contains whitespace");
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) invalid(input, `bad digest "${digest}" (want sha256:<64 hex>)`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) invalid(input, `bad tag "${tag}"`);
  }
  let registry = DOCKER_HUB;
  const parts = rest.split("/");
  if (parts.length > 1 && (parts[0]!.includes(".") || parts[0]!.includes(":") || parts[0] === "localhost")) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) invalid(input, `bad registry host "${registry}"`);
    const port = registry.match(/:(\d+)$/);
    if (port && (Number(port[1]) < 1 || Number(port[1]) > 65535)) invalid(input, `bad port in "${registry}"`);
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((p) => p.length === 0)) invalid(input, "empty path component");
  for (const p of parts) {
    if (!COMPONENT.test(p)) invalid(input, `bad repository component "${p}" (lowercase letters, digits, separators)`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (repository.length > 255) invalid(input, "repository name longer than 255 characters");
  if (!tag && !digest) tag = "latest";
  return {
    registry,
    repository,
    tag,
    digest,
    toString() {
      return `${registry}/${repository}${tag ? `:${tag}` : ""}${digest ? `@${digest}` : ""}`;
    },
  };
}
