#include "vitlens/hub_download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "vitlens/errors.h"
#include "vitlens/sha256.h"

namespace vitlens {

namespace fs = std::filesystem;

namespace {

std::string env_or(const char* name, const std::string& def) {
    const char* v = std::getenv(name);
    return v && *v ? v : def;
}

bool truthy(const std::string& v) { return v == "1" || v == "ON" || v == "on" || v == "true" || v == "YES" || v == "yes"; }

std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return s.substr(i);
}

// One response's status and headers (names lower-cased); the last response
// of a redirect chain when redirects are followed.
struct Response {
    long status = 0;
    std::map<std::string, std::string> headers;
    std::string header(const std::string& k) const {
        auto it = headers.find(k);
        return it == headers.end() ? "" : it->second;
    }
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
    Response& r = *static_cast<Response*>(user);
    std::string line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect): start over
        r.headers.clear();
        r.status = std::atol(line.substr(line.find(' ') + 1).c_str());
        return size * n;
    }
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
        std::string k = line.substr(0, colon);
        for (char& c : k) c = char(std::tolower(static_cast<unsigned char>(c)));
        r.headers[k] = trim(line.substr(colon + 1));
    }
    return size * n;
}

// The object id of an ETag header: quotes and a weak prefix removed.
std::string etag_value(std::string e) {
    if (e.rfind("W/", 0) == 0) e = e.substr(2);
    if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
    return e;
}

