#include "vitlens/live/frame_source.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <thread>

#include "vitlens/images/datasets.h"
#include "vitlens/errors.h"
#include "vitlens/images/preprocess.h"

namespace vitlens {

namespace fs = std::filesystem;

const char* source_kind_name(SourceKind k) {
    switch (k) {
        case SourceKind::Camera: return "camera";
        case SourceKind::Device: return "device";
        case SourceKind::File: return "video file";
        case SourceKind::Url: return "URL";
        case SourceKind::GStreamer: return "GStreamer pipeline";
        case SourceKind::ImageSequence: return "image sequence";
    }
    return "?";
}

SourceKind classify_source(const std::string& s) {
    if (!s.empty() && std::all_of(s.begin(), s.end(), ::isdigit)) return SourceKind::Camera;
    if (s.rfind("/dev/video", 0) == 0) return SourceKind::Device;
    if (s.find("://") != std::string::npos) return SourceKind::Url;
    if (s.find(" ! ") != std::string::npos || s.find("appsink") != std::string::npos) return SourceKind::GStreamer;
    std::error_code ec;
    if (fs::is_directory(s, ec) || s.find_first_of("*?[") != std::string::npos) return SourceKind::ImageSequence;
    return SourceKind::File;
}

namespace {

class CaptureSource : public FrameSource {
public:
    CaptureSource(const std::string& s, SourceKind kind, const SourceOptions& o) : name_(s) {
        kind_ = kind;
        std::vector<int> params;
        // A URL opens under FrameSource::open's deadline: the backend gets one more second of its
        // own, so a silent server always ends at that deadline with the same message.
        const double open_s = o.open_timeout_s + (kind == SourceKind::Url ? 1.0 : 0.0);
        int open_ms = static_cast<int>(open_s * 1000), read_ms = static_cast<int>(o.read_timeout_s * 1000);
        if (kind == SourceKind::Camera || kind == SourceKind::Device) {
            std::string dev = kind == SourceKind::Camera ? "/dev/video" + s : s;
            struct stat st {};
            if (::stat(dev.c_str(), &st) != 0) {
                auto cams = list_cameras();
                std::string found;
                for (auto& c : cams) found += (found.empty() ? "" : ", ") + c;
                throw SourceError("camera " + s + ": " + dev + " does not exist (cameras found: " +
                                  (found.empty() ? "none" : found) + ")");
            }
            if (o.width > 0) params.insert(params.end(), {cv::CAP_PROP_FRAME_WIDTH, o.width});
            if (o.height > 0) params.insert(params.end(), {cv::CAP_PROP_FRAME_HEIGHT, o.height});
            params.insert(params.end(), {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, open_ms, cv::CAP_PROP_READ_TIMEOUT_MSEC, read_ms});
            if (kind == SourceKind::Camera) cap_.open(std::stoi(s), cv::CAP_V4L2, params);
            else cap_.open(dev, cv::CAP_V4L2, params);
            if (cap_.isOpened()) {
                if (o.fps > 0) cap_.set(cv::CAP_PROP_FPS, o.fps);
                cap_.set(cv::CAP_PROP_BUFFERSIZE, 1);
            }
        } else if (kind == SourceKind::GStreamer) {
            cap_.open(s, cv::CAP_GSTREAMER);
        } else {
            if (kind == SourceKind::File) {
                std::error_code ec;
                if (!fs::exists(s, ec)) throw SourceError(s + ": no such file");
            }
            params = {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, open_ms, cv::CAP_PROP_READ_TIMEOUT_MSEC, read_ms};
            cap_.open(s, cv::CAP_FFMPEG, params);
            if (!cap_.isOpened() && kind == SourceKind::File) cap_.open(s, cv::CAP_ANY);
        }
        if (!cap_.isOpened())
            throw SourceError(s + ": cannot open " + source_kind_name(kind) +
                              (kind == SourceKind::GStreamer ? " (is the GStreamer backend and every element installed?)"
                                                             : kind == SourceKind::File ? " (not a video OpenCV can decode?)"
                                                                                        : ""));
        fps_ = cap_.get(cv::CAP_PROP_FPS);
        if (!(fps_ > 0 && fps_ < 1000)) fps_ = 0;
        // containers whose frame count is an index, not an estimate from the duration
        const std::string ext = fs::path(s).extension().string();
        if (kind == SourceKind::File && (ext == ".avi" || ext == ".mp4" || ext == ".mov" || ext == ".m4v"))
            frame_count_ = int64_t(cap_.get(cv::CAP_PROP_FRAME_COUNT));
    }

