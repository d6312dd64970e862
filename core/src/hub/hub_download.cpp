#include "vitlens/hub/hub_download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
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
#include "vitlens/images/input_file.h"
#include "vitlens/images/output_file.h"
#include "vitlens/hub/sha256.h"

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

// `url` with any user:password@ replaced by ***@, for messages.
std::string redact_url(const std::string& url) {
    const size_t scheme = url.find("://");
    const size_t from = scheme == std::string::npos ? 0 : scheme + 3;
    const size_t slash = url.find('/', from);
    const std::string authority = url.substr(from, slash == std::string::npos ? std::string::npos : slash - from);
    const size_t at = authority.rfind('@');  // a password may hold '@' too
    if (at == std::string::npos) return url;
    return url.substr(0, from) + "***" + url.substr(from + at);
}

// Each segment of a repo file name percent-encoded (RFC 3986 unreserved kept).
std::string escape_path(const std::string& s, bool keep_slash) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) out += char(c);
        else {
            char b[4];
            std::snprintf(b, sizeof b, "%%%02X", c);
            out += b;
        }
    }
    return out;
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
    uint64_t expected = 0;  // the size HEAD announced
    uint64_t written = 0;   // bytes this GET wrote
    bool oversize = false;  // the server sent more than it announced: stopped
    int write_errno = 0;    // the file system refused a write
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
    const size_t bytes = size * n;
    if (d.offset + d.written + bytes > d.expected) {  // never more than announced
        d.oversize = true;
        return 0;
    }
    if (std::fwrite(data, 1, bytes, d.f) != bytes || std::fflush(d.f) != 0) {
        d.write_errno = errno ? errno : ENOSPC;
        return 0;
    }
    d.written += bytes;
    return bytes;
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
    explicit BlobLock(const std::string& path)
        : fd_(::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0644)) {
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
    Hub(const ModelId& id, const PullOptions& o) : id_(id), o_(o), lay_(o.cache, id), shown_(redact(o.endpoint)) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        repo_ = lay_.repo;
    }

    std::string url(const std::string& revision, const std::string& file) const {
        std::string ep = o_.endpoint;
        while (!ep.empty() && ep.back() == '/') ep.pop_back();
        return ep + "/" + id_.org + "/" + id_.name + "/resolve/" + escape_path(revision, false) + "/" +
               escape_path(file, true);
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
            if (size.empty() || size.find_first_not_of("0123456789") != std::string::npos || size.size() > 15)
                throw SourceError(redact(u) + ": the server announced no size for " + file + " (" +
                                  (m.lfs ? "X-Linked-Size" : "Content-Length") + " '" + size.substr(0, 40) +
                                  "'); nothing is downloaded without one");
            m.size = std::strtoull(size.c_str(), nullptr, 10);
            if (!valid_etag(m.etag))
                throw SourceError(redact(u) + ": the server sent no usable ETag ('" + m.etag.substr(0, 80) +
                                  "' is not a hex or base64url token); is HF_ENDPOINT (" + shown_ + ") a Hugging Face hub?");
            if (!is_commit(m.commit))
                throw SourceError(redact(u) + ": the server sent no commit (X-Repo-Commit, 40 hex digits); is HF_ENDPOINT (" +
                                  shown_ + ") a Hugging Face hub?");
            return m;
        }
        throw SourceError(redact(u) + ": too many redirects");
    }

    // blobs/<etag>, downloaded (resumed) and checked unless already there.
    uint64_t fetch(const std::string& revision, const std::string& file, const FileMeta& m, int index, int count) {
        const fs::path blob = lay_.blob(m.etag);
        std::error_code ec;
        lay_.require_inside(blob.parent_path().string());
        if (blob_done(blob)) return 0;
        fs::create_directories(blob.parent_path(), ec);
        // <cache>/.locks/models--ORG--NAME/<etag>.lock, where huggingface_hub locks it too:
        // another pull of the same blob waits here
        const fs::path lock_path = lay_.lock(m.etag);
        lay_.require_inside(lock_path.parent_path().string());
        fs::create_directories(lock_path.parent_path(), ec);
        const BlobLock lock(lock_path.string());
        if (blob_done(blob)) return 0;  // ... and finds it done
        const std::string part = blob.string() + ".incomplete";
        Download d;
        d.f = open_part(part, &d.offset);
        d.opt = &o_;
        d.progress = {file, d.offset, m.size, index, count};
        d.expected = m.size;
        const uint64_t start = d.offset;
        Response r;
        const std::string u = url(revision, file);
        CURLcode rc = CURLE_OK;
        const bool requested = d.offset < m.size;  // a complete (or oversized) part: verify it
        try {
            if (requested) rc = perform(u, &r, &d, false);
        } catch (...) {
            std::fclose(d.f);
            throw;
        }
        const bool closed = std::fclose(d.f) == 0;
        const uint64_t have = fs::file_size(part, ec);
        if (d.write_errno || !closed)
            throw OutputError(part + ": cannot write the download (" + std::strerror(d.write_errno ? d.write_errno : errno) +
                              ") after " + std::to_string(have) + " bytes; free some space and run pull again to resume");
        if (d.oversize) {
            fs::remove(part, ec);
            throw SourceError(redact(u) + ": the server sent more than the " + std::to_string(m.size) +
                              " bytes it announced for " + file + "; the download was stopped and deleted");
        }
        if (requested && rc == CURLE_OK && r.status != 416) check_status(r, file);
        check_transport(rc, u, have, m.size, r.status > 0);
        verify(part, file, m, have);
        fs::rename(part, blob, ec);
        if (ec) throw OutputError(blob.string() + ": cannot move the download into place: " + ec.message());
        return have - (d.restarted ? 0 : start);
    }

    // snapshots/<commit>/<file> -> ../../blobs/<etag> (deeper for nested names).
    void link(const std::string& commit, const std::string& file, const std::string& etag) {
        const fs::path dst = fs::path(lay_.snapshot(commit)) / file;
        std::error_code ec;
        lay_.require_inside(dst.parent_path().string());  // before anything is created through a planted link
        fs::create_directories(dst.parent_path(), ec);
        std::string up = "../../";
        for (char c : file) up += c == '/' ? "../" : "";
        fs::remove(dst, ec);
        fs::create_symlink(up + "blobs/" + etag, dst, ec);
        if (ec) throw OutputError(dst.string() + ": cannot create the snapshot link: " + ec.message());
    }

    void write_ref(const std::string& revision, const std::string& commit) {
        if (revision == commit) return;
        const fs::path ref = lay_.ref(revision);
        std::error_code ec;
        lay_.require_inside(ref.string());
        fs::create_directories(ref.parent_path(), ec);
        if (fs::is_directory(ref, ec))
            throw OutputError(ref.string() + ": is a directory, where the commit of '" + revision +
                              "' belongs; remove it and pull again");
        // a temporary beside the ref, renamed over it: rename(2) replaces a link planted there, never its target
        const std::string tmp = temp_path_beside(ref.string());
        ::unlink(tmp.c_str());
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        const bool ok = fd >= 0 && ::write(fd, commit.data(), commit.size()) == ssize_t(commit.size());
        if (fd < 0 || ::close(fd) != 0 || !ok || ::rename(tmp.c_str(), ref.c_str()) != 0) {
            const std::string why = std::strerror(errno);
            ::unlink(tmp.c_str());
            throw OutputError(ref.string() + ": cannot write the ref (" + why + ")");
        }
    }

    const fs::path& repo() const { return repo_; }

