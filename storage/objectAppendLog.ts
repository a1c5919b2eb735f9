// An append-only log in a store whose objects cannot grow: one object per append, NAME-00000001.EXT,
// NAME-00000002.EXT, …, read back in order. A rewrite (compaction) writes NAME-snapshot-0000000N.EXT, which
// stands for objects 1 … N; those are then deleted, and a reader that still finds some (a crash between the
// snapshot and the deletes) skips them. PutObject is atomic, so an object is there whole or not at all.
import type { AppendLog, Storage } from "./types.js";

/** Reads and deletes in flight at once (a tail can be a thousand objects). */
const CONCURRENCY = 16;

export class ObjectAppendLog implements AppendLog {
  readonly where: string;
  private readonly tail: RegExp;
  private readonly snapshot: RegExp;
  private readonly tailName: (n: number) => string;
  private readonly snapshotName: (n: number) => string;
  /** Number of the next append's object; an append tried again after a failure reuses it. */
  private next = 1;

  /** `name` like "journal.jsonl": objects journal-00000001.jsonl, … in `storage`. */
  constructor(
    private readonly storage: Storage,
    name: string,
  ) {
    const dot = name.lastIndexOf(".");
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
    const number = (n: number) => String(n).padStart(8, "0");
    this.tailName = (n) => `${stem}-${number(n)}${ext}`;
    this.snapshotName = (n) => `${stem}-snapshot-${number(n)}${ext}`;
    this.tail = new RegExp(`^${escapeRegExp(stem)}-(\\d{8})${escapeRegExp(ext)}$`);
    this.snapshot = new RegExp(`^${escapeRegExp(stem)}-snapshot-(\\d{8})${escapeRegExp(ext)}$`);
    this.where = `${storage.location}/${stem}-*${ext}`;
  }

  async read(): Promise<Buffer[] | undefined> {
    const { snapshot, tail, last } = await this.objects();
    if (snapshot === undefined && tail.length === 0) return undefined;
    this.next = last + 1;
    const names = [...(snapshot === undefined ? [] : [snapshot.name]), ...tail.map((t) => t.name)];
    const pieces: Buffer[] = [];
    for (let i = 0; i < names.length; i += CONCURRENCY)
      pieces.push(...(await Promise.all(names.slice(i, i + CONCURRENCY).map((n) => this.storage.readSmall(n)))));
    return pieces;
  }

  async append(text: string): Promise<void> {
    const n = this.next;
    await this.storage.writeSmall(this.tailName(n), Buffer.from(text));
    this.next = n + 1;
  }

  async rewrite(text: string): Promise<void> {
    const covered = this.next - 1;
    await this.storage.writeSmall(this.snapshotName(covered), Buffer.from(text));
    const { stale } = await this.objects();
    await deleteAll(this.storage, stale);
  }

  async remove(): Promise<void> {
    const { snapshot, tail, stale } = await this.objects();
    // Whichever object holds the log's first record goes last: a remove cut short leaves a log that still
    // starts right (records missing from it are only work to redo), not one a reader refuses.
    const first = snapshot?.name ?? tail[0]?.name;
    await deleteAll(
      this.storage,
      [...stale, ...tail.map((t) => t.name)].filter((n) => n !== first),
    );
    if (first !== undefined) await this.storage.delete(first);
  }

  async close(): Promise<void> {}

  /** The newest snapshot, the appends after it in order, objects it stands for, and the highest number seen. */
  private async objects(): Promise<{
    snapshot?: { name: string; n: number };
    tail: Array<{ name: string; n: number }>;
    stale: string[];
    last: number;
  }> {
    const names = (await this.storage.exists()) ? await this.storage.list() : [];
    const snapshots: Array<{ name: string; n: number }> = [];
    const appends: Array<{ name: string; n: number }> = [];
    for (const name of names) {
      const s = this.snapshot.exec(name);
      if (s) snapshots.push({ name, n: Number(s[1]) });
      const t = this.tail.exec(name);
      if (t) appends.push({ name, n: Number(t[1]) });
    }
    snapshots.sort((a, b) => a.n - b.n);
    appends.sort((a, b) => a.n - b.n);
    const snapshot = snapshots.at(-1);
    const covered = snapshot?.n ?? 0;
    return {
      ...(snapshot ? { snapshot } : {}),
      tail: appends.filter((a) => a.n > covered),
      stale: [...snapshots.slice(0, -1), ...appends.filter((a) => a.n <= covered)].map((o) => o.name),
      last: Math.max(covered, appends.at(-1)?.n ?? 0),
    };
  }
}

async function deleteAll(storage: Storage, names: string[]): Promise<void> {
  for (let i = 0; i < names.length; i += CONCURRENCY) {
    await Promise.all(names.slice(i, i + CONCURRENCY).map((n) => storage.delete(n)));
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