    bool read(cv::Mat& bgr, double* t_ms) override {
        if (!cap_.read(bgr) || bgr.empty()) {
            if (live()) throw SourceError(name_ + ": " + source_kind_name(kind_) + " stopped delivering frames");
            // a file that ends well short of the frames its container lists was cut or damaged
            // (one frame of slack: some containers round their count)
            if (frame_count_ > 0 && frames_ < frame_count_ - 1)
                throw SourceError(name_ + ": the video ended after " + std::to_string(frames_) + " of the " +
                                  std::to_string(frame_count_) + " frames its container lists (cut short or damaged?)");
            return false;
        }
        ++frames_;
        if (t_ms) *t_ms = cap_.get(cv::CAP_PROP_POS_MSEC);
        return true;
    }
    double fps() const override { return fps_; }
    bool live() const override { return kind_ != SourceKind::File; }
    std::string describe() const override {
        return std::string(source_kind_name(kind_)) + " " + name_ + " (" + cap_.getBackendName() + ")";
    }

private:
    std::string name_;
    cv::VideoCapture cap_;
    double fps_ = 0;
    int64_t frame_count_ = 0, frames_ = 0;  // listed by the container; read so far
};

class SequenceSource : public FrameSource {
public:
    SequenceSource(const std::string& s, const SourceOptions& o) : name_(s), fps_(o.sequence_fps) {
        kind_ = SourceKind::ImageSequence;
        std::error_code ec;
        if (fs::is_directory(s, ec)) {
            for (auto& e : fs::directory_iterator(s, ec))
                if (e.is_regular_file() && has_image_extension(e.path().string())) files_.push_back(e.path().string());
        } else {
            glob_t g{};
            if (::glob(s.c_str(), 0, nullptr, &g) == 0)
                for (size_t i = 0; i < g.gl_pathc; ++i)
                    if (has_image_extension(g.gl_pathv[i])) files_.push_back(g.gl_pathv[i]);
            globfree(&g);
        }
        std::sort(files_.begin(), files_.end());
        if (files_.empty()) throw SourceError(s + ": no image files in this folder or glob");
    }
    bool read(cv::Mat& bgr, double* t_ms) override {
        while (next_ < files_.size()) {
            const std::string& f = files_[next_++];
            try {
                cv::Mat rgb = decode_image(f);
                cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
                if (t_ms) *t_ms = 1000.0 * (next_ - 1) / fps_;
                return true;
            } catch (const InputError&) {
                continue;  // skip unreadable files in a sequence
            }
        }
        return false;
    }
    double fps() const override { return fps_; }
    bool live() const override { return false; }
    std::string describe() const override {
        return "image sequence " + name_ + " (" + std::to_string(files_.size()) + " images)";
    }

private:
    std::string name_;
    std::vector<std::string> files_;
    size_t next_ = 0;
    double fps_;
};

}  // namespace

std::unique_ptr<FrameSource> FrameSource::open(const std::string& s, const SourceOptions& o,
                                               const std::function<bool()>& cancelled) {
    SourceKind k = classify_source(s);
    if (k == SourceKind::ImageSequence) return std::make_unique<SequenceSource>(s, o);
    if (k != SourceKind::Url && k != SourceKind::GStreamer) return std::make_unique<CaptureSource>(s, k, o);
    // Network and pipeline backends can block in open far past their own
    // timeouts (a server that accepts and never answers): open on a helper
    // thread and give up at the deadline. A late open is left to finish and
    // be freed by that thread.
    struct Slot {
        std::mutex mu;
        std::condition_variable cv;
        bool done = false, abandoned = false;
        std::unique_ptr<FrameSource> src;
        std::exception_ptr err;
    };
    auto slot = std::make_shared<Slot>();
    std::thread([slot, s, k, o] {
        std::unique_ptr<FrameSource> src;
        std::exception_ptr err;
        try {
            src = std::make_unique<CaptureSource>(s, k, o);
        } catch (...) {
            err = std::current_exception();
        }
        std::lock_guard<std::mutex> lk(slot->mu);
        if (slot->abandoned) return;  // src is freed here
        slot->src = std::move(src);
        slot->err = err;
        slot->done = true;
        slot->cv.notify_all();
    }).detach();
    std::unique_lock<std::mutex> lk(slot->mu);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(o.open_timeout_s * 1000));
    while (!slot->done) {  // in slices, so a cancel is seen within 50 ms
        if (cancelled && cancelled()) {
            slot->abandoned = true;
            return nullptr;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            slot->abandoned = true;
            throw SourceError(s + ": " + source_kind_name(k) + " did not open within " +
                              std::to_string(static_cast<int>(o.open_timeout_s)) + " s");
        }
        slot->cv.wait_for(lk, std::chrono::milliseconds(50));
    }
    if (slot->err) std::rethrow_exception(slot->err);
    return std::move(slot->src);
}

std::vector<std::string> list_cameras() {
    std::vector<std::string> out;
    std::error_code ec;
    std::vector<std::string> devs;
    for (auto& e : fs::directory_iterator("/dev", ec))
        if (e.path().filename().string().rfind("video", 0) == 0) devs.push_back(e.path().string());
    std::sort(devs.begin(), devs.end());
    for (const auto& d : devs) {
        std::string name;
        std::ifstream f("/sys/class/video4linux/" + fs::path(d).filename().string() + "/name");
        std::getline(f, name);
        cv::VideoCapture cap(d, cv::CAP_V4L2);
        if (cap.isOpened()) out.push_back(d + (name.empty() ? "" : " (" + name + ")"));
    }
    return out;
}

}  // namespace vitlens
