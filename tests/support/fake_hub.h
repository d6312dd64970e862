// A fake Hugging Face hub on 127.0.0.1 for tests: repos in the hub's URL
// layout (/ORG/NAME/resolve/REV/FILE), the commit and ETag headers, LFS files
// redirected to a "CDN" that honours Range and can be broken on purpose.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_server.h"
#include "test_support.h"
#include "vitlens/hub/sha256.h"
#include "vitlens/model/weights.h"

namespace vitlens::test {

inline const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

inline std::string sha(const std::string& s) {
    Sha256 h;
    h.update(s.data(), s.size());
    return h.hex();
}

// Repos: org/vit (the hf_vit_f32 fixture), org/private (the same behind the
// token "secret-token"), org/sharded (its weights in two shards and an index)
// and org/pickle (only pytorch_model.bin).
class FakeHub {
public:
    struct File {
        std::string body;
        bool lfs = false;
    };
    enum class Cdn { Ok, CutFirst, Corrupt };

    FakeHub() : server_([this](const HttpRequest& r) {
        HttpResponse out = serve(r);
        Tamper t;
        {
            std::lock_guard<std::mutex> l(mu_);
            t = tamper_;
        }
        if (t) t(r, out);
        return out;
    }) {
        const std::string dir = fixture("hf_vit_f32");
        auto& vit = repos_["org/vit"];
        vit["config.json"] = {read_file(dir + "/config.json")};
        vit["preprocessor_config.json"] = {read_file(dir + "/preprocessor_config.json")};
        vit["model.safetensors"] = {read_file(dir + "/model.safetensors"), true};
        repos_["org/private"] = vit;
        repos_["org/sharded"] = sharded(vit);
        auto& pk = repos_["org/pickle"];
        pk["config.json"] = vit["config.json"];
        pk["pytorch_model.bin"] = {"not really a pickle", true};
    }

    // The fixture's tensors in two shards and an index, as transformers saves large models.
    static std::map<std::string, File> sharded(std::map<std::string, File> files) {
        const std::string dir = fixture("hf_vit_f32");
        SafeTensors st(dir + "/model.safetensors");
        std::vector<StTensor> parts[2];
        nlohmann::json map = nlohmann::json::object();
        const auto names = st.names();
        for (size_t i = 0; i < names.size(); ++i) {
            Tensor t = st.to_f32(names[i]);
            const int k = i < names.size() / 2 ? 0 : 1;
            parts[k].push_back({names[i], "F32", t.shape(), std::vector<float>(t.data(), t.data() + t.numel())});
            map[names[i]] = "model-0000" + std::to_string(k + 1) + "-of-00002.safetensors";
        }
        files.erase("model.safetensors");
        files["model.safetensors.index.json"] = {nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump()};
        for (int k = 0; k < 2; ++k)
            files["model-0000" + std::to_string(k + 1) + "-of-00002.safetensors"] = {make_safetensors(parts[k]), true};
        return files;
    }

    void add_repo(const std::string& name, std::map<std::string, File> files) { repos_[name] = std::move(files); }
    // A hostile hub: `t` may rewrite every response before it is sent.
    using Tamper = std::function<void(const HttpRequest&, HttpResponse&)>;
    void set_tamper(Tamper t) {
        std::lock_guard<std::mutex> l(mu_);
        tamper_ = std::move(t);
    }
    std::string url() const { return server_.url(); }
    std::vector<HttpRequest> requests() const { return server_.requests(); }
    void set_cdn(Cdn c) {
        std::lock_guard<std::mutex> l(mu_);
        cdn_ = c;
    }

private:
    static std::string decode(const std::string& s) {  // %XX, as a server reads a path
        std::string out;
        for (size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '%' && i + 2 < s.size()) {
                out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
                i += 2;
            } else {
                out += s[i];
            }
        }
        return out;
    }

    HttpResponse serve(const HttpRequest& r) {
        if (r.path.rfind("/cdn/", 0) == 0) return cdn(r);
        // /ORG/NAME/resolve/REV/FILE
        const size_t res = r.path.find("/resolve/");
        if (res == std::string::npos) return {404, {}, "no route"};
        const std::string repo = r.path.substr(1, res - 1), rest = r.path.substr(res + 9);
        const std::string rev = decode(rest.substr(0, rest.find('/'))), file = decode(rest.substr(rest.find('/') + 1));
        auto it = repos_.find(repo);
        if (repo == "org/private" && r.header("authorization") != "Bearer secret-token")
            return {401, {{"X-Error-Code", "RepoNotFound"}}, "Invalid username or password."};
        if (it == repos_.end()) return {404, {{"X-Error-Code", "RepoNotFound"}}, "Repository not found"};
        if (rev != "main" && rev != kCommit) return {404, {{"X-Error-Code", "RevisionNotFound"}}, ""};
        auto f = it->second.find(file);
        if (f == it->second.end()) return {404, {{"X-Error-Code", "EntryNotFound"}}, "Entry not found"};
        const std::string id = sha(f->second.body);
        if (!f->second.lfs)
            return {200, {{"X-Repo-Commit", kCommit}, {"ETag", "\"" + id.substr(0, 40) + "\""}}, f->second.body};
        {
            std::lock_guard<std::mutex> l(mu_);
            blobs_[id] = f->second.body;
        }
        HttpResponse out{302,
                         {{"X-Repo-Commit", kCommit},
                          {"X-Linked-Etag", "\"" + id + "\""},
                          {"X-Linked-Size", std::to_string(f->second.body.size())},
                          {"ETag", "W/\"git-pointer\""},
                          {"Location", server_.url() + "/cdn/" + id}},
                         ""};
        return out;
    }

    HttpResponse cdn(const HttpRequest& r) {
        std::lock_guard<std::mutex> l(mu_);
        auto b = blobs_.find(r.path.substr(5));
        if (b == blobs_.end()) return {404, {}, ""};
        std::string body = b->second;
        if (cdn_ == Cdn::Corrupt) body[body.size() / 2] ^= 0x5a;
        size_t from = 0;
        const std::string range = r.header("range");
        if (range.rfind("bytes=", 0) == 0) from = std::stoull(range.substr(6));
        if (from >= body.size() && from > 0) return {416, {}, ""};
        HttpResponse out{from ? 206 : 200, {}, body.substr(from)};
        if (from) out.headers.push_back({"Content-Range", "bytes " + std::to_string(from) + "-" +
                                                              std::to_string(body.size() - 1) + "/" +
                                                              std::to_string(body.size())});
        if (cdn_ == Cdn::CutFirst && r.method == "GET") {
            out.cut_after = body.size() / 2;
            cdn_ = Cdn::Ok;  // the next attempt gets the rest
        }
        return out;
    }

    std::map<std::string, std::map<std::string, File>> repos_;
    std::mutex mu_;
    std::map<std::string, std::string> blobs_;
    Cdn cdn_ = Cdn::Ok;
    Tamper tamper_;
    HttpServer server_;
};

}  // namespace vitlens::test
