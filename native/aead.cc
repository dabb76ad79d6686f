// Batched ChaCha20-Poly1305 (RFC 8439) for WireGuard transport messages.
//
// The primitives are OpenSSL's own assembly (ChaCha20_ctr32, Poly1305_*), which Node's
// statically linked OpenSSL exports from the node binary. They are looked up with dlsym
// at load, so an addon built against a Node without them still loads: `aeadAvailable`
// is then false and the engine keeps its per-packet sodium path. Only the AEAD
// construction (one-time Poly1305 key, padding, lengths) is written here.
//
//   aeadAvailable: boolean
//   aeadSeal(key, nonce12, ad|null, plaintext, out /* plaintext.length + 16 */): void
//   aeadOpen(key, nonce12, ad|null, ciphertext, out /* ciphertext.length - 16 */): boolean
//   sealBatch(src, srcOffsets, srcLengths, count, dst, dstSlotSize, dstFirst, dstLengths,
//             key, remoteIndex, counter, mtu): void
//     Packet k (plaintext at src[srcOffsets[k]], srcLengths[k] bytes) becomes a transport
//     message at dst[(dstFirst+k)*dstSlotSize]: header (type 4, remoteIndex, counter+k),
//     the plaintext zero-padded per WireGuard, sealed, tag. dstLengths[dstFirst+k] gets
//     its length (0 if it would not fit the slot: dropped).
//   openBatch(buf, offsets, lengths, count, key, ok: Uint8Array): number
//     Message k at buf[offsets[k]] (lengths[k] >= 32 bytes, header included) is
//     authenticated with the counter in its header and decrypted in place (plaintext at
//     offsets[k]+16). ok[k] = 1 when authentic; returns how many were.
#include "common.h"

#include <dlfcn.h>

