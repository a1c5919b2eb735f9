// Validation follows the safetensors reference implementation: the header must describe a data
// section that the tensors cover exactly, in order, without gap or overlap.
import { ITEMSIZE } from "../core/dtypes.js";
import { UsageError } from "../core/errors.js";
import type { SafetensorsHeader, TensorInfo } from "./types.js";

export const MAX_HEADER_LENGTH = 100_000_000;

/** Reads N from the first 8 bytes and checks it against the file size. */
export function parseHeaderLength(prefix: Buffer, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8)
    throw new UsageError(`${file}: truncated safetensors file (${fileSize} bytes)`);
  const n = prefix.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_LENGTH)) {
    throw new UsageError(`${file}: safetensors header length ${n} exceeds the ${MAX_HEADER_LENGTH}-byte limit`);
  }
  if (n + 8n > BigInt(fileSize)) {
    throw new UsageError(`${file}: safetensors header length ${n} runs past the end of the ${fileSize}-byte file`);
  }
  return Number(n);
}

export function parseHeader(json: Buffer, fileSize: number, file: string): SafetensorsHeader {
  const headerLength = json.length;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString("utf8"));
  } catch (e) {
    throw new UsageError(`${file}: safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`${file}: safetensors header is not a JSON object`);
  }
  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new UsageError(`${file}: __metadata__ is not an object`);
      }
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string") throw new UsageError(`${file}: __metadata__ value for "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    tensors.push(parseTensor(name, value, file));
  }
  tensors.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let expected = 0;
  for (const t of tensors) {
    if (t.begin !== expected) {
      const what = t.begin < expected ? "overlaps the previous tensor" : `leaves a gap after byte ${expected}`;
      throw new UsageError(`${file}: tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] ${what}`);
    }
    expected = t.end;
  }
  const dataStart = 8 + headerLength;
  const last = tensors[tensors.length - 1];
  if (last && dataStart + last.end > fileSize) {
    throw new UsageError(
      `${file}: tensor ${last.name}: data_offsets [${last.begin}, ${last.end}] run past the end of the file (data section holds ${fileSize - dataStart} bytes; truncated?)`,
    );
  }
  if (dataStart + expected !== fileSize) {
    throw new UsageError(
      `${file}: ${fileSize - dataStart - expected} trailing bytes after the last tensor (file is ${fileSize} bytes, header describes ${dataStart + expected})`,
    );
  }
  return { headerLength, dataStart, tensors, metadata, dataLength: expected };
}

function parseTensor(name: string, value: unknown, file: string): TensorInfo {
  const where = `${file}: tensor ${name}`;
  if (typeof value !== "object" || value === null) throw new UsageError(`${where}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== "string" || ITEMSIZE[dtype] === undefined) {
    throw new UsageError(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new UsageError(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw new UsageError(`${where}: data_offsets ${JSON.stringify(offsets)} is not a [begin, end] range`);
  }
  const [begin, end] = offsets as [number, number];
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  const bytes = numel * (ITEMSIZE[dtype] as number);
  if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
    throw new UsageError(
      `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype}${JSON.stringify(shape)} needs ${bytes}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}
