// N-API binding of libphicrypt (node-addon-api). Every call that runs crypto or
// touches files runs on the libuv thread pool (Napi::AsyncWorker, i.e.
// napi_async_work) and resolves a Promise; the client handle is thread-safe in C.
// Plaintext crosses as Extended JSON text (or BSON bytes) inside this file; the C
// buffers that held it are wiped by phicrypt_buf_dispose, and the std::string
// copies are wiped here.
//
// Lifetime rules (teardown):
// - A Handle (the phicrypt_t and a count of calls in flight, open included) is
//   freed by whichever ends last: the JS wrapper (close() or its finalizer) or
//   the last call in flight. Nothing on the thread pool touches a freed Handle.
// - Only the main thread reads or writes Handle fields other than `ph` while a
//   call runs; `ph` is set on the main thread (after open completes) and only
//   read on the pool.
// - Promises are settled with the raw napi calls, whose failure (an environment
//   being torn down) is ignored instead of becoming a C++ exception that
//   node-addon-api would turn into a fatal error.
#include <napi.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
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

// The handle and the calls in flight.
struct Handle {
    phicrypt_t *ph = nullptr;
    int active = 0;       // calls queued or running (open included)
    bool closing = false; // close() was called: no new call; ph freed when active drops to 0
    bool orphan = false;  // the JS wrapper is gone: the last call deletes this Handle
    void acquire() { active++; }
    void release()
    {
        if (--active > 0)
            return;
        if ((closing || orphan) && ph) {
            phicrypt_free(ph);
            ph = nullptr;
        }
        if (orphan)
            delete this;
    }
};

enum Kind { K_STRING, K_BUFFER, K_NUMBER, K_BOOL, K_UNDEFINED };

// Reject with {code, message} (index.js makes the error class); failures are ignored: they
// only happen while the environment is torn down, when nobody can observe the promise.
void reject(napi_env env, napi_deferred d, int code, const std::string &message)
{
    napi_value msg, err, c;
    if (napi_create_string_utf8(env, message.c_str(), NAPI_AUTO_LENGTH, &msg) != napi_ok ||
        napi_create_object(env, &err) != napi_ok || napi_create_int32(env, code, &c) != napi_ok ||
        napi_set_named_property(env, err, "code", c) != napi_ok ||
        napi_set_named_property(env, err, "message", msg) != napi_ok)
        return;
    napi_reject_deferred(env, d, err);
}

// The outcome of a call with a progress callback: settled by the progress function's
// finalizer, i.e. after every queued progress call has run.
struct Pending {
    napi_deferred deferred;
    bool done = false, ok = false;
    std::string result; // the report (JSON text; no PHI)
    int code = PHICRYPT_EINTERNAL;
    std::string message = "the call did not complete";
};

// A call on the thread pool: Execute() fills result or (code, message); OnOK/OnError settle the promise.
class Work : public Napi::AsyncWorker {
  public:
    Work(Napi::Env env, Handle *h) : Napi::AsyncWorker(env), h_(h)
    {
        if (napi_create_promise(env, &deferred_, &promise_) != napi_ok)
            throw Napi::Error::New(env, "phicrypt: cannot create a promise");
        if (h_)
            h_->acquire();
    }
    ~Work() override
    {
        done();
        wipe(result_);
        for (auto &s : args_)
            wipe(s);
    }
    Napi::Value Start()
    {
        Queue(); // called from the JS call that made this work: promise_ is still in scope
        return Napi::Value(Env(), promise_);
    }
    std::vector<std::string> args_;
    std::vector<bool> isbuf_;
    std::vector<double> nums_;

  protected:
    void Fail(int rc, const char *msg)
    {
        code_ = rc;
        SetError(msg && *msg ? msg : phicrypt_strerror(rc));
    }
    void FailOn(int rc) { Fail(rc, phicrypt_errmsg(h_->ph)); }
    void done()
    {
        if (h_) {
            Handle *h = h_;
            h_ = nullptr;
            h->release();
        }
    }
    void OnOK() override
    {
        Napi::Env env = Env();
        Completed();
        done();
        if (Handover(true, ""))
            return;
        napi_value v = Result(env);
        napi_resolve_deferred(env, deferred_, v); // fails only while the environment is torn down
    }
    void OnError(const Napi::Error &e) override
    {
        Napi::Env env = Env();
        done();
        std::string msg = e.Message();
        if (Handover(false, msg))
            return;
        reject(env, deferred_, code_, msg);
    }
    virtual void Completed() {}
    // A call with a progress callback hands its outcome to the Pending (true); the others settle now.
    virtual bool Handover(bool, const std::string &) { return false; }
    virtual napi_value Result(Napi::Env env)
    {
        switch (kind_) {
        case K_BUFFER: return Napi::Buffer<char>::Copy(env, result_.data(), result_.size());
        case K_NUMBER: return Napi::Number::New(env, num_out_);
        case K_BOOL: return Napi::Boolean::New(env, bool_out_);
        case K_UNDEFINED: return env.Undefined();
        default: return Napi::String::New(env, result_);
        }
    }
    Handle *h_;
    napi_deferred deferred_ = nullptr;
    napi_value promise_ = nullptr;
    std::string result_;
    Kind kind_ = K_STRING;
    double num_out_ = 0;
    bool bool_out_ = false;
    int code_ = PHICRYPT_EINTERNAL;
};

