// weft_native: entry point and shared helpers (see common.h).
#include <sched.h>
#include "common.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pwd.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif
#include <unistd.h>
#include <uv.h>

#include <vector>

namespace weft {

const char* ErrnoName(int err) {
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 32)
  const char* n = strerrorname_np(err);
  if (n != nullptr) return n;
#endif
#endif
  return uv_err_name(-err);  // libuv codes are negated errnos on Unix
}

Napi::Error MakeErrnoError(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  std::string msg = std::string(syscall) + " failed: " + ErrnoName(err) + " (" + strerror(err) + ")";
  if (!detail.empty()) msg += " [" + detail + "]";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  MakeErrnoError(env, err, syscall, detail).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError e = Napi::TypeError::New(env, msg);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool ArgWriteBatch(const Napi::CallbackInfo& info, WriteBatch* out) {
  int64_t fd, count;
  size_t nlen, noff;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd) || !ArgBytes(info, 1, "buf", &out->buf, &out->buflen) ||
      !ArgU32Array(info, 2, "offsets", &out->offsets, &noff) || !ArgU32Array(info, 3, "lengths", &out->lengths, &nlen) ||
      !ArgInt(info, 4, "count", 0, UINT32_MAX, &count))
    return false;
  out->fd = static_cast<int>(fd);
  out->count = static_cast<size_t>(count);
  if (out->count > nlen || out->count > noff) {
    ThrowType(info.Env(), "count exceeds offsets/lengths");
    return false;
  }
  for (size_t i = 0; i < out->count; i++) {
    size_t off = out->offsets[i], len = out->lengths[i];
    if (len != 0 && (off > out->buflen || len > out->buflen - off)) {  // empty slots touch no memory
      ThrowType(info.Env(), "packet " + std::to_string(i) + " out of buffer bounds");
      return false;
    }
  }
  return true;
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi, int64_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    ThrowType(info.Env(), std::string(name) + " must be a number");
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != static_cast<double>(static_cast<int64_t>(d))) {
    Napi::RangeError e = Napi::RangeError::New(info.Env(), std::string(name) + " out of range");
    e.Set("code", Napi::String::New(info.Env(), "ERR_OUT_OF_RANGE"));
    e.ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t** data, size_t* len) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(info.Env(), std::string(name) + " must be a Uint8Array or Buffer");
    return false;
  }
  Napi::Uint8Array a = info[i].As<Napi::Uint8Array>();
  *data = a.Data();
  *len = a.ByteLength();
  return true;
}

bool ArgU32Array(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t** data, size_t* len) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    ThrowType(info.Env(), std::string(name) + " must be a Uint32Array");
    return false;
  }
  Napi::Uint32Array a = info[i].As<Napi::Uint32Array>();
  *data = a.Data();
  *len = a.ElementLength();
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    ThrowType(info.Env(), std::string(name) + " must be a string");
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  return true;
}

// close(fd): closes a descriptor opened by this addon. EINTR is treated as closed (Linux semantics).
static Napi::Value Close(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd)) return info.Env().Undefined();
  if (::close(static_cast<int>(fd)) != 0 && errno != EINTR) return ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

#ifdef __linux__
// peerCred(fd): the uid, gid and pid of the process at the other end of a connected unix
// socket (SO_PEERCRED, fixed at connect time), and the uid's user name when it has one.
static Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd)) return env.Undefined();
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return ThrowErrno(env, errno, "getsockopt");
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  struct passwd pw;
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  out.Set("user", getpwuid_r(cred.uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr ? Napi::Value(Napi::String::New(env, pw.pw_name)) : env.Null());
  return out;
}
#endif

// glibc keeps what threads free in their own arenas (V8's compiler and GC threads
// among them) instead of returning it: an idle agent hands the free pages back now and
// then (src/cli/agent-memory.ts). True when memory was released; elsewhere a no-op.
static Napi::Value TrimMemory(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

// Lets another thread that is runnable on this core run now (sched_yield): the
// handshake worker calls it between initiations.
static Napi::Value YieldCpu(const Napi::CallbackInfo& info) {
  sched_yield();
  return info.Env().Undefined();
}

#ifdef __linux__
// The kernel's struct sched_attr (sched_setattr(2)); glibc declares neither it nor the calls.
struct SchedAttr {
  uint32_t size, policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime, deadline, period;
  uint32_t utilMin, utilMax;
};

// Asks the scheduler for slices of `ns` for the calling thread (Linux >= 6.12, EEVDF's
// custom slice: a shorter one gets an earlier deadline, so the thread runs sooner when it
// wakes). Only the slice changes: policy and nice are read back and kept, and what the
// thread starts later begins at the defaults. True when the kernel took it; older kernels
// ignore the field, which reads back as something else.
static Napi::Value SetSchedSlice(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "setSchedSlice(ns): ns must be a number").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  uint64_t ns = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  SchedAttr attr{};
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return Napi::Boolean::New(info.Env(), false);
  if (attr.policy != SCHED_OTHER && attr.policy != SCHED_BATCH) return Napi::Boolean::New(info.Env(), false);
  attr.size = sizeof attr;
  // SCHED_FLAG_RESET_ON_FORK: what this thread starts (threads, and the processes it runs,
  // like wireguard-go for --backend) begins at the kernel's defaults again.
  attr.flags = 0x01;
  attr.runtime = ns;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return Napi::Boolean::New(info.Env(), false);
  SchedAttr back{};
  if (syscall(SYS_sched_getattr, 0, &back, sizeof back, 0) != 0) return Napi::Boolean::New(info.Env(), false);
  return Napi::Boolean::New(info.Env(), back.runtime == ns);
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("yieldCpu", Napi::Function::New(env, YieldCpu, "yieldCpu"));
  exports.Set("trimMemory", Napi::Function::New(env, TrimMemory, "trimMemory"));
#ifdef __linux__
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("setSchedSlice", Napi::Function::New(env, SetSchedSlice, "setSchedSlice"));
#endif
  InitPoll(env, exports);
  InitAead(env, exports);
  InitBlake2s(env, exports);
  InitX25519(env, exports);
#ifdef __linux__
  InitTun(env, exports);
  InitUdp(env, exports);
  InitUdpGro(env, exports);
#endif
  return exports;
}

}  // namespace weft

static Napi::Object WeftInit(Napi::Env env, Napi::Object exports) { return weft::Init(env, exports); }

NODE_API_MODULE(weft_native, WeftInit)
