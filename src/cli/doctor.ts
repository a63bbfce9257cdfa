import { parse } from "./args";

export const DOCTOR_HELP = `Usage: nimbus doctor [--no-fix]

Check what this host needs to run sandboxes (root, user namespaces, overlayfs,
cgroups) and fix what can be fixed. Exits non-zero when something is missing.
`;

export const runDoctor = async (argv: string[]): Promise<number> => {
  const { values } = parse(argv, { "no-fix": { type: "boolean" } });
  if (values.help) {
    process.stdout.write(DOCTOR_HELP);
    return 0;
  }
  const { preflight } = await import("../host/preflight");
  const report = await preflight({ fix: !values["no-fix"] });
  for (const c of report.checks) {
    process.stdout.write(`${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}${c.fixed ? " (fixed)" : ""}\n`);
  }
  return report.ok ? 0 : 1;
};
