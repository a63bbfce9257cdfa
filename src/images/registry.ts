// Registry v2 client: manifests and blobs with the full Accept list, anonymous/basic/bearer
// auth (challenge → token → retry, tokens cached per scope), mirrors, plain-HTTP registries,
// retries with backoff on 429/5xx/connection errors, manual redirects for blobs (credentials
// never follow a redirect to another origin).
import { readFileSync, existsSync } from "node:fs";
import type { Reference } from "./reference";
import { DOCKER_HUB } from "./reference";
import { ImageError } from "./types";

export const MEDIA = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(", ");

export interface Credential { username: string; password: string }

export interface RegistryClientOptions {
  /** registry host → base URL, e.g. {"docker.io": "http://127.0.0.1:5000"} */
  mirrors?: Record<string, string>;
  /** hosts (host[:port]) spoken to over plain HTTP */
  insecureRegistries?: string[];
  /** host (registry or mirror host:port) → credential */
  credentials?: Record<string, Credential>;
  /** docker config.json style files ({auths: {host: {auth | username,password}}}) */
  credentialsFiles?: string[];
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
  logger?: { debug?(o: object, m?: string): void; warn?(o: object, m?: string): void };
}

interface Endpoint { base: string; authKey: string }

export function loadCredentialFile(path: string): Record<string, Credential> {
  const out: Record<string, Credential> = {};
  if (!existsSync(path)) return out;
  let doc: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try { doc = JSON.parse(readFileSync(path, "utf8")); } catch { return out; }
  for (const [key, v] of Object.entries(doc.auths ?? {})) {
    let host = key.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
    if (host === "index.docker.io" || host === "registry-1.docker.io") host = DOCKER_HUB;
    if (v.username && v.password) out[host] = { username: v.username, password: v.password };
    else if (v.auth) {
      const dec = Buffer.from(v.auth, "base64").toString("utf8");
      const i = dec.indexOf(":");
      if (i > 0) out[host] = { username: dec.slice(0, i), password: dec.slice(i + 1) };
    }
  }
  return out;
}