// open: the new phicrypt_t is stored into the Handle on the main thread (OnOK), and
// freed here if the call never completes (environment torn down first).
class OpenWork : public Work {
  public:
    OpenWork(Napi::Env env, Handle *h, bool is_path) : Work(env, h), is_path_(is_path) {}
    ~OpenWork() override
    {
        if (opened_)
            phicrypt_free(opened_);
    }
    void Execute() override
    {
        int rc = is_path_ ? phicrypt_new_from_file(&opened_, args_[0].c_str()) : phicrypt_new(&opened_, args_[0].c_str());
        if (rc != 0) {
            opened_ = nullptr;
            return Fail(rc, phicrypt_errmsg(nullptr));
        }
    }
    void Completed() override
    {
        h_->ph = opened_;
        opened_ = nullptr;
    }
    napi_value Result(Napi::Env env) override { return env.Undefined(); }

  private:
    phicrypt_t *opened_ = nullptr;
    bool is_path_;
};

// The operations of Client.call(); index.js has the same numbers. `nargs` is the number of
// string/Buffer arguments each one needs, `nnums` of numbers (checked before anything is queued).
enum Op { ENCRYPT, DECRYPT, TOKENIZE, DETOKENIZE, PSEUDONYMIZE, CREATE_DATA_KEY, CREATE_TOKEN_KEY, ENCRYPT_COMMAND,
          ENCRYPT_DOCUMENT, DECRYPT_DOCUMENT, DEID_FILE, REID_FILE, DECRYPT_DOCUMENT_AS, DATAKEY_GET,
          DATAKEY_GET_BY_ALT_NAME, DATAKEY_LIST, DATAKEY_DELETE, DATAKEY_ADD_ALT_NAME, DATAKEY_REMOVE_ALT_NAME,
          DATAKEY_ID_BY_ALT_NAME, DATAKEY_REWRAP, ENCRYPT_BSON, DECRYPT_BSON, DECRYPT_JSON, ANALYZE_COMMAND, DECRYPT_AS,
          DETOKENIZE_AS, REID_FILE_AS, ACCESS_CHECK, AUDIT_VERIFY, AUDIT_DISCLOSURES, AUDIT_SUBJECT_ID, DEID_JSON,
          KEYRING_ROTATE, KEYRING_RETIRE, KEYRING_DESTROY, KEYRING_LIST, PSEUDONYM_VERIFY, OP_COUNT };

struct OpShape {
    int nargs; // minimum number of strings/Buffers (CREATE_DATA_KEY takes alt names after them)
    int nnums;
};
const OpShape SHAPES[OP_COUNT] = {
    { 4, 0 }, { 1, 0 }, { 5, 1 }, { 5, 1 }, { 3, 3 }, { 3, 0 }, { 2, 0 }, { 2, 0 }, { 2, 0 }, { 1, 0 },
    { 4, 2 }, { 4, 2 }, { 6, 0 }, { 1, 0 }, { 1, 0 }, { 0, 0 }, { 1, 0 }, { 2, 0 }, { 2, 0 }, { 1, 0 },
    { 3, 0 }, { 4, 0 }, { 1, 0 }, { 1, 1 }, { 2, 0 }, { 7, 0 }, { 11, 1 }, { 9, 2 }, { 6, 0 }, { 1, 0 },
    { 1, 1 }, { 1, 0 }, { 2, 0 }, { 1, 0 }, { 1, 1 }, { 1, 1 }, { 0, 0 }, { 4, 2 },
};

const char *opt(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }
const uint8_t *bytes(const std::string &s) { return reinterpret_cast<const uint8_t *>(s.data()); }

phicrypt_deid_format deid_format(const std::string &f)
{
    return f == "jsonl" ? PHICRYPT_DEID_JSONL : f == "json" ? PHICRYPT_DEID_JSON : f == "bson" ? PHICRYPT_DEID_BSON
           : f == "csv" ? PHICRYPT_DEID_CSV : PHICRYPT_DEID_AUTO;
}

// A session from args a[i..i+3]: actor, role, purpose, subject ("" for none).
phicrypt_session session_at(const std::vector<std::string> &a, size_t i)
{
    phicrypt_session se = PHICRYPT_SESSION_INIT;
    se.actor = a[i].c_str();
    se.role = a[i + 1].c_str();
    se.purpose = a[i + 2].c_str();
    se.subject = opt(a[i + 3]);
    return se;
}

