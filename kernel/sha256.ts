import { loadAddon } from "./addon.js";

/** SHA-256 of the concatenated chunks, computed on the libuv pool (Node's own OpenSSL): the JS thread stays free. */
export function sha256(chunks: Uint8Array[]): Promise<Buffer> {
  return loadAddon().sha256(chunks);
}