private:
    // A finished blob: a regular file. A symbolic link there was planted (the
    // hub never makes one) and is refused.
    bool blob_done(const fs::path& blob) const {
        std::error_code ec;
        const auto st = fs::symlink_status(blob, ec);
        if (st.type() == fs::file_type::not_found) return false;
        if (st.type() != fs::file_type::regular)
            throw OutputError(blob.string() + ": is not a regular file (a link or a special file planted in the "
                              "cache?); remove it and pull again");
        return true;
    }

    // The part file, opened to append without following a link; it must be
    // a regular file of ours. `have`: the bytes already there.
    static std::FILE* open_part(const std::string& part, uint64_t* have) {
        const int fd = ::open(part.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
        if (fd < 0)
            throw OutputError(part + ": cannot open the part file (" + std::strerror(errno) +
                              (errno == ELOOP ? ": it is a symbolic link, planted in the cache?" : "") + ")");
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
            ::close(fd);
            throw OutputError(part + ": is not a regular file of this user (uid " + std::to_string(::geteuid()) +
                              "); refusing to append to it: remove it and pull again");
        }
        *have = uint64_t(st.st_size);
        std::FILE* f = ::fdopen(fd, "ab");
        if (!f) {
            ::close(fd);
            throw OutputError(part + ": cannot open the part file (" + std::strerror(errno) + ")");
        }
        return f;
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
        // a body that stalls, or trickles under 1 KB/s, for stall_timeout_s ends the transfer
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o_.stall_timeout_s);
        if (head_only) curl_easy_setopt(c, CURLOPT_TIMEOUT, o_.connect_timeout_s + o_.stall_timeout_s);
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

    // `answered`: the server sent a status line, so a time-out is a stall, not a missing network.
    void check_transport(CURLcode rc, const std::string& u, uint64_t have, uint64_t size, bool answered = false) const {
        if (rc == CURLE_OK) return;
        if (rc == CURLE_ABORTED_BY_CALLBACK) throw ArgumentError(id_.str() + ": download cancelled (the partial file is kept to resume)");
        std::string what = std::string(curl_easy_strerror(rc));
        if (rc == CURLE_OPERATION_TIMEDOUT && (have > 0 || answered))
            throw SourceError(redact(u) + ": the transfer stalled (under 1 KB/s for " + std::to_string(o_.stall_timeout_s) +
                              " s, HF_HUB_DOWNLOAD_TIMEOUT) after " + std::to_string(have) +
                              " bytes; the partial file is kept: run the same command again to resume");
        if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT)
            throw SourceError(redact(u) + ": " + what + ": no network, or HF_ENDPOINT (" + shown_ +
                              ") unreachable; a model already in the cache still loads offline");
        std::string got = have ? " after " + std::to_string(have) + (size ? " of " + std::to_string(size) : "") + " bytes" : "";
        throw SourceError(redact(u) + ": transfer failed" + got + " (" + what +
                          "); the partial file is kept: run the same command again to resume");
    }

    void check_status(const Response& r, const std::string& file) const {
        if (r.status >= 200 && r.status < 400) return;
        const std::string code = r.header("x-error-code"), msg = r.header("x-error-message");
        const std::string who = id_.str() + " (" + file + " from " + shown_ + ")";
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
        if (have != m.size)
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
    HubLayout lay_;
    std::string shown_;  // the endpoint for messages, credentials redacted
    fs::path repo_;
};

