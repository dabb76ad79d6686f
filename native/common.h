// Shared helpers for the weft_native addon. The addon is deliberately small: syscalls
// and batching only, no protocol logic. Errors are thrown as JS Errors whose `code`
// is the errno name (e.g. 'EPERM'), with `errno` and `syscall` set like Node's own.
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace weft {

const char* ErrnoName(int err);

// Throws (sets a pending exception on env) and returns an undefined Value for `return`.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail = "");
Napi::Value ThrowType(Napi::Env env, const std::string& msg);
Napi::Error MakeErrnoError(Napi::Env env, int err, const char* syscall, const std::string& detail = "");

// Argument helpers: return false (with a pending TypeError) on bad input.
bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi, int64_t* out);
bool ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t** data, size_t* len);
bool ArgU32Array(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t** data, size_t* len);
bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out);

// The (fd, buf, offsets, lengths, count) prefix shared by every batched write/send:
// validated, with count within both arrays and every packet inside buf.
struct WriteBatch {
  int fd;
  uint8_t* buf;
  size_t buflen;
  uint32_t* offsets;
  uint32_t* lengths;
  size_t count;
};
bool ArgWriteBatch(const Napi::CallbackInfo& info, WriteBatch* out);

void InitPoll(Napi::Env env, Napi::Object exports);
void InitTun(Napi::Env env, Napi::Object exports);
void InitUdp(Napi::Env env, Napi::Object exports);
void InitUdpGro(Napi::Env env, Napi::Object exports);
void InitOffload(Napi::Env env, Napi::Object exports);
void InitAead(Napi::Env env, Napi::Object exports);
void InitBlake2s(Napi::Env env, Napi::Object exports);
void InitX25519(Napi::Env env, Napi::Object exports);

}  // namespace weft
