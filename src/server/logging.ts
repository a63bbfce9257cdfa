import pino, { type Logger } from "pino";

export type { Logger };

// Secrets never reach a log line: the Authorization header, tokens, and launch inputs are
// censored wherever they appear in a logged object.
const REDACT = [
  "req.headers.authorization",
  "headers.authorization",
  "authorization",
  "token",
  "*.token",
  "argv",
  "*.argv",
  "environment",
  "*.environment",
  "env",
  "*.env",
];

export const createLogger = (level: string, destination?: pino.DestinationStream): Logger => {
  const redact = { paths: REDACT, censor: "[redacted]" };
  if (destination) return pino({ level, redact }, destination);
  if (process.stdout.isTTY) {
    // pino-pretty as a stream (not a worker transport) so it works inside the compiled binary
    const pretty = require("pino-pretty")({ colorize: true, translateTime: "SYS:HH:MM:ss.l" });
    return pino({ level, redact }, pretty);
  }
  return pino({ level, redact }, pino.destination({ dest: 1, sync: false }));
};