bool is_sha256(const std::string& s) {
    return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool is_commit(const std::string& r) {
    return r.size() == 40 && r.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// What HEAD says about one file.
struct FileMeta {
    std::string commit, etag, location;
    uint64_t size = 0;
    bool lfs = false;
};

struct Download {  // the state a GET's callbacks share
    std::FILE* f = nullptr;
    CURL* curl = nullptr;
    uint64_t offset = 0;  // bytes already in the .incomplete file
    bool checked = false, restarted = false;
    const PullOptions* opt = nullptr;
    PullProgress progress;
    uint64_t expected = 0;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
    Download& d = *static_cast<Download*>(user);
    if (!d.checked) {  // the first bytes: did the server honour the Range?
        long code = 0;
        curl_easy_getinfo(d.curl, CURLINFO_RESPONSE_CODE, &code);
        if (d.offset > 0 && code == 200) {  // it sent the whole file: start over
            if (::ftruncate(::fileno(d.f), 0) != 0) return 0;
            std::rewind(d.f);
            d.offset = 0;
            d.restarted = true;
        }
        if (code >= 400) return size * n;  // an error page: not written
        d.checked = true;
    }
    return std::fwrite(data, size, n, d.f) * size;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
    Download& d = *static_cast<Download*>(user);
    try {  // nothing may unwind through libcurl's C frames
        if (d.opt->cancelled && d.opt->cancelled()) return 1;
        if (d.opt->progress && d.f) {  // a HEAD only checks for cancellation
            d.progress.done = d.offset + uint64_t(now);
            d.progress.total = total > 0 ? d.offset + uint64_t(total) : d.expected;
            d.opt->progress(d.progress);
        }
    } catch (...) {
        return 1;
    }
    return 0;
}

// An exclusive flock() on `path` for its lifetime, as huggingface_hub locks
// a blob while downloading it: two pulls never append to one .incomplete.
class BlobLock {
public:
    explicit BlobLock(const std::string& path) : fd_(::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644)) {
        if (fd_ < 0) throw OutputError(path + ": cannot create the download lock: " + std::strerror(errno));
        while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    ~BlobLock() { ::close(fd_); }  // closing releases the lock
    BlobLock(const BlobLock&) = delete;
    BlobLock& operator=(const BlobLock&) = delete;

private:
    int fd_;
};

class Hub {
public:
    Hub(const ModelId& id, const PullOptions& o) : id_(id), o_(o) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        repo_ = fs::path(o.cache) / ("models--" + id.org + "--" + id.name);
    }

    std::string url(const std::string& revision, const std::string& file) const {
        std::string ep = o_.endpoint;
        while (!ep.empty() && ep.back() == '/') ep.pop_back();
        return ep + "/" + id_.org + "/" + id_.name + "/resolve/" + escape(revision) + "/" + file;
    }

    // HEAD without following redirects (but following the hub's own relative
    // ones, as for a renamed repo). `missing_ok`: a 404 for the file gives
    // an empty etag instead of an error.
    FileMeta head(const std::string& revision, const std::string& file, bool missing_ok) {
        std::string u = url(revision, file);
        for (int hop = 0; hop < 5; ++hop) {
            Response r;
            CURLcode rc = perform(u, &r, nullptr, true);
            check_transport(rc, u, 0, 0);
            if (r.status >= 300 && r.status < 400 && !r.header("location").empty() &&
                r.header("x-linked-etag").empty() && r.header("location")[0] == '/') {
                u = origin(u) + r.header("location");
                continue;
            }
            // an optional file: the repo and revision exist (config.json came first), so any 404 means
            // the file is absent, also from a mirror that sends no X-Error-Code
            if (r.status == 404 && missing_ok) return {};
            check_status(r, file);
            FileMeta m;
            m.commit = r.header("x-repo-commit");
            m.lfs = !r.header("x-linked-etag").empty();
            m.etag = etag_value(m.lfs ? r.header("x-linked-etag") : r.header("etag"));
            m.location = r.header("location");
            const std::string size = m.lfs ? r.header("x-linked-size") : r.header("content-length");
            m.size = size.empty() ? 0 : std::strtoull(size.c_str(), nullptr, 10);
            if (m.etag.empty() || m.etag.find('/') != std::string::npos || m.etag.find("..") != std::string::npos)
                throw SourceError(u + ": the server sent no usable ETag; is HF_ENDPOINT (" + o_.endpoint +
                                  ") a Hugging Face hub?");
            if (!is_commit(m.commit))
                throw SourceError(u + ": the server sent no commit (X-Repo-Commit); is HF_ENDPOINT (" + o_.endpoint +
                                  ") a Hugging Face hub?");
            return m;
        }
        throw SourceError(u + ": too many redirects");
    }

    // blobs/<etag>, downloaded (resumed) and checked unless already there.
    uint64_t fetch(const std::string& revision, const std::string& file, const FileMeta& m, int index, int count) {
        const fs::path blob = repo_ / "blobs" / m.etag;
        std::error_code ec;
        if (fs::exists(blob, ec)) return 0;
        fs::create_directories(blob.parent_path(), ec);
        // <cache>/.locks/models--ORG--NAME/<etag>.lock, where huggingface_hub locks it too:
        // another pull of the same blob waits here
        const fs::path locks = repo_.parent_path() / ".locks" / repo_.filename();
        fs::create_directories(locks, ec);
        const BlobLock lock((locks / (m.etag + ".lock")).string());
        if (fs::exists(blob, ec)) return 0;             // ... and finds it done
        const std::string part = blob.string() + ".incomplete";
        Download d;
        d.offset = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
        d.f = std::fopen(part.c_str(), "ab");
        if (!d.f) throw OutputError(part + ": cannot write: " + std::strerror(errno));
        d.opt = &o_;
        d.progress = {file, d.offset, m.size, index, count};
        d.expected = m.size;
        const uint64_t start = d.offset;
        Response r;
        const std::string u = url(revision, file);
        CURLcode rc = CURLE_OK;
        const bool requested = !(m.size > 0 && d.offset >= m.size);  // a complete (or oversized) part: verify it
        try {
            if (requested) rc = perform(u, &r, &d, false);
        } catch (...) {
            std::fclose(d.f);
            throw;
        }
        std::fclose(d.f);
        const uint64_t have = fs::file_size(part, ec);
        if (requested && rc == CURLE_OK && r.status != 416) check_status(r, file);
        check_transport(rc, u, have, m.size);
        verify(part, file, m, have);
        fs::rename(part, blob, ec);
        if (ec) throw OutputError(blob.string() + ": cannot move the download into place: " + ec.message());
        return have - (d.restarted ? 0 : start);
    }

    // snapshots/<commit>/<file> -> ../../blobs/<etag> (deeper for nested names).
    void link(const std::string& commit, const std::string& file, const std::string& etag) {
        const fs::path dst = repo_ / "snapshots" / commit / file;
        std::error_code ec;
        fs::create_directories(dst.parent_path(), ec);
        std::string up = "../../";
        for (char c : file) up += c == '/' ? "../" : "";
        fs::remove(dst, ec);
        fs::create_symlink(up + "blobs/" + etag, dst, ec);
        if (ec) throw OutputError(dst.string() + ": cannot create the snapshot link: " + ec.message());
    }

    void write_ref(const std::string& revision, const std::string& commit) {
        if (revision == commit) return;
        const fs::path ref = repo_ / "refs" / revision;
        std::error_code ec;
        fs::create_directories(ref.parent_path(), ec);
        std::ofstream f(ref);
        f << commit;
        if (!f) throw OutputError(ref.string() + ": cannot write");
    }

    const fs::path& repo() const { return repo_; }

private:
    static std::string escape(const std::string& s) {
        std::string out;
        for (unsigned char c : s) {
            if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += char(c);
            else {
                char b[4];
                std::snprintf(b, sizeof b, "%%%02X", c);
                out += b;
            }
        }
        return out;
    }

    static std::string origin(const std::string& u) {
        const size_t s = u.find("://");
        return u.substr(0, u.find('/', s == std::string::npos ? 0 : s + 3));
    }

    CURLcode perform(const std::string& u, Response* r, Download* d, bool head_only) {
        CURL* c = curl_easy_init();
        if (!c) throw SourceError("libcurl could not start a transfer");
        curl_slist* hdrs = nullptr;
        if (!o_.token.empty()) hdrs = curl_slist_append(hdrs, ("Authorization: Bearer " + o_.token).c_str());
        hdrs = curl_slist_append(hdrs, "User-Agent: vitlens; hf_hub-compatible");
        std::string range;
        Download probe;  // a HEAD's callbacks: cancellation only
        probe.opt = &o_;
        curl_easy_setopt(c, CURLOPT_URL, u.c_str());
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, head_only ? &probe : d);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o_.connect_timeout_s);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o_.stall_timeout_s);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        // never from https down to http (an attacker on the path could then swap config.json)
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, o_.endpoint.rfind("https://", 0) == 0 ? "https" : "http,https");
        if (head_only) {
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        } else {
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
            d->curl = c;
            if (d->offset > 0) {
                range = std::to_string(d->offset) + "-";
                curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
            }
        }
        const CURLcode rc = curl_easy_perform(c);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        return rc;
    }

    void check_transport(CURLcode rc, const std::string& u, uint64_t have, uint64_t size) const {
        if (rc == CURLE_OK) return;
        if (rc == CURLE_ABORTED_BY_CALLBACK) throw ArgumentError(id_.str() + ": download cancelled (the partial file is kept to resume)");
        std::string what = std::string(curl_easy_strerror(rc));
        if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT)
            throw SourceError(u + ": " + what + ": no network, or HF_ENDPOINT (" + o_.endpoint +
                              ") unreachable; a model already in the cache still loads offline");
        std::string got = have ? " after " + std::to_string(have) + (size ? " of " + std::to_string(size) : "") + " bytes" : "";
        throw SourceError(u + ": transfer failed" + got + " (" + what +
                          "); the partial file is kept: run the same command again to resume");
    }

    void check_status(const Response& r, const std::string& file) const {
        if (r.status >= 200 && r.status < 400) return;
        const std::string code = r.header("x-error-code"), msg = r.header("x-error-message");
        const std::string who = id_.str() + " (" + file + " from " + o_.endpoint + ")";
        if (r.status == 401)
            throw ModelError(who + ": 401 Unauthorized: the repo is private or gated, or does not exist" +
                             (o_.token.empty() ? "; set HF_TOKEN (or `huggingface-cli login`) to a token that can read it"
                                               : "; the token in HF_TOKEN or the token file was not accepted"));
        if (r.status == 403)
            throw ModelError(who + ": 403 Forbidden: the token cannot read this repo" +
                             std::string(code == "GatedRepo" ? " (gated: accept its conditions on the model page first)" : "") +
                             (msg.empty() ? "" : ": " + msg));
        if (r.status == 404) {
            if (code == "RevisionNotFound") throw ModelError(who + ": 404: no revision '" + id_.revision + "'");
            if (code == "EntryNotFound") throw ModelError(who + ": 404: the repo has no " + file);
            throw ModelError(who + ": 404: no such model repo" + (msg.empty() ? "" : " (" + msg + ")"));
        }
        throw SourceError(who + ": HTTP " + std::to_string(r.status) + (msg.empty() ? "" : ": " + msg));
    }

    void verify(const std::string& part, const std::string& file, const FileMeta& m, uint64_t have) const {
        std::string why;
        if (m.size && have != m.size)
            why = "is " + std::to_string(have) + " bytes, the hub says " + std::to_string(m.size);
        else if (m.lfs && is_sha256(m.etag)) {
            const std::string sum = sha256_file(part);
            if (sum != m.etag) why = "has SHA-256 " + sum + ", the hub's object id is " + m.etag;
        }
        if (why.empty()) return;
        std::error_code ec;
        fs::remove(part, ec);
        throw SourceError(id_.str() + ": " + file + " " + why +
                         ": corrupted in transit or on a mirror; the download was deleted, run pull again");
    }

    ModelId id_;
    const PullOptions& o_;
    fs::path repo_;
};

