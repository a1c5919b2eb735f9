// SHA-256 of a list of buffers on the libuv pool, with the OpenSSL that Node itself links: hashing a
// 64 MiB part takes tens of milliseconds, too long for the JavaScript thread when several units are
// in flight.
#pragma once

#include <napi.h>

namespace expo {

/** sha256(buffers: Uint8Array[]): Promise<Buffer> (32 bytes). */
Napi::Value Sha256(const Napi::CallbackInfo& info);

}  // namespace expo
