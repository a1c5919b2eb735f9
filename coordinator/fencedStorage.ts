// The coordinator's view of an output (or of its journal's location) while it holds the output lease: every
// call that changes something there first passes the lease's fencing check (coordinator/outputLease.ts), so a
// coordinator that was superseded stops before it completes, aborts, deletes or journals anything. Reads go
// straight through. Workers' part uploads are not fenced: a part is the same bytes whoever writes it.
import type { AppendLog, Storage } from "../storage/types.js";

const CHANGES = new Set<string | symbol>([
  "writeSmall",
  "createExclusive",
  "createMultipart",
  "completeMultipart",
  "abortMultipart",
  "delete",
  "removeIfEmpty",
]);

export function fencedStorage(storage: Storage, fence: () => Promise<void>): Storage {
  return new Proxy(storage, {
    get(target, property) {
      if (property === "appendLog") return (name: string) => fencedLog(target.appendLog(name), fence);
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const call = (value as (...args: unknown[]) => unknown).bind(target);
      if (!CHANGES.has(property)) return call;
      return async (...args: unknown[]) => {
        await fence();
        return call(...args);
      };
    },
  });
}

function fencedLog(log: AppendLog, fence: () => Promise<void>): AppendLog {
  return {
    where: log.where,
    read: () => log.read(),
    append: async (text) => {
      await fence();
      await log.append(text);
    },
    rewrite: async (text) => {
      await fence();
      await log.rewrite(text);
    },
    remove: async () => {
      await fence();
      await log.remove();
    },
    close: () => log.close(),
  };
}
