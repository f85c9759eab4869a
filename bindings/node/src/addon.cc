// N-API binding of libphicrypt (node-addon-api). Every call that runs crypto or
// touches files runs on the libuv thread pool (Napi::AsyncWorker, i.e.
// napi_async_work) and resolves a Promise; the client handle is thread-safe in C.
// Plaintext crosses as Extended JSON text inside this file; the C buffers that held
// it are wiped by phicrypt_buf_dispose, and the std::string copies are wiped here.
#include <napi.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

extern "C" {
#include <phicrypt.h>
}

namespace {

void wipe(std::string &s)
{
    volatile char *p = s.empty() ? nullptr : &s[0];
    for (size_t i = 0; i < s.size(); i++)
        p[i] = 0;
    s.clear();
}

std::string take(phicrypt_buf *b)
{
    std::string s(b->data ? reinterpret_cast<const char *>(b->data) : "", b->data ? b->len : 0);
    phicrypt_buf_dispose(b);
    return s;
}

// The handle and the calls in flight: close() frees it only when none is left
// (then the last call's completion frees it and this struct).
struct Handle {
    phicrypt_t *ph = nullptr;
    int active = 0;
    bool closing = false;
    void release()
    {
        if (--active == 0 && closing) {
            phicrypt_free(ph);
            delete this;
        }
    }
    void close()
    {
        closing = true;
        if (active == 0) {
            phicrypt_free(ph);
            delete this;
        }
    }
};

// Drops a handle whose open failed from the environment's registry (below).
void Registry_forget(Napi::Env env, uint32_t id);

// A call on the thread pool: Run() fills result or (code, message); OnOK/OnError settle the promise.
class Work : public Napi::AsyncWorker {
  public:
    Work(Napi::Env env, Handle *h) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), h_(h)
    {
        if (h_)
            h_->active++;
    }
    ~Work() override
    {
        wipe(result_);
        for (auto &s : args_)
            wipe(s);
    }
    Napi::Promise Queue_()
    {
        Queue();
        return deferred_.Promise();
    }
    std::vector<std::string> args_;
    unsigned long num_ = 0;

  protected:
    void Fail(int rc, const char *msg)
    {
        code_ = rc;
        SetError(msg ? msg : phicrypt_strerror(rc));
    }
    void FailOn(int rc) { Fail(rc, phicrypt_errmsg(h_ ? h_->ph : nullptr)); }
    void OnOK() override
    {
        Napi::Env env = Env();
        if (h_)
            h_->release();
        deferred_.Resolve(Result(env));
    }
    void OnError(const Napi::Error &e) override
    {
        Napi::Env env = Env();
        if (h_)
            h_->release();
        Napi::Object err = Napi::Object::New(env);
        err.Set("code", Napi::Number::New(env, code_));
        err.Set("message", e.Message());
        deferred_.Reject(err);
    }
    virtual Napi::Value Result(Napi::Env env) { return Napi::String::New(env, result_); }
    Napi::Promise::Deferred deferred_;
    Handle *h_;
    std::string result_;
    int code_ = PHICRYPT_EINTERNAL;
};

class OpenWork : public Work {
  public:
    OpenWork(Napi::Env env, Handle *h, bool is_path, uint32_t id) : Work(env, h), is_path_(is_path), id_(id) {}
    void Execute() override
    {
        phicrypt_t *ph = nullptr;
        int rc = is_path_ ? phicrypt_new_from_file(&ph, args_[0].c_str()) : phicrypt_new(&ph, args_[0].c_str());
        if (rc != 0)
            return Fail(rc, phicrypt_errmsg(nullptr));
        h_->ph = ph;
    }
    void OnError(const Napi::Error &e) override
    {
        Napi::Env env = Env();
        Registry_forget(env, id_);
        Work::OnError(e);
    }
    Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, id_); }

  private:
    bool is_path_;
    uint32_t id_;
};

