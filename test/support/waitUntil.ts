// A readiness poll for what no log line announces (a file's content, an object listing): checks again every
// 20 ms until it holds, and fails naming what it waited for after a bound generous enough for a busy machine.
import { setTimeout as sleep } from "node:timers/promises";

export async function waitUntil<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > end) throw new Error(`waited ${timeoutMs / 1000} s for ${what}`);
    await sleep(20);
  }
}