// deid/reid of a file: a[p] policy JSON, a[p+1] in path, a[p+2] out path, a[p+3] format;
// n[0] threads, n[1] skip_bad. With a session (reid as a role): se and ns.
int deid_file(phicrypt_t *ph, phicrypt_buf *out, Op op, const std::vector<std::string> &a, size_t p,
              const std::vector<double> &n, const phicrypt_session *se, const char *ns,
              phicrypt_deid_progress_fn progress, void *progress_user)
{
    phicrypt_deid_policy *pol = nullptr;
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    o.format = deid_format(a[p + 3]);
    o.threads = static_cast<unsigned>(n[0]);
    o.skip_bad = n[1] != 0;
    o.progress = progress;
    o.progress_user = progress_user;
    int rc = phicrypt_deid_policy_new(&pol, ph, a[p].c_str());
    if (rc == 0) {
        const char *src = a[p + 1].c_str(), *dst = a[p + 2].c_str();
        if (op == REID_FILE_AS)
            rc = phicrypt_reid_file_as(ph, out, se, ns, pol, src, dst, &o);
        else
            rc = (op == REID_FILE ? phicrypt_reid_file : phicrypt_deid_file)(ph, out, pol, src, dst, &o);
    }
    phicrypt_deid_policy_free(pol);
    return rc;
}

// BSON bytes -> JSON text (canonical keeps types exact for the driver and for key documents).
int bson_json(phicrypt_t *ph, phicrypt_buf *out, phicrypt_buf *bson, int canonical)
{
    int rc = phicrypt_bson_to_json(ph, out, bson->data, bson->len, canonical);
    phicrypt_buf_dispose(bson);
    return rc;
}

class CallWork : public Work {
  public:
    CallWork(Napi::Env env, Handle *h, Op op) : Work(env, h), op_(op) {}
    ~CallWork() override
    {
        if (pending_) { // never completed (environment torn down): the finalizer rejects
            pending_ = nullptr;
            tsfn_.Release();
        }
    }

    // progress(records, bytesDone, bytesTotal) on the main thread, through a thread-safe
    // function; the promise is settled by its finalizer, after the last progress call.
    void SetProgress(Napi::Env env, Napi::Function fn)
    {
        auto p = std::make_unique<Pending>();
        p->deferred = deferred_;
        tsfn_ = Napi::ThreadSafeFunction::New(env, fn, "phicrypt-progress", 0, 1,
                                              [](Napi::Env e, Pending *p) {
                                                  if (p->ok)
                                                      napi_resolve_deferred(e, p->deferred,
                                                                            Napi::String::New(e, p->result));
                                                  else
                                                      reject(e, p->deferred, p->code, p->message);
                                                  wipe(p->result);
                                                  delete p;
                                              },
                                              p.get());
        pending_ = p.release(); // owned by the finalizer from here on
    }
    bool Handover(bool ok, const std::string &message) override
    {
        if (!pending_)
            return false;
        pending_->ok = ok;
        pending_->code = code_;
        pending_->message = message;
        pending_->result = result_;
        pending_ = nullptr;
        tsfn_.Release();
        return true;
    }
    // The library's progress callback (on the thread running Execute): at most ten calls a
    // second reach JavaScript, plus the first and the last.
    static void OnLibProgress(void *user, uint64_t records, uint64_t done, uint64_t total)
    {
        auto *self = static_cast<CallWork *>(user);
        auto now = std::chrono::steady_clock::now();
        bool last = total && done >= total;
        if (self->progress_calls_ && !last && now - self->progress_last_ < std::chrono::milliseconds(100))
            return;
        self->progress_calls_++;
        self->progress_last_ = now;
        auto *v = new std::array<double, 3>{ static_cast<double>(records), static_cast<double>(done),
                                             static_cast<double>(total) };
        if (self->tsfn_.BlockingCall(v, [](Napi::Env env, Napi::Function fn, std::array<double, 3> *a) {
                if (env != nullptr && fn != nullptr) {
                    try { // an exception from the callback is ignored: the file work goes on
                        fn.Call({ Napi::Number::New(env, (*a)[0]), Napi::Number::New(env, (*a)[1]),
                                  Napi::Number::New(env, (*a)[2]) });
                    } catch (const Napi::Error &) {
                    }
                }
                delete a;
            }) != napi_ok)
            delete v;
    }