constexpr size_t kMaxRepoFiles = 10000;

// The shard files a model.safetensors.index.json names, each once, none of
// them a file the pull already has (the index itself, config.json), at most
// kMaxRepoFiles.
std::vector<std::string> shard_files(const std::string& index_path, const std::string& what) {
    if (const std::string why = not_a_regular_file(index_path); !why.empty())
        throw ModelError(index_path + ": " + why);
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
        if (!valid_repo_file(name))
            throw ModelError(what + ": weight_map names an unsafe file '" + name +
                             "' (a shard is a plain relative path: no '.' or '..' segment, no leading '/')");
        if (name == "model.safetensors.index.json" || name == "config.json" || name == "preprocessor_config.json")
            throw ModelError(what + ": weight_map names '" + name + "' as a shard of weights");
        files.insert(name);
        if (files.size() > kMaxRepoFiles)
            throw ModelError(what + ": weight_map names more than " + std::to_string(kMaxRepoFiles) + " shard files");
    }
    return {files.begin(), files.end()};
}

}  // namespace

std::string redact(const std::string& url) { return redact_url(url); }

PullOptions pull_options_from_env() {
    PullOptions o;
    o.endpoint = env_or("HF_ENDPOINT", "https://huggingface.co");
    o.cache = hub_cache_dir();
    o.offline = truthy(env_or("HF_HUB_OFFLINE", ""));
    o.token = env_or("HF_TOKEN", "");
    const std::string timeout = env_or("HF_HUB_DOWNLOAD_TIMEOUT", "10");
    char* end = nullptr;
    const double t = std::strtod(timeout.c_str(), &end);
    if (end == timeout.c_str() || *end || !(t >= 1 && t <= 3600))
        throw ArgumentError("HF_HUB_DOWNLOAD_TIMEOUT='" + timeout + "': expected seconds from 1 to 3600");
    o.stall_timeout_s = long(t);
    if (o.token.empty()) {
        const char* home = std::getenv("HOME");
        const std::string hf_home = env_or("HF_HOME", std::string(home ? home : "/") + "/.cache/huggingface");
        const std::string token_path = env_or("HF_TOKEN_PATH", hf_home + "/token");
        std::ifstream f;
        if (not_a_regular_file(token_path).empty()) f.open(token_path);
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
        if (name != "model.safetensors.index.json") continue;
        // the set of shards, computed once and bounded before any of them is asked for
        const std::vector<std::string> shards = shard_files((hub.repo() / "blobs" / meta.etag).string(), id.str());
        if (shards.size() + files.size() > kMaxRepoFiles)
            throw ModelError(id.str() + ": the index names " + std::to_string(shards.size()) + " shards; more than " +
                             std::to_string(kMaxRepoFiles) + " files to fetch is refused");
        for (const std::string& shard : shards) files.push_back({shard, hub.head(res.commit, shard, false)});
    }
    hub.write_ref(id.revision, res.commit);
    res.snapshot = (hub.repo() / "snapshots" / res.commit).string();
    res.from_cache = res.downloaded == 0;
    return res;
}

}  // namespace vitlens