// The shard files a model.safetensors.index.json names.
std::vector<std::string> shard_files(const std::string& index_path, const std::string& what) {
    std::ifstream f(index_path);
    std::stringstream s;
    s << f.rdbuf();
    const nlohmann::json j = nlohmann::json::parse(s.str(), nullptr, false);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw ModelError(what + ": model.safetensors.index.json has no weight_map");
    std::set<std::string> files;
    for (const auto& [k, v] : j["weight_map"].items()) {
        if (!v.is_string()) throw ModelError(what + ": weight_map['" + k + "'] is not a file name");
        const std::string name = v.get<std::string>();
        if (name.empty() || name[0] == '/' || name.find("..") != std::string::npos || name.find('\\') != std::string::npos)
            throw ModelError(what + ": weight_map names an unsafe file '" + name + "'");
        files.insert(name);
    }
    return {files.begin(), files.end()};
}

}  // namespace

PullOptions pull_options_from_env() {
    PullOptions o;
    o.endpoint = env_or("HF_ENDPOINT", "https://huggingface.co");
    o.cache = hub_cache_dir();
    o.offline = truthy(env_or("HF_HUB_OFFLINE", ""));
    o.token = env_or("HF_TOKEN", "");
    if (o.token.empty()) {
        const char* home = std::getenv("HOME");
        const std::string hf_home = env_or("HF_HOME", std::string(home ? home : "/") + "/.cache/huggingface");
        std::ifstream f(env_or("HF_TOKEN_PATH", hf_home + "/token"));
        std::getline(f, o.token);
        o.token = trim(o.token);
    }
    return o;
}