    // A document argument: BSON bytes (a Buffer: the result is BSON bytes too) or Extended JSON
    // text (the result is Extended JSON text, canonical or relaxed).
    template <typename F> int doc(phicrypt_t *ph, phicrypt_buf *out, size_t i, int canonical, F fn)
    {
        if (isbuf_[i]) {
            kind_ = K_BUFFER;
            return fn(bytes(args_[i]), args_[i].size(), out);
        }
        phicrypt_buf in = PHICRYPT_BUF_INIT, res = PHICRYPT_BUF_INIT;
        int rc = phicrypt_json_to_bson(ph, &in, args_[i].data(), args_[i].size());
        if (rc == 0)
            rc = fn(in.data, in.len, &res);
        if (rc == 0)
            rc = phicrypt_bson_to_json(ph, out, res.data, res.len, canonical);
        phicrypt_buf_dispose(&in);
        phicrypt_buf_dispose(&res);
        return rc;
    }

    static phicrypt_encrypt_opts encrypt_opts(const std::vector<std::string> &a, size_t i)
    {
        phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
        o.algorithm = a[i] == "random" ? PHICRYPT_ALG_RANDOM : PHICRYPT_ALG_DETERMINISTIC;
        o.key_alt_name = opt(a[i + 1]);
        if (a[i + 2].size() == PHICRYPT_KEY_ID_BYTES)
            o.key_id = bytes(a[i + 2]);
        return o;
    }
    static phicrypt_token_opts token_opts(const std::vector<std::string> &a, size_t i, double version)
    {
        phicrypt_token_opts o = PHICRYPT_TOKEN_OPTS_INIT;
        o.format = opt(a[i]);
        o.context = opt(a[i + 1]);
        o.alphabet = opt(a[i + 2]);
        o.key_version = static_cast<uint32_t>(version);
        return o;
    }
    static phicrypt_pseudonym_opts pseudonym_opts(const std::string &context, const std::vector<double> &n)
    {
        phicrypt_pseudonym_opts o = PHICRYPT_PSEUDONYM_OPTS_INIT;
        o.context = opt(context);
        o.normalize = static_cast<unsigned>(n[0]);
        o.length = static_cast<size_t>(n[1]);
        o.key_version = static_cast<uint32_t>(n[2]);
        return o;
    }

    phicrypt_deid_progress_fn progress() const { return pending_ ? OnLibProgress : nullptr; }

