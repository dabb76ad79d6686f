// BLAKE2s (RFC 7693) and the HMAC/HKDF over it that WireGuard's Noise uses, for the
// handshake path: one call per MAC or per KDF instead of a JS hash object per HMAC.
// Primitives only; which keys and inputs go in stays in src/crypto/blake2s.ts.
//
//   blake2s(out /* 1..32 bytes */, key|null /* <= 32 */, a, b?, c?): void
//     keyed or plain BLAKE2s of a ‖ b ‖ c, digest length out.length (WireGuard's MAC is
//     out.length 16 with a key, HASH is 32 without).
//   hmacBlake2s(out /* 32 */, key, msg): void           RFC 2104, 64-byte block.
//   hkdfBlake2s(out /* 32, 64 or 96 */, key, input): void
//     WireGuard's KDF1/2/3: τ0 = HMAC(key, input), τi = HMAC(τ0, τi-1 ‖ i), out = τ1 ‖ τ2 ‖ τ3.
#include "common.h"

namespace weft {

namespace {

const uint32_t kIv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                         0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};
const uint8_t kSigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};
const size_t kBlock = 64;
const size_t kHash = 32;

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
inline uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

struct State {
  uint32_t h[8];
  uint32_t t0, t1;
  uint8_t buf[kBlock];
  size_t buflen;
  size_t outlen;
};

#define G(a, b, c, d, x, y)   \
  a = a + b + (x);            \
  d = Rotr(d ^ a, 16);        \
  c = c + d;                  \
  b = Rotr(b ^ c, 12);        \
  a = a + b + (y);            \
  d = Rotr(d ^ a, 8);         \
  c = c + d;                  \
  b = Rotr(b ^ c, 7);

void Compress(State* s, const uint8_t* block, bool last) {
  uint32_t m[16], v[16];
  for (int i = 0; i < 16; i++) m[i] = Load32(block + 4 * i);
  for (int i = 0; i < 8; i++) v[i] = s->h[i];
  for (int i = 0; i < 8; i++) v[8 + i] = kIv[i];
  v[12] ^= s->t0;
  v[13] ^= s->t1;
  if (last) v[14] = ~v[14];
  for (int r = 0; r < 10; r++) {
    const uint8_t* z = kSigma[r];
    G(v[0], v[4], v[8], v[12], m[z[0]], m[z[1]]);
    G(v[1], v[5], v[9], v[13], m[z[2]], m[z[3]]);
    G(v[2], v[6], v[10], v[14], m[z[4]], m[z[5]]);
    G(v[3], v[7], v[11], v[15], m[z[6]], m[z[7]]);
    G(v[0], v[5], v[10], v[15], m[z[8]], m[z[9]]);
    G(v[1], v[6], v[11], v[12], m[z[10]], m[z[11]]);
    G(v[2], v[7], v[8], v[13], m[z[12]], m[z[13]]);
    G(v[3], v[4], v[9], v[14], m[z[14]], m[z[15]]);
  }
  for (int i = 0; i < 8; i++) s->h[i] ^= v[i] ^ v[8 + i];
}
#undef G

inline void AddCounter(State* s, size_t n) {
  s->t0 += static_cast<uint32_t>(n);
  if (s->t0 < n) s->t1++;
}

// The last block is compressed by Final (with the final flag), so a full buffer waits
// here until more input arrives.
void Update(State* s, const uint8_t* in, size_t len) {
  if (len == 0) return;
  size_t fill = kBlock - s->buflen;
  if (len > fill) {
    memcpy(s->buf + s->buflen, in, fill);
    AddCounter(s, kBlock);
    Compress(s, s->buf, false);
    s->buflen = 0;
    in += fill;
    len -= fill;
    while (len > kBlock) {
      AddCounter(s, kBlock);
      Compress(s, in, false);
      in += kBlock;
      len -= kBlock;
    }
  }
  memcpy(s->buf + s->buflen, in, len);
  s->buflen += len;
}

void Init(State* s, size_t outlen, const uint8_t* key, size_t keylen) {
  for (int i = 0; i < 8; i++) s->h[i] = kIv[i];
  s->h[0] ^= 0x01010000u ^ static_cast<uint32_t>(keylen << 8) ^ static_cast<uint32_t>(outlen);
  s->t0 = s->t1 = 0;
  s->buflen = 0;
  s->outlen = outlen;
  if (keylen > 0) {
    uint8_t block[kBlock] = {0};
    memcpy(block, key, keylen);
    Update(s, block, kBlock);
    memset(block, 0, sizeof block);
  }
}

void Final(State* s, uint8_t* out) {
  AddCounter(s, s->buflen);
  memset(s->buf + s->buflen, 0, kBlock - s->buflen);
  Compress(s, s->buf, true);
  uint8_t full[kHash];
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 4; j++) full[4 * i + j] = static_cast<uint8_t>(s->h[i] >> (8 * j));
  memcpy(out, full, s->outlen);
  memset(full, 0, sizeof full);
  memset(s, 0, sizeof *s);
}

