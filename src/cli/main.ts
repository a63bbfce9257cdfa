#!/usr/bin/env bun
import { UsageError } from "./args";
import { parseStart, START_HELP } from "./start";
import { VERSION } from "../version";

const HELP = `Usage: nimbus <command> [options]

Commands:
  start      start the server
  doctor     check (and fix) what this host needs to run sandboxes
  image      manage stored images (image prune)
  version    print the version

Run 'nimbus <command> --help' for a command's options.
`;

const run = async (argv: string[]): Promise<number> => {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case "help":
    case "-h":
    case "--help":
      process.stdout.write(HELP);
      return 0;
    case "version":
    case "--version":
    case "-v":
      if (rest.includes("--help") || rest.includes("-h")) {
        process.stdout.write("Usage: nimbus version\n\nPrint the version.\n");
        return 0;
      }
      if (rest.length) throw new UsageError(`version takes no arguments, got ${JSON.stringify(rest[0])}`);
      process.stdout.write(`nimbus ${VERSION}\n`);
      return 0;
    case "start": {
      const config = parseStart(rest);
      if (config === "help") {
        process.stdout.write(START_HELP);
        return 0;
      }
      const { startServer } = await import("../server/server");
      const server = await startServer(config);
      await new Promise<void>((resolveStop) => {
        const shutdown = () => {
          process.off("SIGINT", shutdown);
          process.off("SIGTERM", shutdown);
          server.stop().then(resolveStop, resolveStop);
        };
        process.on("SIGINT", shutdown);
        process.on("SIGTERM", shutdown);
      });
      return 0;
    }
    case "image": {
      const { runImage } = await import("./image");
      return runImage(rest);
    }
    case "doctor": {
      const { runDoctor } = await import("./doctor");
      return runDoctor(rest);
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}; run 'nimbus --help'`);
  }
};

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof UsageError) {
      process.stderr.write(`nimbus: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`nimbus: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