    void Execute() override
    {
        phicrypt_buf out = PHICRYPT_BUF_INIT, bs = PHICRYPT_BUF_INIT;
        int rc = 0;
        phicrypt_t *ph = h_->ph;
        const auto &a = args_;
        switch (op_) {
        case ENCRYPT: { // value_json, algorithm, key_alt_name, key_id (16 raw bytes or "")
            phicrypt_encrypt_opts o = encrypt_opts(a, 1);
            rc = phicrypt_encrypt_json(ph, &out, a[0].c_str(), &o);
            break;
        }
        case ENCRYPT_BSON: { // {v: value} BSON, algorithm, key_alt_name, key_id
            phicrypt_encrypt_opts o = encrypt_opts(a, 1);
            kind_ = K_BUFFER;
            rc = phicrypt_encrypt(ph, &out, bytes(a[0]), a[0].size(), &o);
            break;
        }
        case DECRYPT: rc = phicrypt_decrypt_json(ph, &out, a[0].c_str(), 0); break;
        case DECRYPT_JSON: rc = phicrypt_decrypt_json(ph, &out, a[0].c_str(), nums_[0] != 0); break;
        case DECRYPT_BSON:
            kind_ = K_BUFFER;
            rc = phicrypt_decrypt(ph, &out, bytes(a[0]), a[0].size());
            break;
        case TOKENIZE:
        case DETOKENIZE: { // key, value, format, context, alphabet; version
            phicrypt_token_opts o = token_opts(a, 2, nums_[0]);
            rc = (op_ == TOKENIZE ? phicrypt_tokenize : phicrypt_detokenize)(ph, &out, a[0].c_str(), a[1].data(),
                                                                              a[1].size(), &o);
            break;
        }
        case PSEUDONYMIZE: { // key, value, context; normalize, length, version
            phicrypt_pseudonym_opts o = pseudonym_opts(a[2], nums_);
            rc = phicrypt_pseudonymize(ph, &out, a[0].c_str(), a[1].data(), a[1].size(), &o);
            break;
        }
        case PSEUDONYM_VERIFY: { // key, value, pseudonym, context; normalize, length
            phicrypt_pseudonym_opts o = pseudonym_opts(a[3], { nums_[0], nums_[1], 0 });
            kind_ = K_BOOL;
            rc = phicrypt_pseudonym_verify(ph, a[0].c_str(), a[1].data(), a[1].size(), a[2].c_str(), &o);
            bool_out_ = rc == 0;
            if (rc == PHICRYPT_EAUTH)
                rc = 0;
            break;
        }
        case CREATE_DATA_KEY: { // provider, master key JSON, key material, alt names...
            phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
            std::vector<const char *> names;
            for (size_t i = 3; i < a.size(); i++)
                names.push_back(a[i].c_str());
            uint8_t id[PHICRYPT_KEY_ID_BYTES];
            o.provider = a[0].c_str();
            o.master_key_json = opt(a[1]);
            if (!a[2].empty()) {
                o.key_material = bytes(a[2]);
                o.key_material_len = a[2].size();
            }
            if (!names.empty()) {
                o.alt_names = names.data();
                o.alt_names_count = names.size();
            }
            kind_ = K_BUFFER;
            if ((rc = phicrypt_datakey_create(ph, id, &o)) == 0)
                result_.assign(reinterpret_cast<const char *>(id), sizeof id);
            break;
        }
        case DATAKEY_GET:
            if ((rc = phicrypt_datakey_get(ph, &bs, bytes(a[0]))) == 0)
                rc = bson_json(ph, &out, &bs, 1);
            break;
        case DATAKEY_GET_BY_ALT_NAME:
            if ((rc = phicrypt_datakey_get_by_alt_name(ph, &bs, a[0].c_str())) == 0)
                rc = bson_json(ph, &out, &bs, 1);
            break;
        case DATAKEY_LIST:
            if ((rc = phicrypt_datakey_list(ph, &bs)) == 0)
                rc = bson_json(ph, &out, &bs, 1);
            break;
        case DATAKEY_DELETE:
            kind_ = K_UNDEFINED;
            rc = phicrypt_datakey_delete(ph, bytes(a[0]));
            break;
        case DATAKEY_ADD_ALT_NAME:
        case DATAKEY_REMOVE_ALT_NAME:
            kind_ = K_UNDEFINED;
            rc = (op_ == DATAKEY_ADD_ALT_NAME ? phicrypt_datakey_add_alt_name
                                              : phicrypt_datakey_remove_alt_name)(ph, bytes(a[0]), a[1].c_str());
            break;
        case DATAKEY_ID_BY_ALT_NAME: {
            uint8_t id[PHICRYPT_KEY_ID_BYTES];
            kind_ = K_BUFFER;
            if ((rc = phicrypt_datakey_id_by_alt_name(ph, id, a[0].c_str())) == 0)
                result_.assign(reinterpret_cast<const char *>(id), sizeof id);
            break;
        }
        case DATAKEY_REWRAP: { // filter JSON, provider, master key JSON ("" for NULL each)
            size_t n = 0;
            kind_ = K_NUMBER;
            rc = phicrypt_datakey_rewrap(ph, &n, opt(a[0]), opt(a[1]), opt(a[2]));
            num_out_ = static_cast<double>(n);
            break;
        }
        case ENCRYPT_COMMAND: // db, command
        case ANALYZE_COMMAND:
            rc = doc(ph, &out, 1, 1, [&](const uint8_t *d, size_t n, phicrypt_buf *r) {
                return (op_ == ENCRYPT_COMMAND ? phicrypt_encrypt_command : phicrypt_analyze_command)(ph, r, a[0].c_str(),
                                                                                                    d, n);
            });
            break;
        case ENCRYPT_DOCUMENT: // ns, document
            rc = doc(ph, &out, 1, 1, [&](const uint8_t *d, size_t n, phicrypt_buf *r) {
                return phicrypt_encrypt_document(ph, r, a[0].c_str(), d, n);
            });
            break;
        case DECRYPT_DOCUMENT: // document; relaxed out (plain JSON values where they fit)
            rc = doc(ph, &out, 0, 0, [&](const uint8_t *d, size_t n, phicrypt_buf *r) {
                return phicrypt_decrypt_document(ph, r, d, n);
            });
            break;
        case DEID_FILE:
        case REID_FILE: // policy JSON, in path, out path, format; threads, skip_bad
            rc = deid_file(ph, &out, op_, a, 0, nums_, nullptr, nullptr, progress(), this);
            break;
        case REID_FILE_AS: { // session (4), ns, policy, in, out, format; threads, skip_bad
            phicrypt_session se = session_at(a, 0);
            rc = deid_file(ph, &out, op_, a, 5, nums_, &se, opt(a[4]), progress(), this);
            break;
        }
        case DECRYPT_DOCUMENT_AS: { // session (4), ns, document
            phicrypt_session se = session_at(a, 0);
            rc = doc(ph, &out, 5, 0, [&](const uint8_t *d, size_t n, phicrypt_buf *r) {
                return phicrypt_decrypt_document_as(ph, r, &se, opt(a[4]), d, n);
            });
            break;
        }
        case DECRYPT_AS: { // session (4), ns, field, {"v": ciphertext} as Extended JSON
            phicrypt_session se = session_at(a, 0);
            rc = doc(ph, &out, 6, 0, [&](const uint8_t *d, size_t n, phicrypt_buf *r) {
                return phicrypt_decrypt_as(ph, r, &se, opt(a[4]), a[5].c_str(), d, n);
            });
            break;
        }
        case DETOKENIZE_AS: { // session (4), ns, field, key, token, format, context, alphabet; version
            phicrypt_session se = session_at(a, 0);
            phicrypt_token_opts o = token_opts(a, 8, nums_[0]);
            rc = phicrypt_detokenize_as(ph, &out, &se, opt(a[4]), a[5].c_str(), a[6].c_str(), a[7].data(), a[7].size(),
                                        &o);
            break;
        }
        case ACCESS_CHECK: { // session (4), ns, field
            phicrypt_session se = session_at(a, 0);
            kind_ = K_BOOL;
            rc = phicrypt_access_check(ph, &se, opt(a[4]), a[5].c_str());
            bool_out_ = rc == 0;
            if (rc == PHICRYPT_EACCESS)
                rc = 0;
            break;
        }
        case AUDIT_VERIFY: rc = phicrypt_audit_verify(ph, &out, opt(a[0])); break;
        case AUDIT_DISCLOSURES:
            if ((rc = phicrypt_audit_disclosures(ph, &bs, a[0].c_str(), static_cast<int64_t>(nums_[0]))) == 0)
                rc = bson_json(ph, &out, &bs, 0);
            break;
        case AUDIT_SUBJECT_ID: rc = phicrypt_audit_subject_id(ph, &out, a[0].c_str()); break;
        case DEID_JSON: { // policy JSON, document JSON
            phicrypt_deid_policy *pol = nullptr;
            if ((rc = phicrypt_deid_policy_new(&pol, ph, a[0].c_str())) == 0)
                rc = phicrypt_deid_json(ph, &out, pol, a[1].data(), a[1].size());
            phicrypt_deid_policy_free(pol);
            break;
        }
        case CREATE_TOKEN_KEY: { // name, algorithm
            phicrypt_keyring_algorithm alg = a[1] == "siv"    ? PHICRYPT_KEYRING_SIV
                                             : a[1] == "hmac" ? PHICRYPT_KEYRING_HMAC
                                                              : PHICRYPT_KEYRING_FF1;
            kind_ = K_UNDEFINED;
            rc = phicrypt_keyring_create(ph, a[0].c_str(), alg);
            break;
        }
        case KEYRING_ROTATE: {
            uint32_t v = 0;
            kind_ = K_NUMBER;
            rc = phicrypt_keyring_rotate(ph, &v, a[0].c_str());
            num_out_ = v;
            break;
        }
        case KEYRING_RETIRE:
        case KEYRING_DESTROY:
            kind_ = K_UNDEFINED;
            rc = (op_ == KEYRING_RETIRE ? phicrypt_keyring_retire : phicrypt_keyring_destroy)(
                ph, a[0].c_str(), static_cast<uint32_t>(nums_[0]));
            break;
        case KEYRING_LIST:
            if ((rc = phicrypt_keyring_list(ph, &bs)) == 0)
                rc = bson_json(ph, &out, &bs, 1);
            break;
        case OP_COUNT: rc = PHICRYPT_EINVAL; break;
        }
        phicrypt_buf_dispose(&bs);
        if (rc != 0) {
            phicrypt_buf_dispose(&out);
            return FailOn(rc);
        }
        if (out.data)
            result_ = take(&out);
    }