/** Parse `Bearer realm="...",service="...",scope="..."` / `Basic realm="..."`. */
export function parseChallenge(h: string | null): { scheme: string; params: Record<string, string> } | null {
  if (!h) return null;
  const m = h.match(/^\s*(\w+)\s*(.*)$/);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!))) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RegistryClient {
  private tokens = new Map<string, { header: string; expires: number }>();
  /** per endpoint+repo: the Authorization header that last worked */
  private auth = new Map<string, string>();
  private creds: Record<string, Credential>;

  constructor(private opts: RegistryClientOptions = {}) {
    this.creds = {};
    for (const f of opts.credentialsFiles ?? []) Object.assign(this.creds, loadCredentialFile(f));
    Object.assign(this.creds, opts.credentials ?? {});
  }

  endpoints(ref: Reference): Endpoint[] {
    const mirror = this.opts.mirrors?.[ref.registry];
    if (mirror) {
      const u = new URL(mirror);
      return [{ base: mirror.replace(/\/+$/, ""), authKey: u.host }];
    }
    const host = ref.registry === DOCKER_HUB ? "registry-1.docker.io" : ref.registry;
    // like Docker, a registry on the loopback interface is reached over plain HTTP without configuration
    const loopback = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/.test(host);
    const insecure = loopback || this.opts.insecureRegistries?.includes(ref.registry) || this.opts.insecureRegistries?.includes(host);
    return [{ base: `${insecure ? "http" : "https"}://${host}`, authKey: ref.registry }];
  }

  private credFor(ep: Endpoint, ref: Reference): Credential | undefined {
    return this.creds[ep.authKey] ?? this.creds[ref.registry];
  }

  /** One request with retries, auth negotiation and (for blobs) manual redirects. */
  async request(ref: Reference, path: string, init: { accept?: string; method?: string } = {}): Promise<Response> {
    const eps = this.endpoints(ref);
    const ep = eps[0]!;
    const url = `${ep.base}/v2/${ref.repository}/${path}`;
    const authKey = `${ep.base}|${ref.repository}`;
    let triedAuth = false;
    for (;;) {
      const headers: Record<string, string> = {};
      if (init.accept) headers.accept = init.accept;
      const a = this.auth.get(authKey);
      if (a) headers.authorization = a;
      const res = await this.fetchRetry(url, { method: init.method ?? "GET", headers, redirect: "manual" }, ref);
      if (res.status === 401 && !triedAuth) {
        triedAuth = true;
        const ch = parseChallenge(res.headers.get("www-authenticate"));
        await res.body?.cancel().catch(() => {});
        const header = await this.negotiate(ch, ep, ref);
        if (!header) throw this.authError(ref, 401, "registry requires credentials and none are configured");
        this.auth.set(authKey, header);
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel().catch(() => {});
        throw this.authError(ref, res.status, res.status === 401 ? "credentials were rejected" : "access denied");
      }
      if (res.status >= 300 && res.status < 400 && res.headers.get("location")) {
        const loc = new URL(res.headers.get("location")!, url);
        await res.body?.cancel().catch(() => {});
        const sameOrigin = loc.origin === new URL(url).origin;
        const h2: Record<string, string> = {};
        if (sameOrigin && headers.authorization) h2.authorization = headers.authorization;
        return this.fetchRetry(loc.toString(), { method: init.method ?? "GET", headers: h2, redirect: "follow" }, ref);
      }
      return res;
    }
  }

  private authError(ref: Reference, status: number, why: string): ImageError {
    return new ImageError("registry_auth_failed", `registry ${ref.registry} refused ${ref.repository}: ${why}`, 403, { registry: ref.registry, repository: ref.repository, upstreamStatus: status });
  }

  private async negotiate(ch: ReturnType<typeof parseChallenge>, ep: Endpoint, ref: Reference): Promise<string | null> {
    const cred = this.credFor(ep, ref);
    if (!ch || ch.scheme === "basic") {
      return cred ? `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}` : null;
    }
    if (ch.scheme !== "bearer" || !ch.params.realm) return null;
    const scope = ch.params.scope ?? `repository:${ref.repository}:pull`;
    const key = `${ch.params.realm}|${ch.params.service ?? ""}|${scope}|${cred?.username ?? ""}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.header;
    const u = new URL(ch.params.realm);
    if (ch.params.service) u.searchParams.set("service", ch.params.service);
    u.searchParams.set("scope", scope);
    const headers: Record<string, string> = {};
    if (cred) headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
    const res = await this.fetchRetry(u.toString(), { headers }, ref);
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw this.authError(ref, res.status, `token server ${u.host} answered ${res.status}`);
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw this.authError(ref, res.status, `token server ${u.host} returned no token`);
    const ttl = Math.max(10, (body.expires_in ?? 60) - 5) * 1000;
    const header = `Bearer ${token}`;
    this.tokens.set(key, { header, expires: Date.now() + ttl });
    return header;
  }

  private async fetchRetry(url: string, init: RequestInit, ref: Reference): Promise<Response> {
    const retries = this.opts.retries ?? 4;
    const backoff = this.opts.backoffMs ?? 150;
    let last: unknown;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000) } as RequestInit);
        if ((res.status === 429 || res.status >= 500) && attempt < retries) {
          const ra = Number(res.headers.get("retry-after"));
          await res.body?.cancel().catch(() => {});
          const wait = Number.isFinite(ra) && ra > 0 ? Math.min(ra * 1000, 10_000) : backoff * 2 ** attempt;
          this.opts.logger?.debug?.({ url, status: res.status, wait }, "registry retry");
          await sleep(wait);
          continue;
        }
        if (res.status === 429 || res.status >= 500) {
          await res.body?.cancel().catch(() => {});
          throw new ImageError("registry_unreachable", `registry ${ref.registry} answered ${res.status} after ${retries + 1} attempts`, 502, { registry: ref.registry, upstreamStatus: res.status, url });
        }
        return res;
      } catch (e) {
        if (e instanceof ImageError) throw e;
        last = e;
        if (attempt < retries) {
          await sleep(backoff * 2 ** attempt);
          continue;
        }
        throw new ImageError("registry_unreachable", `cannot reach registry ${ref.registry} (${new URL(url).host}): ${(last as Error)?.message ?? last}`, 502, { registry: ref.registry, url });
      }
    }
  }
}