enum Op { ENCRYPT, DECRYPT, TOKENIZE, DETOKENIZE, PSEUDONYMIZE, CREATE_DATA_KEY, CREATE_TOKEN_KEY, ENCRYPT_COMMAND,
          ENCRYPT_DOCUMENT, DECRYPT_DOCUMENT, DEID_FILE, REID_FILE, DECRYPT_DOCUMENT_AS };

const char *opt(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }

// deid/reid of a file with a policy (JSON text): the report JSON in *out.
int deid_file(phicrypt_t *ph, phicrypt_buf *out, bool reid, const std::vector<std::string> &a, unsigned long threads)
{
    phicrypt_deid_policy *p = nullptr;
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    const std::string &f = a[3];
    o.format = f == "jsonl" ? PHICRYPT_DEID_JSONL : f == "json" ? PHICRYPT_DEID_JSON : f == "bson" ? PHICRYPT_DEID_BSON
               : f == "csv" ? PHICRYPT_DEID_CSV : PHICRYPT_DEID_AUTO;
    o.threads = static_cast<unsigned>(threads);
    int rc = phicrypt_deid_policy_new(&p, ph, a[0].c_str());
    if (rc == 0)
        rc = (reid ? phicrypt_reid_file : phicrypt_deid_file)(ph, out, p, a[1].c_str(), a[2].c_str(), &o);
    phicrypt_deid_policy_free(p);
    return rc;
}

// Extended JSON document -> fn(BSON) -> Extended JSON (canonical keeps types exact for the driver).
template <typename F> int via_bson(phicrypt_t *ph, phicrypt_buf *out, const std::string &json, int canonical, F fn)
{
    phicrypt_buf in = PHICRYPT_BUF_INIT, res = PHICRYPT_BUF_INIT;
    int rc = phicrypt_json_to_bson(ph, &in, json.data(), json.size());
    if (rc == 0)
        rc = fn(in.data, in.len, &res);
    if (rc == 0)
        rc = phicrypt_bson_to_json(ph, out, res.data, res.len, canonical);
    phicrypt_buf_dispose(&in);
    phicrypt_buf_dispose(&res);
    return rc;
}

