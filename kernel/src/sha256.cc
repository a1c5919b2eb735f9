#include "sha256.h"

#include <openssl/evp.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace expo {
namespace {

struct Span {
  const std::uint8_t* data;
  std::size_t size;
};

class Sha256Worker : public Napi::AsyncWorker {
 public:
  Sha256Worker(Napi::Env env, std::vector<Span> spans, std::vector<Napi::Reference<Napi::Value>> owners)
      : Napi::AsyncWorker(env, "expo.sha256"),
        deferred_(Napi::Promise::Deferred::New(env)),
        spans_(std::move(spans)),
        owners_(std::move(owners)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned int length = 0;
    bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
    for (const Span& s : spans_) ok = ok && EVP_DigestUpdate(ctx, s.data, s.size) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, digest_, &length) == 1 && length == sizeof(digest_);
    EVP_MD_CTX_free(ctx);
    if (!ok) SetError("llm-expo: SHA-256 failed in OpenSSL");
  }

  void OnOK() override { deferred_.Resolve(Napi::Buffer<std::uint8_t>::Copy(Env(), digest_, sizeof(digest_))); }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<Span> spans_;
  // Keeps the buffers alive until the hash is done.
  std::vector<Napi::Reference<Napi::Value>> owners_;
  std::uint8_t digest_[32] = {};
};

}  // namespace

Napi::Value Sha256(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsArray()) {
    throw Napi::TypeError::New(env, "sha256: expected an array of Uint8Array");
  }
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<Span> spans;
  std::vector<Napi::Reference<Napi::Value>> owners;
  for (std::uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value v = list[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "sha256: element " + std::to_string(i) + " is not a Uint8Array");
    }
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    spans.push_back({a.Data(), a.ByteLength()});
    owners.push_back(Napi::Persistent(v));
  }
  auto* worker = new Sha256Worker(env, std::move(spans), std::move(owners));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace expo