  private:
    Op op_;
    Pending *pending_ = nullptr;
    Napi::ThreadSafeFunction tsfn_;
    unsigned long progress_calls_ = 0;
    std::chrono::steady_clock::time_point progress_last_;
};

Napi::Error coded(Napi::Env env, int code, const char *msg)
{
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::Number::New(env, code));
    return e;
}

// The arguments of a client function after its leading handle number.
struct Args {
    const Napi::CallbackInfo &info;
    Napi::Value operator[](size_t i) const { return info[i + 1]; }
    size_t Length() const { return info.Length() > 0 ? info.Length() - 1 : 0; }
    Napi::Env Env() const { return info.Env(); }
};

// A client: JavaScript holds its number in this environment's registry (below), not a
// wrapped native object. A wrapped object's finalizer, deferred when the garbage collector
// finds it, could run during the environment's teardown and crash Node.js 20 there
// (SIGSEGV in DrainFinalizerQueue, 3 to 8 of 10 runs of the test file with
// MALLOC_PERTURB_ set). index.js releases unreachable clients through a
// FinalizationRegistry; what is left is released when the environment ends.
class Client {
  public:
    // Released (unreachable, or the environment ends): with calls in flight, the last
    // one frees the phicrypt_t and the Handle; the pool never sees a freed Handle.
    ~Client()
    {
        h_->orphan = true;
        if (h_->active == 0) {
            if (h_->ph)
                phicrypt_free(h_->ph);
            delete h_;
        }
    }

