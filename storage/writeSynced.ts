import { open } from "node:fs/promises";

/** Writes `data` to the file at `path`, opened with `flags` (`wx`: only if absent), and flushes it to the disk. */
export async function writeSynced(path: string, data: Buffer | string, flags = "w"): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
