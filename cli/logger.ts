// Human lines on a terminal, JSON lines otherwise (or with --json), always on stderr: stdout is
// kept for a command's result.
import type { LogFields, Logger, LogLevel } from "../core/logger.js";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(options: { json?: boolean | undefined; level?: LogLevel | undefined }): Logger {
  const json = options.json ?? !process.stderr.isTTY;
  const min = RANK[options.level ?? "info"];
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    if (json) {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
    } else {
      const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : "";
      process.stderr.write(`${level === "info" ? "" : `${level}: `}${msg}${extra}\n`);
    }
  };
  return {
    json,
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}
