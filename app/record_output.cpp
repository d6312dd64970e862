#include "record_output.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common.h"
#include "vitlens/errors.h"

namespace vitlens::app {

std::string record_image(const std::string& line, const std::string& format) {
    if (format == "jsonl") {
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        return j.is_object() && j.contains("image") && j["image"].is_string() ? j["image"].get<std::string>() : "";
    }
    if (line.empty() || line[0] != '"') return line.substr(0, line.find(','));
    std::string out;
    for (size_t i = 1; i < line.size(); ++i) {
        if (line[i] != '"') out += line[i];
        else if (i + 1 < line.size() && line[i + 1] == '"') out += line[++i];
        else break;
    }
    return out;
}

RecordOutput::RecordOutput(const std::string& path, const std::string& format, bool resume, bool overwrite)
    : path_(path), format_(format) {
    if (path.empty()) {
        if (resume) throw UsageError("--resume needs --output FILE: it continues that file");
        f_ = stdout;
        return;
    }
    if (resume && format == "text")
        throw UsageError("--resume reads back the records of " + path + ": use --format jsonl or csv");
    std::ifstream in(path, std::ios::binary);
    if (in && !resume && !overwrite)
        throw OutputError(path + ": already exists; --resume continues it, --overwrite replaces it");
    size_t keep = 0;
    if (in && resume) {  // the complete lines stay; a torn last line goes
        std::stringstream s;
        s << in.rdbuf();
        const std::string text = s.str();
        keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        std::stringstream lines(text.substr(0, keep));
        std::string line;
        for (bool first = true; std::getline(lines, line); first = false) {
            if (format == "csv" && first) continue;  // the header
            ++lines_;
            if (std::string img = record_image(line, format); !img.empty()) done_.insert(img);
        }
        empty_ = keep == 0;
    }
    f_ = std::fopen(path.c_str(), resume ? "a+b" : "wb");
    if (!f_) throw OutputError(path + ": cannot open for writing: " + std::strerror(errno));
    owned_ = true;
    if (resume && ::ftruncate(::fileno(f_), off_t(keep)) != 0) {
        const std::string why = std::strerror(errno);
        std::fclose(f_);
        throw OutputError(path + ": cannot drop the partly written last line: " + why);
    }
}

bool RecordOutput::has(const std::string& path) const {
    if (done_.empty()) return false;
    if (format_ != "jsonl") return done_.count(path) != 0;
    return done_.count(record_image("{\"image\": \"" + json_escape(path) + "\"}", "jsonl")) != 0;
}

RecordOutput::~RecordOutput() {
    if (owned_) std::fclose(f_);
}

void RecordOutput::write(const std::string& lines) {
    if (std::fwrite(lines.data(), 1, lines.size(), f_) != lines.size())
        throw OutputError((path_.empty() ? std::string("standard output") : path_) + ": write failed: " + std::strerror(errno));
}

void RecordOutput::flush() {
    if (std::fflush(f_) != 0)
        throw OutputError((path_.empty() ? std::string("standard output") : path_) + ": write failed: " + std::strerror(errno));
}

}  // namespace vitlens::app
