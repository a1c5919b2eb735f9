// An append-only log in a store whose objects cannot grow: one object per append, NAME-00000001.EXT,
// NAME-00000002.EXT, …, read back in order.
import type { AppendLog, Storage } from "./types.js";

export class ObjectAppendLog implements AppendLog {
  readonly where: string;
  private readonly pattern: RegExp;
  private readonly objectName: (n: number) => string;
  private next = 1;

  /** `name` like "journal.jsonl": objects journal-00000001.jsonl, … in `storage`. */
  constructor(
    private readonly storage: Storage,
    name: string,
  ) {
    const dot = name.lastIndexOf(".");
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
    this.objectName = (n) => `${stem}-${String(n).padStart(8, "0")}${ext}`;
    this.pattern = new RegExp(`^${escapeRegExp(stem)}-(\\d{8})${escapeRegExp(ext)}$`);
    this.where = `${storage.location}/${stem}-*${ext}`;
  }

  private async names(): Promise<string[]> {
    if (!(await this.storage.exists())) return [];
    return (await this.storage.list()).filter((n) => this.pattern.test(n)).sort();
  }

  async read(): Promise<string | undefined> {
    const names = await this.names();
    const last = names.at(-1);
    if (last === undefined) return undefined;
    this.next = Number(this.pattern.exec(last)?.[1]) + 1;
    const texts = await Promise.all(names.map((n) => this.storage.readSmall(n)));
    return texts.map((t) => t.toString("utf8")).join("");
  }

  async append(text: string): Promise<void> {
    const name = this.objectName(this.next);
    this.next++;
    await this.storage.writeSmall(name, Buffer.from(text));
  }

  async remove(): Promise<void> {
    for (const n of await this.names()) await this.storage.delete(n);
  }

  async close(): Promise<void> {}
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
