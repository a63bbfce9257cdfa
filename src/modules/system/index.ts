import { Elysia } from "elysia";
import { principalOf } from "../../server/app";
import { Capabilities } from "./model";

export interface SystemDeps {
  ready: () => boolean;
  capabilities: () => Capabilities;
}

export const systemController = ({ ready, capabilities }: SystemDeps) =>
  new Elysia({ name: "system", detail: { tags: ["system"] } })
    .get("/healthz", () => ({ status: "ok" }), { detail: { summary: "Liveness", security: [] } })
    .get(
      "/readyz",
      ({ status }) => (ready() ? { status: "ready" } : status(503, { error: { code: "not_ready", message: "starting up: store or reconcile not finished" } })),
      { detail: { summary: "Readiness: store migrated and runtime reconciled", security: [] } },
    )
    .get(
      "/api/capabilities",
      ({ request }) => {
        principalOf(request);
        return capabilities();
      },
      { response: { 200: Capabilities }, detail: { summary: "What this server can run: backends, profiles, limits" } },
    );
