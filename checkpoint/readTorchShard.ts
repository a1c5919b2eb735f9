// One torch.save zip (pytorch_model*.bin) as a shard: its tensors located as byte ranges of the stored
// storage entries, from the central directory, a few local headers and data.pkl (ranged reads; the tensor
// bytes are not read here). Views are located exactly (storage offset); non-contiguous views, compressed
// entries and big-endian archives are refused.
import { ITEMSIZE } from "../core/dtypes.js";
import { UsageError } from "../core/errors.js";
import type { Storage } from "../storage/types.js";
import { readZipDirectory, type ZipEntry } from "./readZipDirectory.js";
import type { Shard, TensorInfo } from "./types.js";
import { type PickledTensor, unpickleStateDict } from "./unpickleStateDict.js";

/** data.pkl of a state dict is ~100 bytes per tensor. */
const MAX_PICKLE = 256 * 1024 * 1024;

export interface TorchShard {
  shard: Shard;
  /** Groups of tensors that are the same view of the same storage (tied weights). */
  tied: string[][];
}

export async function readTorchShard(storage: Storage, file: string): Promise<TorchShard> {
  const where = `${storage.location}/${file}`;
  const info = await storage.stat(file);
  if (!info) throw new UsageError(`${where}: shard not found`);
  const entries = await readZipDirectory(storage, file, info.size);
  const pklEntry = entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (!pklEntry) throw new UsageError(`${where}: no data.pkl (not a torch.save checkpoint)`);
  const prefix = pklEntry.name.slice(0, -"data.pkl".length);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const readEntry = async (e: ZipEntry, limit: number): Promise<Buffer> => {
    stored(e, where);
    if (e.size > limit) throw new UsageError(`${where}: entry ${e.name} is ${e.size} bytes (limit ${limit})`);
    const bytes = Buffer.alloc(e.size);
    await storage.readRange(file, e.dataOffset, e.size, bytes, 0);
    return bytes;
  };
  const order = byName.get(`${prefix}byteorder`);
  if (order) {
    const text = (await readEntry(order, 16)).toString("utf8");
    if (text !== "little") throw new UsageError(`${where}: byte order ${JSON.stringify(text)} (only little-endian)`);
  }
  const pickled = unpickleStateDict(await readEntry(pklEntry, MAX_PICKLE), where);
  const tensors: TensorInfo[] = pickled.map((t) => locate(t, byName.get(`${prefix}data/${t.storage.key}`), where));
  const groups = new Map<string, string[]>();
  for (const t of pickled) {
    const key = JSON.stringify([t.storage.key, t.storageOffset, t.shape, t.stride]);
    groups.set(key, [...(groups.get(key) ?? []), t.name]);
  }
  return {
    shard: {
      file,
      size: info.size,
      etag: info.etag,
      mtimeMs: info.mtimeMs,
      headerLength: 0,
      dataStart: 0,
      tensors,
      metadata: {},
      dataLength: info.size,
    },
    tied: [...groups.values()].filter((g) => g.length > 1),
  };
}

function stored(e: ZipEntry, where: string): void {
  if (e.method !== 0 || e.compressedSize !== e.size) {
    throw new UsageError(
      `${where}: entry ${e.name} is compressed (method ${e.method}): only stored entries are read, as torch.save writes them`,
    );
  }
}

/** The tensor's bytes as a file range: a contiguous view inside its storage's stored entry. */
function locate(t: PickledTensor, entry: ZipEntry | undefined, where: string): TensorInfo {
  const at = `${where}: tensor ${t.name}`;
  if (!entry) throw new UsageError(`${at}: storage ${t.storage.key} has no entry in the archive`);
  stored(entry, at);
  const item = ITEMSIZE[t.storage.dtype] as number;
  if (entry.size < t.storage.numel * item) {
    throw new UsageError(
      `${at}: storage ${t.storage.key} holds ${entry.size} bytes, less than its ${t.storage.numel} elements`,
    );
  }
  if (t.shape.length !== t.stride.length)
    throw new UsageError(`${at}: ${t.shape.length} sizes but ${t.stride.length} strides`);
  const numel = t.shape.reduce((a, b) => a * b, 1);
  let expected = 1;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    const size = t.shape[d] as number;
    if (numel > 0 && size > 1 && t.stride[d] !== expected) {
      throw new UsageError(
        `${at}: a non-contiguous view (size ${JSON.stringify(t.shape)}, stride ${JSON.stringify(t.stride)}) of its storage is not supported; save it contiguous (tensor.contiguous())`,
      );
    }
    expected *= size;
  }
  if (t.storageOffset + numel > t.storage.numel) {
    throw new UsageError(
      `${at}: view [${t.storageOffset}, ${t.storageOffset + numel}) runs past its storage of ${t.storage.numel} elements`,
    );
  }
  const begin = entry.dataOffset + t.storageOffset * item;
  return { name: t.name, dtype: t.storage.dtype, shape: t.shape, begin, end: begin + numel * item };
}