namespace weft {

typedef void (*ChaChaFn)(unsigned char* out, const unsigned char* in, size_t len, const unsigned int key[8],
                         const unsigned int counter[4]);
typedef size_t (*PolySizeFn)(void);
typedef void (*PolyInitFn)(void* ctx, const unsigned char key[32]);
typedef void (*PolyUpdateFn)(void* ctx, const unsigned char* in, size_t len);
typedef void (*PolyFinalFn)(void* ctx, unsigned char mac[16]);

static ChaChaFn chacha = nullptr;
static PolyInitFn poly_init = nullptr;
static PolyUpdateFn poly_update = nullptr;
static PolyFinalFn poly_final = nullptr;
static bool available = false;

static const size_t kPolyCtxMax = 512;
alignas(64) static thread_local unsigned char poly_ctx[kPolyCtxMax];
static const unsigned char kZero[64] = {0};

static void Resolve() {
  chacha = reinterpret_cast<ChaChaFn>(dlsym(RTLD_DEFAULT, "ChaCha20_ctr32"));
  auto size = reinterpret_cast<PolySizeFn>(dlsym(RTLD_DEFAULT, "Poly1305_ctx_size"));
  poly_init = reinterpret_cast<PolyInitFn>(dlsym(RTLD_DEFAULT, "Poly1305_Init"));
  poly_update = reinterpret_cast<PolyUpdateFn>(dlsym(RTLD_DEFAULT, "Poly1305_Update"));
  poly_final = reinterpret_cast<PolyFinalFn>(dlsym(RTLD_DEFAULT, "Poly1305_Final"));
  available = chacha && size && poly_init && poly_update && poly_final && size() <= kPolyCtxMax;
}

static inline void LoadKey(const uint8_t* key, unsigned int k[8]) {
  for (int i = 0; i < 8; i++)
    k[i] = static_cast<unsigned int>(key[4 * i]) | static_cast<unsigned int>(key[4 * i + 1]) << 8 |
           static_cast<unsigned int>(key[4 * i + 2]) << 16 | static_cast<unsigned int>(key[4 * i + 3]) << 24;
}

static inline unsigned int Le32(const uint8_t* p) {
  return static_cast<unsigned int>(p[0]) | static_cast<unsigned int>(p[1]) << 8 | static_cast<unsigned int>(p[2]) << 16 |
         static_cast<unsigned int>(p[3]) << 24;
}

static inline void Put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Poly1305 tag over (ad, ct) per RFC 8439 §2.8, with the one-time key from block 0.
static void Tag(const unsigned int k[8], const unsigned int ctr[4], const uint8_t* ad, size_t adlen, const uint8_t* ct,
                size_t ctlen, uint8_t tag[16]) {
  unsigned char block0[64];
  unsigned int c0[4] = {0, ctr[1], ctr[2], ctr[3]};
  chacha(block0, kZero, 64, k, c0);
  poly_init(poly_ctx, block0);
  if (adlen) {
    poly_update(poly_ctx, ad, adlen);
    if (adlen & 15) poly_update(poly_ctx, kZero, 16 - (adlen & 15));
  }
  if (ctlen) {
    poly_update(poly_ctx, ct, ctlen);
    if (ctlen & 15) poly_update(poly_ctx, kZero, 16 - (ctlen & 15));
  }
  uint8_t lens[16];
  Put64(lens, adlen);
  Put64(lens + 8, ctlen);
  poly_update(poly_ctx, lens, 16);
  poly_final(poly_ctx, tag);
  memset(block0, 0, sizeof block0);
}

static inline bool TagEqual(const uint8_t* a, const uint8_t* b) {
  unsigned d = 0;
  for (int i = 0; i < 16; i++) d |= a[i] ^ b[i];
  return d == 0;
}

// In-place or out-of-place seal: ct (len bytes) then tag at ct+len.
static void Seal(const unsigned int k[8], const unsigned int ctr[4], const uint8_t* ad, size_t adlen, const uint8_t* pt,
                 size_t len, uint8_t* ct) {
  unsigned int c1[4] = {1, ctr[1], ctr[2], ctr[3]};
  if (len) chacha(ct, pt, len, k, c1);
  Tag(k, ctr, ad, adlen, ct, len, ct + len);
}

static bool Open(const unsigned int k[8], const unsigned int ctr[4], const uint8_t* ad, size_t adlen, const uint8_t* ct,
                 size_t len, uint8_t* pt) {
  uint8_t tag[16];
  Tag(k, ctr, ad, adlen, ct, len, tag);
  if (!TagEqual(tag, ct + len)) return false;
  unsigned int c1[4] = {1, ctr[1], ctr[2], ctr[3]};
  if (len) chacha(pt, ct, len, k, c1);
  return true;
}

static bool CheckAvailable(Napi::Env env) {
  if (available) return true;
  Napi::Error e = Napi::Error::New(env, "ChaCha20-Poly1305 primitives not found in this Node binary");
  e.Set("code", Napi::String::New(env, "ERR_NATIVE_AEAD_UNAVAILABLE"));
  e.ThrowAsJavaScriptException();
  return false;
}

static bool KeyArg(const Napi::CallbackInfo& info, size_t i, unsigned int k[8]) {
  uint8_t* key;
  size_t keylen;
  if (!ArgBytes(info, i, "key", &key, &keylen)) return false;
  if (keylen != 32) {
    ThrowType(info.Env(), "key must be 32 bytes");
    return false;
  }
  LoadKey(key, k);
  return true;
}

static bool NonceAd(const Napi::CallbackInfo& info, unsigned int ctr[4], uint8_t** ad, size_t* adlen) {
  uint8_t* nonce;
  size_t nlen;
  if (!ArgBytes(info, 1, "nonce", &nonce, &nlen)) return false;
  if (nlen != 12) {
    ThrowType(info.Env(), "nonce must be 12 bytes");
    return false;
  }
  ctr[0] = 0;
  ctr[1] = Le32(nonce);
  ctr[2] = Le32(nonce + 4);
  ctr[3] = Le32(nonce + 8);
  *ad = nullptr;
  *adlen = 0;
  if (info.Length() > 2 && !info[2].IsNull() && !info[2].IsUndefined()) return ArgBytes(info, 2, "ad", ad, adlen);
  return true;
}

static Napi::Value AeadSeal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckAvailable(env)) return env.Undefined();
  unsigned int k[8], ctr[4];
  uint8_t *ad, *pt, *out;
  size_t adlen, len, outlen;
  if (!KeyArg(info, 0, k) || !NonceAd(info, ctr, &ad, &adlen) || !ArgBytes(info, 3, "plaintext", &pt, &len) ||
      !ArgBytes(info, 4, "out", &out, &outlen))
    return env.Undefined();
  if (outlen != len + 16) return ThrowType(env, "out must be plaintext.length + 16 bytes");
  Seal(k, ctr, ad, adlen, pt, len, out);
  return env.Undefined();
}

static Napi::Value AeadOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckAvailable(env)) return env.Undefined();
  unsigned int k[8], ctr[4];
  uint8_t *ad, *ct, *out;
  size_t adlen, len, outlen;
  if (!KeyArg(info, 0, k) || !NonceAd(info, ctr, &ad, &adlen) || !ArgBytes(info, 3, "ciphertext", &ct, &len) ||
      !ArgBytes(info, 4, "out", &out, &outlen))
    return env.Undefined();
  if (len < 16 || outlen != len - 16) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, Open(k, ctr, ad, adlen, ct, len - 16, out));
}

static const size_t kHeader = 16;
static const size_t kTag = 16;

static inline size_t PaddedLen(size_t len, size_t mtu) {
  if (len == 0) return 0;
  size_t last = len;
  if (mtu > 0 && last > mtu) last %= mtu;
  size_t padded = (last + 15) & ~static_cast<size_t>(15);
  if (mtu > 0 && padded > mtu) padded = mtu;
  return len + (padded - last);
}

