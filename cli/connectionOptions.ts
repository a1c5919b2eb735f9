// The flags that secure coordinator <-> worker traffic: the shared token (a file, or the
// LLM_EXPO_TOKEN variable: never a flag value, which would show in `ps`) and TLS files.
import { readFileSync } from "node:fs";
import type { Argv } from "yargs";
import { UsageError } from "../core/errors.js";

export const TOKEN_ENV = "LLM_EXPO_TOKEN";

export function tokenOptions<T>(y: Argv<T>) {
  return y.option("token-file", {
    type: "string",
    describe: `file holding the shared token (default: the ${TOKEN_ENV} environment variable)`,
  });
}

/** The shared token, or undefined when none is configured. Never logged. */
export function readToken(tokenFile: string | undefined): string | undefined {
  if (tokenFile !== undefined) {
    const token = readFile(tokenFile, "--token-file").toString("utf8").trim();
    if (token === "") throw new UsageError(`--token-file ${tokenFile}: the file is empty`);
    return token;
  }
  const token = process.env[TOKEN_ENV]?.trim();
  return token === "" ? undefined : token;
}

export function readFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** A certificate and its private key (PEM), given together or not at all. */
export function readKeyPair(
  cert: string | undefined,
  key: string | undefined,
): { cert: Buffer; key: Buffer } | undefined {
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--tls-cert and --tls-key go together");
  if (cert === undefined || key === undefined) return undefined;
  return { cert: readFile(cert, "--tls-cert"), key: readFile(key, "--tls-key") };
}

/** host:port, with a port. */
export function parseAddress(value: string, flag: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  const port = Number(m?.[2]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`${flag} ${value}: expected HOST:PORT, e.g. 0.0.0.0:50051`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ""), port };
}
