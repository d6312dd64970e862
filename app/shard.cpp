#include "shard.h"

#include <cstdint>
#include <cstdlib>

#include "exit_codes.h"

namespace vitlens::app {

namespace {

// A non-negative integer; -1 when `text` is not one.
long long to_count(const char* text) {
    if (!text || !*text) return -1;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text, &end, 10);
    return (*end || errno || v < 0) ? -1 : v;
}

Shard checked(long long index, long long count, const std::string& from) {
    if (count < 1 || count > 1000000)
        throw UsageError("--shard: the shard count must be 1..1000000, got " + std::to_string(count) + " (" + from + ")");
    if (index < 0 || index >= count)
        throw UsageError("--shard: index " + std::to_string(index) + " is outside 0.." + std::to_string(count - 1) + " (" +
                         from + ")");
    return {int(index), int(count)};
}

}  // namespace

Shard parse_shard(const std::string& text, const std::function<const char*(const char*)>& env) {
    const size_t slash = text.find('/');
    const std::string head = text.substr(0, slash), tail = slash == std::string::npos ? "" : text.substr(slash + 1);
    const long long n = tail.empty() ? -1 : to_count(tail.c_str());
    if (!tail.empty() && n < 0) throw UsageError("--shard: '" + tail + "' is not a shard count (in '" + text + "')");
    if (head != "auto") {
        const long long i = to_count(head.c_str());
        if (i < 0 || n < 0) throw UsageError("--shard: expected I/N (e.g. 0/4), auto or auto/N, got '" + text + "'");
        return checked(i, n, text);
    }
    if (const char* id = env("SLURM_ARRAY_TASK_ID")) {
        const long long task = to_count(id), min = env("SLURM_ARRAY_TASK_MIN") ? to_count(env("SLURM_ARRAY_TASK_MIN")) : 0;
        const long long count = to_count(env("SLURM_ARRAY_TASK_COUNT"));
        if (task < 0 || min < 0 || count < 0)
            throw UsageError("--shard auto: SLURM_ARRAY_TASK_ID, _MIN and _COUNT must be non-negative integers");
        if (n >= 0 && n != count)
            throw UsageError("--shard " + text + ": the Slurm array has " + std::to_string(count) + " tasks");
        return checked(task - min, count, "Slurm array task " + std::string(id));
    }
    if (const char* idx = env("JOB_COMPLETION_INDEX")) {
        const long long i = to_count(idx);
        if (i < 0) throw UsageError("--shard auto: JOB_COMPLETION_INDEX='" + std::string(idx) + "' is not an index");
        if (n < 0)
            throw UsageError("--shard auto: a Kubernetes Indexed Job does not say how many shards there are; "
                             "use --shard auto/N with N = the Job's completions");
        return checked(i, n, "JOB_COMPLETION_INDEX=" + std::string(idx));
    }
    throw UsageError("--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX "
                     "(a Kubernetes Indexed Job) is set; use --shard I/N");
}

bool in_shard(const std::string& path, const Shard& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : path) h = (h ^ c) * 1099511628211ull;
    return h % uint64_t(s.count) == uint64_t(s.index);
}

std::vector<std::string> select_shard(const std::vector<std::string>& files, const Shard& s) {
    if (s.count == 1) return files;
    std::vector<std::string> out;
    for (const std::string& f : files)
        if (in_shard(f, s)) out.push_back(f);
    return out;
}

void ShardOptions::add_to(po::options_description& d, const char* resume_help) {
    OptionTable(d)
        .text("shard", &shard, "I/N|auto[/N]",
              "process only shard I of N (a stable split by path; merge the outputs by sorting on the\n"
              "path); auto: from a Slurm job array (SLURM_ARRAY_TASK_ID/_COUNT) or a Kubernetes\n"
              "Indexed Job (JOB_COMPLETION_INDEX, with auto/N)")
        .flag("resume", &resume, resume_help);
}

Shard ShardOptions::get() const {
    return shard.empty() ? Shard{} : parse_shard(shard, [](const char* k) { return std::getenv(k); });
}

}  // namespace vitlens::app
