import { invalid } from "../server/errors";

// Kubernetes label syntax: [prefix/]name, name ≤ 63 of [A-Za-z0-9_.-] starting and ending
// alphanumeric, prefix a DNS subdomain ≤ 253; values ≤ 63 of the same alphabet, or empty.
const NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export const MAX_LABELS = 64;

export const labelKeyProblem = (key: string): string | null => {
  const slash = key.indexOf("/");
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length > 253 || !PREFIX.test(prefix)) return "prefix must be a DNS subdomain of at most 253 characters";
  }
  if (!NAME.test(name)) return "name must be 1-63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric";
  return null;
};

export const labelValueProblem = (value: string): string | null =>
  value === "" || NAME.test(value) ? null : "value must be empty or 1-63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric";

/** Throws a 422 naming the offending label. */
export const validateLabels = (labels: Record<string, string>, path = "/labels"): void => {
  const keys = Object.keys(labels);
  if (keys.length > MAX_LABELS) throw invalid(path, `at most ${MAX_LABELS} labels are allowed, got ${keys.length}`, "invalid_labels");
  for (const key of keys) {
    const kp = labelKeyProblem(key);
    if (kp) throw invalid(`${path}/${key}`, `label key ${kp}`, "invalid_labels");
    const vp = labelValueProblem(labels[key] as string);
    if (vp) throw invalid(`${path}/${key}`, `label ${vp}`, "invalid_labels");
  }
};