PullResult pull_model(const ModelId& id, const PullOptions& o) {
    PullResult res;
    if (o.offline) {
        try {
            res.snapshot = resolve_cached_model(id, o.cache);
        } catch (const ModelError& e) {
            throw ModelError(std::string("HF_HUB_OFFLINE is set, so nothing is downloaded, and ") + e.what());
        }
        res.commit = fs::path(res.snapshot).filename().string();
        res.from_cache = true;
        return res;
    }
    Hub hub(id, o);
    FileMeta config = hub.head(id.revision, "config.json", false);
    res.commit = config.commit;
    // every later file from the same commit, even if the branch moves meanwhile
    std::vector<std::pair<std::string, FileMeta>> files = {{"config.json", config}};
    if (FileMeta pre = hub.head(res.commit, "preprocessor_config.json", true); !pre.etag.empty())
        files.push_back({"preprocessor_config.json", pre});
    FileMeta weights = hub.head(res.commit, "model.safetensors", true);
    std::vector<std::string> shards;
    if (!weights.etag.empty()) {
        files.push_back({"model.safetensors", weights});
    } else {
        FileMeta index = hub.head(res.commit, "model.safetensors.index.json", true);
        if (index.etag.empty()) {
            const bool pickle = !hub.head(res.commit, "pytorch_model.bin", true).etag.empty();
            throw ModelError(id.str() + ": the repo has no model.safetensors" +
                             (pickle ? std::string(", only pytorch_model.bin: pickled weights, which vitlens never loads "
                                                   "(they can run code); use a revision with safetensors (the hub's "
                                                   "conversion PRs are refs/pr/N: ORG/NAME@refs/pr/N)")
                                     : std::string(" or model.safetensors.index.json")));
        }
        files.push_back({"model.safetensors.index.json", index});
    }
    for (int i = 0; i < int(files.size()); ++i) {
        const auto [name, meta] = files[size_t(i)];  // a copy: shards are appended below
        res.downloaded += hub.fetch(res.commit, name, meta, i + 1, int(files.size()));
        hub.link(res.commit, name, meta.etag);
        res.files.push_back(name);
        if (name == "model.safetensors.index.json")
            for (const std::string& shard : shard_files((hub.repo() / "blobs" / meta.etag).string(), id.str()))
                files.push_back({shard, hub.head(res.commit, shard, false)});
    }
    hub.write_ref(id.revision, res.commit);
    res.snapshot = (hub.repo() / "snapshots" / res.commit).string();
    res.from_cache = res.downloaded == 0;
    return res;
}

}  // namespace vitlens