    // open(text, isPath) -> Promise<void>; once per client.
    Napi::Value Open(const Args &info)
    {
        Napi::Env env = info.Env();
        if (!info[0].IsString() || !info[1].IsBoolean())
            throw Napi::TypeError::New(env, "open(text, isPath)");
        if (h_->ph || h_->active || h_->closing)
            throw coded(env, PHICRYPT_EINVAL, "the client is already open (or closed)");
        std::string text = info[0].As<Napi::String>().Utf8Value();
        auto w = std::make_unique<OpenWork>(env, h_, info[1].As<Napi::Boolean>().Value());
        w->args_.push_back(std::move(text));
        return w.release()->Start();
    }
    // call(op, [strings or Buffers...], [numbers...]) -> Promise<string|Buffer|number|boolean|undefined>
    Napi::Value Call(const Args &info)
    {
        Napi::Env env = info.Env();
        if (!h_->ph || h_->closing)
            throw coded(env, PHICRYPT_EINVAL, "the client is closed");
        if (!info[0].IsNumber() || !info[1].IsArray() || (info.Length() > 2 && !info[2].IsArray() && !info[2].IsUndefined()))
            throw Napi::TypeError::New(env, "call(op, args, nums)");
        int op = info[0].As<Napi::Number>().Int32Value();
        if (op < 0 || op >= OP_COUNT)
            throw Napi::TypeError::New(env, "call(): unknown operation");
        Napi::Array a = info[1].As<Napi::Array>();
        Napi::Array n = info.Length() > 2 && info[2].IsArray() ? info[2].As<Napi::Array>() : Napi::Array::New(env);
        if (a.Length() < static_cast<uint32_t>(SHAPES[op].nargs) || n.Length() != static_cast<uint32_t>(SHAPES[op].nnums))
            throw Napi::TypeError::New(env, "call(): wrong number of arguments for the operation");
        // Check and copy everything before the work exists: a throw here leaves no call counted.
        std::vector<std::string> args;
        std::vector<bool> isbuf;
        std::vector<double> nums;
        auto wipe_all = [&] {
            for (auto &s : args)
                wipe(s);
        };
        for (uint32_t i = 0; i < a.Length(); i++) {
            Napi::Value v = a.Get(i);
            if (v.IsBuffer()) {
                auto b = v.As<Napi::Buffer<char>>();
                args.emplace_back(b.Data(), b.Length());
                isbuf.push_back(true);
            } else if (v.IsString()) {
                args.push_back(v.As<Napi::String>().Utf8Value());
                isbuf.push_back(false);
            } else {
                wipe_all();
                throw Napi::TypeError::New(env, "call(): arguments are strings or Buffers");
            }
        }
        for (uint32_t i = 0; i < n.Length(); i++) {
            Napi::Value v = n.Get(i);
            if (!v.IsNumber()) {
                wipe_all();
                throw Napi::TypeError::New(env, "call(): numbers expected");
            }
            nums.push_back(v.As<Napi::Number>().DoubleValue());
        }
        bool with_progress = info.Length() > 3 && info[3].IsFunction();
        if (with_progress && op != DEID_FILE && op != REID_FILE && op != REID_FILE_AS) {
            wipe_all();
            throw Napi::TypeError::New(env, "call(): only the file calls take a progress function");
        }
        auto w = std::make_unique<CallWork>(env, h_, static_cast<Op>(op));
        if (with_progress)
            w->SetProgress(env, info[3].As<Napi::Function>());
        w->args_ = std::move(args);
        w->isbuf_ = std::move(isbuf);
        w->nums_ = std::move(nums);
        return w.release()->Start();
    }
    // close(): no new call; the handle is freed now, or when the last call in flight ends.
    Napi::Value Close(const Args &info)
    {
        if (!h_->closing) {
            h_->closing = true;
            if (h_->active == 0 && h_->ph) {
                phicrypt_free(h_->ph);
                h_->ph = nullptr;
            }
        }
        return info.Env().Undefined();
    }

  private:
    Handle *h_ = new Handle();
};

struct Registry {
    std::unordered_map<uint32_t, std::unique_ptr<Client>> clients;
    uint32_t next = 1;
};

Client *client_of(const Napi::CallbackInfo &info)
{
    auto *r = info.Env().GetInstanceData<Registry>();
    if (!info[0].IsNumber())
        throw Napi::TypeError::New(info.Env(), "the client's handle number is missing");
    auto it = r->clients.find(info[0].As<Napi::Number>().Uint32Value());
    return it == r->clients.end() ? nullptr : it->second.get();
}

// clientNew() -> number
Napi::Value ClientNew(const Napi::CallbackInfo &info)
{
    auto *r = info.Env().GetInstanceData<Registry>();
    uint32_t id = r->next++;
    r->clients[id] = std::make_unique<Client>();
    return Napi::Number::New(info.Env(), id);
}

