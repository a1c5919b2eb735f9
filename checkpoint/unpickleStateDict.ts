// A restricted unpickler for the data.pkl of a torch.save state dict. It executes nothing: it knows the
// opcodes pickle uses for dicts, tuples, lists, strings and numbers, and exactly the globals torch.save
// writes for a state dict (tensor rebuild functions, storage types, OrderedDict), each interpreted here
// as plain data. Any other global, opcode or call is refused, naming it, before anything is read.
import { UsageError } from "../core/errors.js";

export interface PickledStorage {
  /** Name of the storage's zip entry under data/. */
  key: string;
  dtype: string;
  /** Elements of the storage. */
  numel: number;
}

export interface PickledTensor {
  name: string;
  storage: PickledStorage;
  /** In elements of the storage. */
  storageOffset: number;
  shape: number[];
  stride: number[];
}

/** Storage types torch.save names for each dtype (torch.<Name>Storage). */
const STORAGE_DTYPES: Readonly<Record<string, string>> = {
  DoubleStorage: "F64",
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

class Global {
  constructor(readonly qualified: string) {}
}
class Tensor {
  constructor(readonly value: Omit<PickledTensor, "name">) {}
}
class Storage {
  constructor(readonly value: PickledStorage) {}
}
class Mark {}
/** A dict (plain or OrderedDict): string keys in insertion order. */
class Dict {
  readonly entries = new Map<unknown, unknown>();
}

type Value = null | boolean | number | bigint | string | Buffer | Value[] | Tuple | Dict | Global | Tensor | Storage;
class Tuple {
  constructor(readonly items: Value[]) {}
}

const CALLABLE = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_parameter",
]);
const ALLOWED = new Set([...CALLABLE, ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`)]);
const MAX_MEMO = 10_000_000;

const OPCODE_NAMES: Readonly<Record<number, string>> = {
  82: "REDUCE",
  98: "BUILD",
  105: "INST",
  111: "OBJ",
  129: "NEWOBJ",
  146: "NEWOBJ_EX",
  80: "PERSID",
  130: "EXT1",
  131: "EXT2",
  132: "EXT4",
  150: "BYTEARRAY8",
  151: "NEXT_BUFFER",
  152: "READONLY_BUFFER",
  70: "FLOAT",
  73: "INT",
  76: "LONG",
  83: "STRING",
  86: "UNICODE",
};

/** Parses data.pkl into the state dict's tensors, in the pickle's order. `where` names the file for messages. */
export function unpickleStateDict(pkl: Buffer, where: string): PickledTensor[] {
  const refuse = (what: string) => new UsageError(`${where}: data.pkl: ${what}`);
  const stack: Array<Value | Mark> = [];
  const memo = new Map<number, Value>();
  let p = 0;
  const need = (n: number) => {
    if (p + n > pkl.length) throw refuse("truncated pickle");
    const at = p;
    p += n;
    return at;
  };
  const pop = (): Value => {
    const v = stack.pop();
    if (v === undefined || v instanceof Mark) throw refuse("malformed pickle (stack underflow)");
    return v;
  };
  const popMark = (): Value[] => {
    const items: Value[] = [];
    for (;;) {
      const v = stack.pop();
      if (v === undefined) throw refuse("malformed pickle (no mark)");
      if (v instanceof Mark) return items.reverse();
      items.push(v);
    }
  };
  const top = (): Value => {
    const v = stack[stack.length - 1];
    if (v === undefined || v instanceof Mark) throw refuse("malformed pickle (stack underflow)");
    return v;
  };
  const put = (key: number) => {
    if (memo.size >= MAX_MEMO) throw refuse("too many memo entries");
    memo.set(key, top());
  };
  const get = (key: number) => {
    const v = memo.get(key);
    if (v === undefined) throw refuse(`memo key ${key} missing`);
    stack.push(v);
  };
  const text = (n: number) => pkl.toString("utf8", need(n), p);
  const global = (module: string, name: string) => {
    const qualified = `${module}.${name}`;
    if (!ALLOWED.has(qualified)) {
      throw refuse(
        `global ${qualified} is not allowed (only the tensor rebuild functions, storage types and OrderedDict that torch.save writes for a state dict)`,
      );
    }
    stack.push(new Global(qualified));
  };
  const setItems = (dict: Value, pairs: Value[]) => {
    if (!(dict instanceof Dict) || pairs.length % 2 !== 0) throw refuse("SETITEMS on something that is not a dict");
    for (let i = 0; i < pairs.length; i += 2) dict.entries.set(pairs[i], pairs[i + 1]);
  };

  for (;;) {
    const at = need(1);
    const op = pkl[at] as number;
    switch (op) {
      case 0x80: // PROTO
        need(1);
        break;
      case 0x95: // FRAME
        need(8);
        break;
      case 0x2e: {
        // STOP
        return stateDict(pop(), refuse);
      }
      case 0x28: // MARK
        stack.push(new Mark());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Dict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new Tuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(new Tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new Tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(new Tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new Tuple([pop(), b, c]));
        break;
      }
      case 0x64: {
        // DICT
        const d = new Dict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) throw refuse("APPEND to something that is not a list");
        list.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw refuse("APPENDS to something that is not a list");
        list.push(...items);
        break;
      }
      case 0x71: // BINPUT
        put(pkl[need(1)] as number);
        break;
      case 0x72: // LONG_BINPUT
        put(pkl.readUInt32LE(need(4)));
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x68: // BINGET
        get(pkl[need(1)] as number);
        break;
      case 0x6a: // LONG_BINGET
        get(pkl.readUInt32LE(need(4)));
        break;
      case 0x30: // POP
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4a: // BININT
        stack.push(pkl.readInt32LE(need(4)));
        break;
      case 0x4b: // BININT1
        stack.push(pkl[need(1)] as number);
        break;
      case 0x4d: // BININT2
        stack.push(pkl.readUInt16LE(need(2)));
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        const n = pkl[need(1)] as number;
        if (n > 8) throw refuse(`integer of ${n} bytes`);
        const bytes = pkl.subarray(need(n), p);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] as number);
        if (n > 0 && ((bytes[n - 1] as number) & 0x80) !== 0) v -= 1n << BigInt(8 * n);
        stack.push(Number.isSafeInteger(Number(v)) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT
        stack.push(pkl.readDoubleBE(need(8)));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x58: // BINUNICODE
        stack.push(text(pkl.readUInt32LE(need(4))));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(pkl[need(1)] as number));
        break;
      case 0x8d: {
        // BINUNICODE8
        const n = Number(pkl.readBigUInt64LE(need(8)));
        stack.push(text(n));
        break;
      }
      case 0x43: // SHORT_BINBYTES
        stack.push(Buffer.from(pkl.subarray(need(pkl[need(1)] as number), p)));
        break;
      case 0x42: // BINBYTES
        stack.push(Buffer.from(pkl.subarray(need(pkl.readUInt32LE(need(4))), p)));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const end1 = pkl.indexOf(0x0a, p);
        const end2 = end1 < 0 ? -1 : pkl.indexOf(0x0a, end1 + 1);
        if (end2 < 0) throw refuse("truncated GLOBAL");
        const module = pkl.toString("utf8", p, end1);
        const name = pkl.toString("utf8", end1 + 1, end2);
        p = end2 + 1;
        global(module, name);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw refuse("STACK_GLOBAL of non-strings");
        global(module, name);
        break;
      }
      case 0x51: {
        // BINPERSID: ("storage", torch.<Type>Storage, key, location, numel)
        const pid = pop();
        stack.push(persistentStorage(pid, refuse));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args, refuse));
        break;
      }
      case 0x62: {
        // BUILD: only an OrderedDict's attributes (state_dict()._metadata), which are ignored.
        const state = pop();
        if (!(top() instanceof Dict) || !(state instanceof Dict || state instanceof Tuple || state === null))
          throw refuse("BUILD on something other than an OrderedDict");
        break;
      }
      default:
        throw refuse(
          `pickle opcode 0x${op.toString(16).padStart(2, "0")}${OPCODE_NAMES[op] ? ` (${OPCODE_NAMES[op]})` : ""} at byte ${at} is not allowed`,
        );
    }
  }
}

function persistentStorage(pid: Value, refuse: (what: string) => UsageError): Storage {
  const items = pid instanceof Tuple ? pid.items : [];
  const [kind, type, key, , numel] = items;
  if (items.length !== 5 || kind !== "storage") throw refuse("persistent id is not a storage reference");
  if (!(type instanceof Global) || !type.qualified.startsWith("torch.") || !type.qualified.endsWith("Storage"))
    throw refuse("storage reference without a storage type");
  const dtype = STORAGE_DTYPES[type.qualified.slice("torch.".length)] as string;
  if (typeof key !== "string" || !/^[0-9A-Za-z_]+$/.test(key))
    throw refuse(`storage key ${String(key)} is not a plain name`);
  if (typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0)
    throw refuse(`storage ${key}: element count ${String(numel)}`);
  return new Storage({ key, dtype, numel });
}

function call(fn: Value, args: Value, refuse: (what: string) => UsageError): Value {
  if (!(fn instanceof Global) || !CALLABLE.has(fn.qualified)) {
    throw refuse(`call of ${fn instanceof Global ? fn.qualified : "a non-function"} is not allowed`);
  }
  const a = args instanceof Tuple ? args.items : undefined;
  if (!a) throw refuse(`${fn.qualified}: arguments are not a tuple`);
  switch (fn.qualified) {
    case "collections.OrderedDict":
      if (a.length !== 0) throw refuse("OrderedDict with arguments");
      return new Dict();
    case "torch._utils._rebuild_parameter": {
      const [data] = a;
      if (!(data instanceof Tensor)) throw refuse("_rebuild_parameter of something that is not a tensor");
      return data;
    }
    default: {
      // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      // _rebuild_tensor(storage, storage_offset, size, stride)
      const [storage, offset, size, stride] = a;
      if (!(storage instanceof Storage)) throw refuse(`${fn.qualified}: first argument is not a storage`);
      const ints = (v: Value | undefined) =>
        v instanceof Tuple && v.items.every((x) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0)
          ? (v.items as number[])
          : undefined;
      const shape = ints(size);
      const strides = ints(stride);
      if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0 || !shape || !strides)
        throw refuse(`${fn.qualified}: offset, size or stride malformed`);
      return new Tensor({ storage: storage.value, storageOffset: offset, shape, stride: strides });
    }
  }
}

function stateDict(root: Value, refuse: (what: string) => UsageError): PickledTensor[] {
  if (!(root instanceof Dict)) throw refuse("the pickle is not a state dict (a dict of tensors)");
  const tensors: PickledTensor[] = [];
  for (const [name, value] of root.entries) {
    if (typeof name !== "string") throw refuse("a state dict key is not a string");
    if (!(value instanceof Tensor)) throw refuse(`${name}: not a tensor (only flat state dicts are read)`);
    tensors.push({ name, ...value.value });
  }
  return tensors;
}
