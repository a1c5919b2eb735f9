// The logging contract every layer writes to; the CLI decides where lines go (cli/createLogger.ts).
export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly json: boolean;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** For library callers that log nothing (tests, tools). */
export const silentLogger: Logger = {
  json: false,
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
