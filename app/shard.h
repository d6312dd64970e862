// Splitting a collection across processes: --shard I/N, or --shard auto
// from a Slurm job array or a Kubernetes Indexed Job.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "options.h"

namespace vitlens::app {

struct Shard {
    int index = 0, count = 1;  // this process takes the images whose path hashes to `index` mod `count`
};

// "I/N" (0 <= I < N), "auto" or "auto/N". auto reads SLURM_ARRAY_TASK_ID
// (minus SLURM_ARRAY_TASK_MIN) and SLURM_ARRAY_TASK_COUNT, else
// JOB_COMPLETION_INDEX with N from "auto/N". `env` is getenv in real use.
// Throws UsageError naming what is missing or wrong.
Shard parse_shard(const std::string& text, const std::function<const char*(const char*)>& env);

// The split: FNV-1a of the path as listed, so an image stays in its shard
// however many others the collection gains or loses.
bool in_shard(const std::string& path, const Shard& s);
std::vector<std::string> select_shard(const std::vector<std::string>& files, const Shard& s);

// --shard and --resume, shared by classify, explain and embed.
struct ShardOptions {
    std::string shard;
    bool resume = false;
    void add_to(po::options_description& d, const char* resume_help);
    Shard get() const;  // 0/1 when --shard is absent
};

}  // namespace vitlens::app