static Napi::Value SealBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckAvailable(env)) return env.Undefined();
  uint8_t *src, *dst;
  size_t srclen, dstlen, nsoff, nslen, ndlen;
  uint32_t *soff, *slen, *dlen;
  int64_t count, slot, first, ridx, mtu;
  unsigned int k[8];
  if (!ArgBytes(info, 0, "src", &src, &srclen) || !ArgU32Array(info, 1, "srcOffsets", &soff, &nsoff) ||
      !ArgU32Array(info, 2, "srcLengths", &slen, &nslen) || !ArgInt(info, 3, "count", 0, UINT32_MAX, &count) ||
      !ArgBytes(info, 4, "dst", &dst, &dstlen) || !ArgInt(info, 5, "dstSlotSize", 64, UINT32_MAX, &slot) ||
      !ArgInt(info, 6, "dstFirst", 0, UINT32_MAX, &first) || !ArgU32Array(info, 7, "dstLengths", &dlen, &ndlen) ||
      !KeyArg(info, 8, k) || !ArgInt(info, 9, "remoteIndex", 0, UINT32_MAX, &ridx))
    return env.Undefined();
  if (info.Length() <= 10 || !info[10].IsNumber()) return ThrowType(env, "counter must be a number");
  double cd = info[10].As<Napi::Number>().DoubleValue();
  if (!(cd >= 0 && cd <= 9007199254740991.0)) return ThrowType(env, "counter out of range");
  if (!ArgInt(info, 11, "mtu", 0, 65535, &mtu)) return env.Undefined();
  uint64_t counter = static_cast<uint64_t>(cd);
  size_t n = static_cast<size_t>(count);
  if (n > nsoff || n > nslen) return ThrowType(env, "count exceeds srcOffsets/srcLengths");
  if (static_cast<size_t>(first) + n > ndlen) return ThrowType(env, "dstLengths too short");
  const size_t slotz = static_cast<size_t>(slot);
  if ((static_cast<size_t>(first) + n) * slotz > dstlen) return ThrowType(env, "dst too small");
  for (size_t i = 0; i < n; i++) {
    size_t off = soff[i], len = slen[i];
    uint8_t* p = dst + (static_cast<size_t>(first) + i) * slotz;
    size_t padded = PaddedLen(len, static_cast<size_t>(mtu));
    uint64_t c = counter + i;
    if (off > srclen || len > srclen - off || kHeader + padded + kTag > slotz) {
      dlen[first + i] = 0;
      continue;
    }
    uint8_t* body = p + kHeader;
    if (body != src + off) memmove(body, src + off, len);
    memset(body + len, 0, padded - len);
    p[0] = 4;
    p[1] = p[2] = p[3] = 0;
    uint32_t r = static_cast<uint32_t>(ridx);
    p[4] = static_cast<uint8_t>(r);
    p[5] = static_cast<uint8_t>(r >> 8);
    p[6] = static_cast<uint8_t>(r >> 16);
    p[7] = static_cast<uint8_t>(r >> 24);
    Put64(p + 8, c);
    unsigned int ctr[4] = {0, 0, static_cast<unsigned int>(c), static_cast<unsigned int>(c >> 32)};
    Seal(k, ctr, nullptr, 0, body, padded, body);
    dlen[first + i] = static_cast<uint32_t>(kHeader + padded + kTag);
  }
  return env.Undefined();
}

static Napi::Value OpenBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckAvailable(env)) return env.Undefined();
  uint8_t *buf, *ok;
  size_t buflen, noff, nlen, nok;
  uint32_t *offs, *lens;
  int64_t count;
  unsigned int k[8];
  if (!ArgBytes(info, 0, "buf", &buf, &buflen) || !ArgU32Array(info, 1, "offsets", &offs, &noff) ||
      !ArgU32Array(info, 2, "lengths", &lens, &nlen) || !ArgInt(info, 3, "count", 0, UINT32_MAX, &count) ||
      !KeyArg(info, 4, k) || !ArgBytes(info, 5, "ok", &ok, &nok))
    return env.Undefined();
  size_t n = static_cast<size_t>(count);
  if (n > noff || n > nlen || n > nok) return ThrowType(env, "count exceeds offsets/lengths/ok");
  size_t good = 0;
  for (size_t i = 0; i < n; i++) {
    size_t off = offs[i], len = lens[i];
    ok[i] = 0;
    if (off > buflen || len > buflen - off || len < kHeader + kTag) continue;
    uint8_t* p = buf + off;
    unsigned int ctr[4] = {0, 0, Le32(p + 8), Le32(p + 12)};
    if (Open(k, ctr, nullptr, 0, p + kHeader, len - kHeader - kTag, p + kHeader)) {
      ok[i] = 1;
      good++;
    }
  }
  return Napi::Number::New(env, static_cast<double>(good));
}

void InitAead(Napi::Env env, Napi::Object exports) {
  Resolve();
  exports.Set("aeadAvailable", Napi::Boolean::New(env, available));
  exports.Set("aeadSeal", Napi::Function::New(env, AeadSeal, "aeadSeal"));
  exports.Set("aeadOpen", Napi::Function::New(env, AeadOpen, "aeadOpen"));
  exports.Set("sealBatch", Napi::Function::New(env, SealBatch, "sealBatch"));
  exports.Set("openBatch", Napi::Function::New(env, OpenBatch, "openBatch"));
}

}  // namespace weft
