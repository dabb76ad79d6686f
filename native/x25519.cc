// X25519 (RFC 7748) from the OpenSSL inside the node binary: its ladder takes 24 µs here
// against libsodium's 28, and the handshake worker spends most of its time in three of
// them per initiation. (For public keys libsodium's base-point table is the faster, so
// that stays in keys.ts.) Like the AEAD (aead.cc), the function is looked up with dlsym,
// so an addon on a Node without it still loads: `x25519` is then not exported and
// keys.ts keeps libsodium.
//
//   x25519(out32, priv32, pub32): boolean   false when the result is all zeros (a low-order point)
#include "common.h"

#include <dlfcn.h>

namespace weft {

typedef int (*X25519Fn)(uint8_t out[32], const uint8_t priv[32], const uint8_t peer[32]);

static X25519Fn x25519 = nullptr;

static bool Key(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t** out) {
  size_t len;
  if (!ArgBytes(info, i, name, out, &len)) return false;
  if (len != 32) {
    ThrowType(info.Env(), std::string(name) + " must be 32 bytes");
    return false;
  }
  return true;
}

static Napi::Value X25519(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *out, *priv, *pub;
  if (!Key(info, 0, "out", &out) || !Key(info, 1, "priv", &priv) || !Key(info, 2, "pub", &pub)) return env.Undefined();
  return Napi::Boolean::New(env, x25519(out, priv, pub) == 1);
}

void InitX25519(Napi::Env env, Napi::Object exports) {
  x25519 = reinterpret_cast<X25519Fn>(dlsym(RTLD_DEFAULT, "ossl_x25519"));
  if (x25519) exports.Set("x25519", Napi::Function::New(env, X25519, "x25519"));
}

}  // namespace weft
