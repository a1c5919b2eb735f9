import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** Flushes a folder's entries to the disk: what makes a rename, link or new file in it durable. */
export async function syncFolder(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
