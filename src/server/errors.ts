import { Type } from "@sinclair/typebox";

/** The one JSON error shape every non-2xx response carries. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: "machine-readable code, e.g. sandbox_not_found" }),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  },
  { $id: "Error" },
);

/** A failure meant for the client: status, stable code, human message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export const notFound = (kind: string, id: string) =>
  new ApiError(404, `${kind}_not_found`, `${kind} ${JSON.stringify(id)} does not exist`, { id });

export const conflict = (code: string, message: string, details?: Record<string, unknown>) =>
  new ApiError(409, code, message, details);

export const invalid = (path: string, message: string, code = "invalid_request") =>
  new ApiError(422, code, `${path}: ${message}`, { path });

export const errorBody = (code: string, message: string, details?: Record<string, unknown>) => ({
  error: details ? { code, message, details } : { code, message },
});
