// Downloading a model from the Hugging Face hub into the local cache, laid
// out as huggingface_hub lays it out (blobs/<etag>, snapshots/<commit>/<file>
// as relative links, refs/<revision>), so Python and vitlens share one copy.
//
// Per file: a HEAD of <endpoint>/<org>/<name>/resolve/<revision>/<file>
// (redirects not followed) gives the commit (X-Repo-Commit), the object id
// (X-Linked-Etag for LFS files, the SHA-256 of the content; else ETag) and
// the size; the GET follows redirects (the token is not sent to another
// host), resumes blobs/<etag>.incomplete with a Range request, and an LFS
// file whose SHA-256 is not its object id is deleted and refused.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vitlens/hub/hub_cache.h"

namespace vitlens {

struct PullProgress {
    std::string file;
    uint64_t done = 0, total = 0;  // bytes of this file (total 0: unknown yet)
    int index = 0, count = 0;      // file index (1-based) of how many
};

struct PullOptions {
    std::string endpoint = "https://huggingface.co";
    std::string token;           // empty: anonymous
    std::string cache;           // the hub cache folder
    bool offline = false;        // HF_HUB_OFFLINE: no network, the cache only
    long connect_timeout_s = 20;
    long stall_timeout_s = 10;   // HF_HUB_DOWNLOAD_TIMEOUT: abort when under 1 KB/s for this long
    std::function<void(const PullProgress&)> progress;
    std::function<bool()> cancelled;  // polled during transfers
};

// `url` with any user:password@ shown as ***@, for messages and dialogs.
std::string redact(const std::string& url);

// HF_ENDPOINT, HF_TOKEN (else $HF_TOKEN_PATH, else $HF_HOME/token, else
// ~/.cache/huggingface/token), HF_HUB_OFFLINE and hub_cache_dir().
PullOptions pull_options_from_env();

struct PullResult {
    std::string snapshot;  // the folder to load
    std::string commit;
    std::vector<std::string> files;
    uint64_t downloaded = 0;  // bytes transferred by this call
    bool from_cache = false;  // offline, or everything was already there
};

// Downloads config.json, preprocessor_config.json (when the repo has one) and
// model.safetensors, or model.safetensors.index.json and its shards. Throws
// ModelError for what the hub refuses (404 repo or file, 401/403 with what to
// do, a repo with only pickled weights), SourceError when the network fails,
// InputError for a corrupted download, and ArgumentError when cancelled.
PullResult pull_model(const ModelId& id, const PullOptions& options);

}  // namespace vitlens