class CallWork : public Work {
  public:
    CallWork(Napi::Env env, Handle *h, Op op) : Work(env, h), op_(op) {}
    void Execute() override
    {
        phicrypt_buf out = PHICRYPT_BUF_INIT;
        int rc = 0;
        phicrypt_t *ph = h_->ph;
        switch (op_) {
        case ENCRYPT: { // args: value_json, algorithm, key_alt_name, key_id (16 raw bytes or "")
            phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
            o.algorithm = args_[1] == "random" ? PHICRYPT_ALG_RANDOM : PHICRYPT_ALG_DETERMINISTIC;
            if (!args_[2].empty())
                o.key_alt_name = args_[2].c_str();
            if (args_[3].size() == 16)
                o.key_id = reinterpret_cast<const uint8_t *>(args_[3].data());
            rc = phicrypt_encrypt_json(ph, &out, args_[0].c_str(), &o);
            break;
        }
        case DECRYPT: rc = phicrypt_decrypt_json(ph, &out, args_[0].c_str(), 0); break;
        case TOKENIZE:
        case DETOKENIZE: { // args: key, value, format, context
            phicrypt_token_opts o = PHICRYPT_TOKEN_OPTS_INIT;
            if (!args_[2].empty())
                o.format = args_[2].c_str();
            if (!args_[3].empty())
                o.context = args_[3].c_str();
            o.key_version = static_cast<uint32_t>(num_);
            rc = (op_ == TOKENIZE ? phicrypt_tokenize : phicrypt_detokenize)(ph, &out, args_[0].c_str(),
                                                                              args_[1].data(), args_[1].size(), &o);
            break;
        }
        case PSEUDONYMIZE: { // args: key, value, context
            phicrypt_pseudonym_opts o = PHICRYPT_PSEUDONYM_OPTS_INIT;
            if (!args_[2].empty())
                o.context = args_[2].c_str();
            rc = phicrypt_pseudonymize(ph, &out, args_[0].c_str(), args_[1].data(), args_[1].size(), &o);
            break;
        }
        case CREATE_DATA_KEY: { // args: provider, alt name ("" for none)
            phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
            const char *names[1] = { args_[1].c_str() };
            uint8_t id[PHICRYPT_KEY_ID_BYTES];
            o.provider = args_[0].c_str();
            if (!args_[1].empty()) {
                o.alt_names = names;
                o.alt_names_count = 1;
            }
            if ((rc = phicrypt_datakey_create(ph, id, &o)) == 0)
                result_.assign(reinterpret_cast<const char *>(id), sizeof id);
            break;
        }
        case ENCRYPT_COMMAND: // args: db, command (Extended JSON)
            rc = via_bson(ph, &out, args_[1], 1, [&](const uint8_t *d, size_t n, phicrypt_buf *r) {
                return phicrypt_encrypt_command(ph, r, args_[0].c_str(), d, n);
            });
            break;
        case ENCRYPT_DOCUMENT: // args: ns, document
            rc = via_bson(ph, &out, args_[1], 1, [&](const uint8_t *d, size_t n, phicrypt_buf *r) {
                return phicrypt_encrypt_document(ph, r, args_[0].c_str(), d, n);
            });
            break;
        case DECRYPT_DOCUMENT: // args: document; relaxed out (plain JSON values where they fit)
            rc = via_bson(ph, &out, args_[0], 0, [&](const uint8_t *d, size_t n, phicrypt_buf *r) {
                return phicrypt_decrypt_document(ph, r, d, n);
            });
            break;
        case DEID_FILE:
        case REID_FILE: // args: policy JSON, in path, out path, format
            rc = deid_file(ph, &out, op_ == REID_FILE, args_, num_);
            break;
        case DECRYPT_DOCUMENT_AS: { // args: actor, role, purpose, subject, ns, document
            phicrypt_session se = PHICRYPT_SESSION_INIT;
            se.actor = args_[0].c_str();
            se.role = args_[1].c_str();
            se.purpose = args_[2].c_str();
            se.subject = opt(args_[3]);
            rc = via_bson(ph, &out, args_[5], 0, [&](const uint8_t *d, size_t n, phicrypt_buf *r) {
                return phicrypt_decrypt_document_as(ph, r, &se, opt(args_[4]), d, n);
            });
            break;
        }
        case CREATE_TOKEN_KEY: { // args: name, algorithm
            phicrypt_keyring_algorithm a = args_[1] == "siv"    ? PHICRYPT_KEYRING_SIV
                                           : args_[1] == "hmac" ? PHICRYPT_KEYRING_HMAC
                                                                : PHICRYPT_KEYRING_FF1;
            rc = phicrypt_keyring_create(ph, args_[0].c_str(), a);
            break;
        }
        }
        if (rc != 0) {
            phicrypt_buf_dispose(&out);
            return FailOn(rc);
        }
        if (op_ != CREATE_DATA_KEY && op_ != CREATE_TOKEN_KEY)
            result_ = take(&out);
    }
    Napi::Value Result(Napi::Env env) override
    {
        if (op_ == CREATE_DATA_KEY)
            return Napi::Buffer<char>::Copy(env, result_.data(), result_.size());
        if (op_ == CREATE_TOKEN_KEY)
            return env.Undefined();
        return Napi::String::New(env, result_);
    }

  private:
    Op op_;
};

// The open handles of this Node.js environment, by number. JavaScript holds the
// number, not a wrapped native object: a wrapped object's finalizer, deferred
// when the garbage collector finds it, could run during the environment's
// teardown and crash Node.js 20 there (seen as SIGSEGV in
// DrainFinalizerQueue). index.js closes unreachable clients through a
// FinalizationRegistry instead; the rest are freed when the environment ends.
struct Registry {
    std::unordered_map<uint32_t, Handle *> open;
    uint32_t next = 1;
    ~Registry()
    {
        for (auto &kv : open)
            kv.second->close();
    }
};

