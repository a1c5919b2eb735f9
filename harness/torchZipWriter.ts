// Writes torch.save zip files (pytorch_model.bin) without torch: stored entries with their data aligned to
// 64 bytes as torch aligns them, and a protocol-2 data.pkl of _rebuild_tensor_v2 calls for a state dict.
// For tests (views, shared storages, strides, compressed or otherwise odd entries) and for benchmarks
// (.bin copies of large safetensors pairs). No zip64: every file stays below 4 GiB.
import { crc32, deflateRawSync } from "node:zlib";

export interface PickleTensor {
  name: string;
  /** Storage type name as torch pickles it, e.g. BFloat16Storage, FloatStorage, LongStorage. */
  storageType: string;
  storageKey: string;
  /** Elements of the storage. */
  storageNumel: number;
  storageOffset: number;
  shape: number[];
  stride: number[];
}

export interface EntryOptions {
  /** Deflate the entry (torch never does; readers must refuse it). */
  compress?: boolean;
}

interface Written {
  name: Buffer;
  crc: number;
  method: number;
  compressed: number;
  size: number;
  offset: number;
}

const ALIGN = 64;

export class TorchZipWriter {
  private offset = 0;
  private readonly entries: Written[] = [];

  constructor(
    private readonly sink: (chunk: Buffer) => Promise<void> | void,
    private readonly prefix = "archive",
  ) {}

  /** One storage's bytes (chunks in order), as the entry <prefix>/data/<key>. */
  async addStorage(key: string, chunks: Iterable<Buffer> | AsyncIterable<Buffer>, options: EntryOptions = {}) {
    const parts: Buffer[] = [];
    for await (const c of chunks) parts.push(c);
    await this.addEntry(`${this.prefix}/data/${key}`, Buffer.concat(parts), options);
  }

  async addEntry(name: string, data: Buffer, options: EntryOptions = {}): Promise<void> {
    const nameBytes = Buffer.from(name, "utf8");
    const body = options.compress ? deflateRawSync(data) : data;
    // Pad the local extra field so the data starts on a 64-byte boundary, as torch's writer does.
    const fixed = 30 + nameBytes.length + 4;
    const pad = (ALIGN - ((this.offset + fixed) % ALIGN)) % ALIGN;
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4246, 0);
    extra.writeUInt16LE(pad, 2);
    const header = Buffer.alloc(30);
    const written: Written = {
      name: nameBytes,
      crc: crc32(data),
      method: options.compress ? 8 : 0,
      compressed: body.length,
      size: data.length,
      offset: this.offset,
    };
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(0, 6);
    header.writeUInt16LE(written.method, 8);
    header.writeUInt32LE(written.crc, 14);
    header.writeUInt32LE(written.compressed, 18);
    header.writeUInt32LE(written.size, 22);
    header.writeUInt16LE(nameBytes.length, 26);
    header.writeUInt16LE(extra.length, 28);
    for (const chunk of [header, nameBytes, extra, body]) await this.write(chunk);
    this.entries.push(written);
  }

  /**
   * data.pkl (the state dict of `content`, or `content` itself as raw pickle bytes), the byteorder and
   * version records, and the central directory.
   */
  async finish(content: readonly PickleTensor[] | Buffer, byteorder = "little"): Promise<void> {
    const pkl = Buffer.isBuffer(content) ? content : stateDictPickle(content as readonly PickleTensor[]);
    await this.addEntry(`${this.prefix}/data.pkl`, pkl);
    await this.addEntry(`${this.prefix}/byteorder`, Buffer.from(byteorder));
    await this.addEntry(`${this.prefix}/version`, Buffer.from("3\n"));
    const start = this.offset;
    for (const e of this.entries) {
      const c = Buffer.alloc(46);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE(20, 4);
      c.writeUInt16LE(20, 6);
      c.writeUInt16LE(e.method, 10);
      c.writeUInt32LE(e.crc, 16);
      c.writeUInt32LE(e.compressed, 20);
      c.writeUInt32LE(e.size, 24);
      c.writeUInt16LE(e.name.length, 28);
      c.writeUInt32LE(e.offset, 42);
      await this.write(c);
      await this.write(e.name);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.entries.length, 8);
    end.writeUInt16LE(this.entries.length, 10);
    end.writeUInt32LE(this.offset - start, 12);
    end.writeUInt32LE(start, 16);
    await this.write(end);
  }

  private async write(chunk: Buffer): Promise<void> {
    await this.sink(chunk);
    this.offset += chunk.length;
  }
}

/** A protocol-2 pickle of {name: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}. */
function stateDictPickle(tensors: readonly PickleTensor[]): Buffer {
  const out: Buffer[] = [Buffer.from([0x80, 2, 0x7d, 0x28])]; // PROTO 2, EMPTY_DICT, MARK
  const op = (...bytes: number[]) => out.push(Buffer.from(bytes));
  const str = (s: string) => {
    const b = Buffer.from(s, "utf8");
    const n = Buffer.alloc(5);
    n[0] = 0x58; // BINUNICODE
    n.writeUInt32LE(b.length, 1);
    out.push(n, b);
  };
  const int = (v: number) => {
    if (v >= 0 && v < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(v, 1);
      out.push(b);
    } else {
      const b = Buffer.alloc(10);
      b[0] = 0x8a; // LONG1, 8 bytes
      b[1] = 8;
      b.writeBigInt64LE(BigInt(v), 2);
      out.push(b);
    }
  };
  const global = (module: string, name: string) => out.push(Buffer.from(`c${module}\n${name}\n`, "utf8"));
  const tuple = (values: readonly number[]) => {
    op(0x28);
    for (const v of values) int(v);
    op(0x74); // TUPLE
  };
  for (const t of tensors) {
    str(t.name);
    global("torch._utils", "_rebuild_tensor_v2");
    op(0x28); // MARK: the arguments
    op(0x28); // MARK: the persistent id
    str("storage");
    global("torch", t.storageType);
    str(t.storageKey);
    str("cpu");
    int(t.storageNumel);
    op(0x74, 0x51); // TUPLE, BINPERSID
    int(t.storageOffset);
    tuple(t.shape);
    tuple(t.stride);
    op(0x89); // NEWFALSE
    global("collections", "OrderedDict");
    op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
    op(0x74, 0x52); // TUPLE, REDUCE
  }
  op(0x75, 0x2e); // SETITEMS, STOP
  return Buffer.concat(out);
}