// HMAC with the inner and outer states keyed once (KDF3 reuses τ0's for three HMACs).
struct Hmac {
  State inner, outer;
};

void HmacKey(Hmac* m, const uint8_t* key, size_t keylen) {
  uint8_t k[kBlock] = {0};
  if (keylen > kBlock) {
    State s;
    Init(&s, kHash, nullptr, 0);
    Update(&s, key, keylen);
    Final(&s, k);
  } else {
    memcpy(k, key, keylen);
  }
  uint8_t pad[kBlock];
  for (size_t i = 0; i < kBlock; i++) pad[i] = k[i] ^ 0x36;
  Init(&m->inner, kHash, nullptr, 0);
  Update(&m->inner, pad, kBlock);
  for (size_t i = 0; i < kBlock; i++) pad[i] = k[i] ^ 0x5c;
  Init(&m->outer, kHash, nullptr, 0);
  Update(&m->outer, pad, kBlock);
  memset(k, 0, sizeof k);
  memset(pad, 0, sizeof pad);
}

// One HMAC from keyed states (copied, so the key serves again).
void HmacRun(const Hmac* m, const uint8_t* a, size_t alen, const uint8_t* b, size_t blen, uint8_t out[kHash]) {
  State s = m->inner;
  Update(&s, a, alen);
  Update(&s, b, blen);
  uint8_t inner[kHash];
  Final(&s, inner);
  s = m->outer;
  Update(&s, inner, kHash);
  Final(&s, out);
  memset(inner, 0, sizeof inner);
}

bool OptBytes(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t** data, size_t* len) {
  *data = nullptr;
  *len = 0;
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return true;
  return ArgBytes(info, i, name, data, len);
}

Napi::Value Blake2s(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *out, *key, *a, *b, *c;
  size_t outlen, keylen, alen, blen, clen;
  if (!ArgBytes(info, 0, "out", &out, &outlen) || !OptBytes(info, 1, "key", &key, &keylen) ||
      !ArgBytes(info, 2, "a", &a, &alen) || !OptBytes(info, 3, "b", &b, &blen) || !OptBytes(info, 4, "c", &c, &clen))
    return env.Undefined();
  if (outlen < 1 || outlen > kHash) return ThrowType(env, "out must be 1..32 bytes");
  if (keylen > kHash) return ThrowType(env, "key must be at most 32 bytes");
  State s;
  Init(&s, outlen, key, keylen);
  Update(&s, a, alen);
  Update(&s, b, blen);
  Update(&s, c, clen);
  Final(&s, out);
  return env.Undefined();
}

// (out, key, input), the arguments of both HMAC and HKDF.
struct KeyedArgs {
  uint8_t *out, *key, *in;
  size_t outlen, keylen, inlen;
};

bool ArgKeyed(const Napi::CallbackInfo& info, KeyedArgs* a) {
  return ArgBytes(info, 0, "out", &a->out, &a->outlen) && ArgBytes(info, 1, "key", &a->key, &a->keylen) &&
         ArgBytes(info, 2, "input", &a->in, &a->inlen);
}

Napi::Value HmacBlake2s(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeyedArgs a;
  if (!ArgKeyed(info, &a)) return env.Undefined();
  if (a.outlen != kHash) return ThrowType(env, "out must be 32 bytes");
  Hmac m;
  HmacKey(&m, a.key, a.keylen);
  HmacRun(&m, a.in, a.inlen, nullptr, 0, a.out);
  memset(&m, 0, sizeof m);
  return env.Undefined();
}

Napi::Value HkdfBlake2s(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeyedArgs a;
  if (!ArgKeyed(info, &a)) return env.Undefined();
  const size_t outlen = a.outlen;
  uint8_t* out = a.out;
  if (outlen != kHash && outlen != 2 * kHash && outlen != 3 * kHash) return ThrowType(env, "out must be 32, 64 or 96 bytes");
  Hmac m;
  uint8_t prk[kHash];
  HmacKey(&m, a.key, a.keylen);
  HmacRun(&m, a.in, a.inlen, nullptr, 0, prk);
  HmacKey(&m, prk, kHash);
  for (size_t i = 0; i < outlen / kHash; i++) {
    const uint8_t n = static_cast<uint8_t>(i + 1);
    if (i == 0)
      HmacRun(&m, &n, 1, nullptr, 0, out);
    else
      HmacRun(&m, out + (i - 1) * kHash, kHash, &n, 1, out + i * kHash);
  }
  memset(&m, 0, sizeof m);
  memset(prk, 0, sizeof prk);
  return env.Undefined();
}

}  // namespace

void InitBlake2s(Napi::Env env, Napi::Object exports) {
  exports.Set("blake2s", Napi::Function::New(env, Blake2s, "blake2s"));
  exports.Set("hmacBlake2s", Napi::Function::New(env, HmacBlake2s, "hmacBlake2s"));
  exports.Set("hkdfBlake2s", Napi::Function::New(env, HkdfBlake2s, "hkdfBlake2s"));
}

}  // namespace weft