// clientOpen(id, text, isPath), clientCall(id, op, args, nums, progress), clientClose(id)
Napi::Value ClientOpen(const Napi::CallbackInfo &info)
{
    Client *c = client_of(info);
    if (!c)
        throw coded(info.Env(), PHICRYPT_EINVAL, "the client is closed");
    return c->Open(Args{ info });
}

Napi::Value ClientCall(const Napi::CallbackInfo &info)
{
    Client *c = client_of(info);
    if (!c)
        throw coded(info.Env(), PHICRYPT_EINVAL, "the client is closed");
    return c->Call(Args{ info });
}

Napi::Value ClientClose(const Napi::CallbackInfo &info)
{
    Client *c = client_of(info);
    return c ? c->Close(Args{ info }) : info.Env().Undefined();
}

// clientRelease(id): the JavaScript client is unreachable.
Napi::Value ClientRelease(const Napi::CallbackInfo &info)
{
    auto *r = info.Env().GetInstanceData<Registry>();
    if (info[0].IsNumber())
        r->clients.erase(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
}


// Stand-alone FF1 with a raw key (no client): ff1(encrypt, key, tweak, alphabet, text) ->
// Promise<Buffer>. The key and the text are wiped with the other arguments.
class Ff1Work : public Work {
  public:
    Ff1Work(Napi::Env env, bool encrypt) : Work(env, nullptr), encrypt_(encrypt) {}
    void Execute() override
    {
        const auto &a = args_;
        std::string out(a[3].size() + 1, '\0');
        int rc = (encrypt_ ? phicrypt_ff1_encrypt : phicrypt_ff1_decrypt)(&out[0], bytes(a[0]), a[0].size(), bytes(a[1]),
                                                                          a[1].size(), a[2].c_str(), a[3].data(),
                                                                          a[3].size());
        if (rc != 0) {
            wipe(out);
            return Fail(rc, phicrypt_errmsg(nullptr));
        }
        out.resize(a[3].size());
        result_.swap(out);
        wipe(out);
        kind_ = K_BUFFER;
    }

  private:
    bool encrypt_;
};

Napi::Value Ff1(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    if (info.Length() != 5 || !info[0].IsBoolean())
        throw Napi::TypeError::New(env, "ff1(encrypt, key, tweak, alphabet, text)");
    std::vector<std::string> args;
    for (uint32_t i = 1; i < 5; i++) {
        if (!info[i].IsBuffer()) {
            for (auto &s : args)
                wipe(s);
            throw Napi::TypeError::New(env, "ff1(): key, tweak, alphabet and text are Buffers");
        }
        auto b = info[i].As<Napi::Buffer<char>>();
        args.emplace_back(b.Data(), b.Length());
    }
    auto w = std::make_unique<Ff1Work>(env, info[0].As<Napi::Boolean>().Value());
    w->args_ = std::move(args);
    return w.release()->Start();
}

Napi::Value Version(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), phicrypt_version()); }

Napi::Value MongocryptVersion(const Napi::CallbackInfo &info)
{
    return Napi::String::New(info.Env(), phicrypt_mongocrypt_version());
}

Napi::Value Strerror(const Napi::CallbackInfo &info)
{
    if (!info[0].IsNumber())
        throw Napi::TypeError::New(info.Env(), "strerror(): code must be a number");
    return Napi::String::New(info.Env(), phicrypt_strerror(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value LocalKeyFile(const Napi::CallbackInfo &info)
{
    if (!info[0].IsString())
        throw Napi::TypeError::New(info.Env(), "createLocalKeyFile(): path must be a string");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    int rc = phicrypt_local_key_file_create(path.c_str());
    if (rc != 0)
        throw coded(info.Env(), rc, phicrypt_errmsg(nullptr));
    return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
    if (phicrypt_init() != 0)
        throw Napi::Error::New(env, "phicrypt_init failed");
    env.SetInstanceData(new Registry()); // deleted when the environment ends: releases every client
    exports.Set("clientNew", Napi::Function::New(env, ClientNew));
    exports.Set("clientOpen", Napi::Function::New(env, ClientOpen));
    exports.Set("clientCall", Napi::Function::New(env, ClientCall));
    exports.Set("clientClose", Napi::Function::New(env, ClientClose));
    exports.Set("clientRelease", Napi::Function::New(env, ClientRelease));
    exports.Set("version", Napi::Function::New(env, Version));
    exports.Set("ff1", Napi::Function::New(env, Ff1));
    exports.Set("mongocryptVersion", Napi::Function::New(env, MongocryptVersion));
    exports.Set("strerror", Napi::Function::New(env, Strerror));
    exports.Set("createLocalKeyFile", Napi::Function::New(env, LocalKeyFile));
    return exports;
}

} // namespace

NODE_API_MODULE(phicrypt, Init)