Registry &registry(Napi::Env env) { return *env.GetInstanceData<Registry>(); }

void Registry_forget(Napi::Env env, uint32_t id)
{
    Registry &r = registry(env);
    auto it = r.open.find(id);
    if (it != r.open.end()) {
        Handle *h = it->second;
        r.open.erase(it);
        h->closing = true; // freed by release() when this failed open's work settles
    }
}

Napi::Error closed_error(Napi::Env env)
{
    Napi::Error e = Napi::Error::New(env, "the client is closed");
    e.Set("code", Napi::Number::New(env, PHICRYPT_EINVAL));
    return e;
}

// open(text, isPath) -> Promise<number>: the handle's number.
Napi::Value Open(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    Registry &r = registry(env);
    Handle *h = new Handle();
    uint32_t id = r.next++;
    r.open[id] = h;
    auto *w = new OpenWork(env, h, info[1].As<Napi::Boolean>().Value(), id);
    w->args_.push_back(info[0].As<Napi::String>().Utf8Value());
    return w->Queue_();
}

// call(id, op, [strings or Buffers...], number) -> Promise<string|Buffer|undefined>
Napi::Value Call(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    Registry &r = registry(env);
    auto it = r.open.find(info[0].As<Napi::Number>().Uint32Value());
    if (it == r.open.end() || !it->second->ph || it->second->closing)
        throw closed_error(env);
    auto *w = new CallWork(env, it->second, static_cast<Op>(info[1].As<Napi::Number>().Int32Value()));
    Napi::Array a = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value v = a.Get(i);
        if (v.IsBuffer()) {
            auto b = v.As<Napi::Buffer<char>>();
            w->args_.emplace_back(b.Data(), b.Length());
        } else {
            w->args_.push_back(v.As<Napi::String>().Utf8Value());
        }
    }
    if (info.Length() > 3 && info[3].IsNumber())
        w->num_ = static_cast<unsigned long>(info[3].As<Napi::Number>().Int64Value());
    return w->Queue_();
}

// close(id): frees the handle now, or when the last call in flight ends. Idempotent.
Napi::Value Close(const Napi::CallbackInfo &info)
{
    Registry &r = registry(info.Env());
    auto it = r.open.find(info[0].As<Napi::Number>().Uint32Value());
    if (it != r.open.end()) {
        Handle *h = it->second;
        r.open.erase(it);
        h->close();
    }
    return info.Env().Undefined();
}

Napi::Value Version(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), phicrypt_version()); }

Napi::Value Strerror(const Napi::CallbackInfo &info)
{
    return Napi::String::New(info.Env(), phicrypt_strerror(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value LocalKeyFile(const Napi::CallbackInfo &info)
{
    std::string path = info[0].As<Napi::String>().Utf8Value();
    int rc = phicrypt_local_key_file_create(path.c_str());
    if (rc != 0) {
        Napi::Error e = Napi::Error::New(info.Env(), phicrypt_errmsg(nullptr));
        e.Set("code", Napi::Number::New(info.Env(), rc));
        throw e;
    }
    return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
    if (phicrypt_init() != 0)
        Napi::Error::New(env, "phicrypt_init failed").ThrowAsJavaScriptException();
    env.SetInstanceData(new Registry());
    exports.Set("open", Napi::Function::New(env, Open));
    exports.Set("call", Napi::Function::New(env, Call));
    exports.Set("close", Napi::Function::New(env, Close));
    exports.Set("version", Napi::Function::New(env, Version));
    exports.Set("strerror", Napi::Function::New(env, Strerror));
    exports.Set("createLocalKeyFile", Napi::Function::New(env, LocalKeyFile));
    return exports;
}

} // namespace

NODE_API_MODULE(phicrypt, Init)
