// Poller: a libuv uv_poll_t on Node's own event loop watching one fd for readability.
//
//   const p = new Poller(fd, (err) => { ... });  // err undefined => readable
//   p.ref(); p.unref(); p.stop(); p.active
//
// The callback runs on the main (JS) thread via napi_make_callback, so microtasks and
// nextTicks queued by it are drained as for any other I/O callback. On POLLERR (for a
// TUN fd: the interface was deleted) the handle is closed first and the callback gets
// an Error with code 'EBADF'; stop() afterwards is a no-op. A live Poller keeps itself
// from being garbage collected; stop() releases it and closes the handle, after which
// nothing of it keeps the process alive. stop() does not close the fd.
#include "common.h"

#include <uv.h>

namespace weft {

// The uv handle and what its callbacks need, allocated separately from the Poller so it
// can outlive the JS object until libuv has finished closing it.
struct PollHandle {
  uv_poll_t poll;
  class Poller* owner;                       // null once the Poller let go of it
  napi_async_cleanup_hook_handle hook;       // env teardown hook (removed on close)
};

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Class(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {
                           InstanceMethod<&Poller::JsStop>("stop"),
                           InstanceMethod<&Poller::JsRef>("ref"),
                           InstanceMethod<&Poller::JsUnref>("unref"),
                           InstanceAccessor<&Poller::JsActive>("active"),
                           InstanceAccessor<&Poller::JsFd>("fd"),
                       });
  }

  explicit Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    int64_t fd;
    if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd)) return;
    if (info.Length() < 2 || !info[1].IsFunction()) {
      ThrowType(env, "callback must be a function");
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "napi_get_uv_event_loop failed").ThrowAsJavaScriptException();
      return;
    }
    napi_value resource_name = Napi::String::New(env, "WeftPoller");
    if (napi_async_init(env, Value(), resource_name, &async_) != napi_ok) {
      Napi::Error::New(env, "napi_async_init failed").ThrowAsJavaScriptException();
      return;
    }
    fd_ = static_cast<int>(fd);
    auto* h = new PollHandle{};
    int r = uv_poll_init(loop, &h->poll, fd_);
    if (r != 0) {
      delete h;
      ThrowErrno(env, -r, "uv_poll_init");
      return;
    }
    h->poll.data = h;
    h->owner = this;
    r = uv_poll_start(&h->poll, UV_READABLE, OnPoll);
    if (r != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), OnClose);
      ThrowErrno(env, -r, "uv_poll_start");
      return;
    }
    // On env teardown (worker exit) close the handle and keep the env (and this addon's
    // code) alive until libuv has run the close callback.
    if (napi_add_async_cleanup_hook(env, OnEnvTeardown, h, &h->hook) != napi_ok) h->hook = nullptr;
    handle_ = h;
    cb_ = Napi::Persistent(info[1].As<Napi::Function>());
    Ref();  // keep the wrapper alive while the handle is open
  }

  ~Poller() override {
    CloseHandle();
    if (async_ != nullptr) {
      napi_async_destroy(env_, async_);
      async_ = nullptr;
    }
  }

 private:
  static void OnClose(uv_handle_t* uvh) {
    auto* h = static_cast<PollHandle*>(uvh->data);
    if (h->hook != nullptr) napi_remove_async_cleanup_hook(h->hook);
    delete h;
  }

  static void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg) {
    auto* h = static_cast<PollHandle*>(arg);
    h->hook = hook;
    if (h->owner != nullptr) h->owner->handle_ = nullptr;
    h->owner = nullptr;
    uv_poll_stop(&h->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), OnClose);
  }

  // Stops and closes the uv handle (the fd stays open). Safe to call repeatedly.
  void CloseHandle() {
    if (handle_ == nullptr) return;
    PollHandle* h = handle_;
    handle_ = nullptr;
    h->owner = nullptr;
    uv_poll_stop(&h->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), OnClose);
  }

  // Closes the handle and drops the self-reference and callback (JS-facing stop).
  void Release() {
    bool was_open = handle_ != nullptr;
    CloseHandle();
    if (was_open) {
      cb_.Reset();
      Unref();
    }
  }

  static void OnPoll(uv_poll_t* uvh, int status, int events) {
    auto* h = static_cast<PollHandle*>(uvh->data);
    if (h->owner == nullptr) return;
    h->owner->Dispatch(status);
  }

  void Dispatch(int status) {
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    Napi::Function fn = cb_.Value();
    // Keep the JS object (and thus `this`) alive for the duration of the call even if the
    // callback stops us (which drops our self-reference).
    Napi::Object self = Value();
    Napi::Value arg = env.Undefined();
    if (status < 0) {
      arg = MakeErrnoError(env, -status, "poll", "fd error or hangup").Value();
      Release();  // libuv already stopped the handle on POLLERR; close it for good
    }
    napi_value argv[1] = {arg};
    napi_value result;
    napi_make_callback(env, async_, self, fn, 1, argv, &result);
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value JsStop(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }
  Napi::Value JsRef(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
    return info.This();
  }
  Napi::Value JsUnref(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
    return info.This();
  }
  Napi::Value JsActive(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), handle_ != nullptr); }
  Napi::Value JsFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

  napi_env env_;
  napi_async_context async_ = nullptr;
  PollHandle* handle_ = nullptr;
  int fd_ = -1;
  Napi::FunctionReference cb_;
};

void InitPoll(Napi::Env env, Napi::Object exports) { exports.Set("Poller", Poller::Class(env)); }

}  // namespace weft
