#include "vitlens/stream.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <thread>
#include <fstream>

#include "vitlens/datasets.h"
#include "vitlens/errors.h"

namespace vitlens {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

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
        int open_ms = static_cast<int>(o.open_timeout_s * 1000), read_ms = static_cast<int>(o.read_timeout_s * 1000);
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
    }

    bool read(cv::Mat& bgr, double* t_ms) override {
        if (!cap_.read(bgr) || bgr.empty()) {
            if (live()) throw SourceError(name_ + ": " + source_kind_name(kind_) + " stopped delivering frames");
            return false;
        }
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

std::unique_ptr<FrameSource> FrameSource::open(const std::string& s, const SourceOptions& o) {
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
    if (!slot->cv.wait_for(lk, std::chrono::milliseconds(static_cast<int>(o.open_timeout_s * 1000)),
                           [&] { return slot->done; })) {
        slot->abandoned = true;
        throw SourceError(s + ": " + source_kind_name(k) + " did not open within " +
                          std::to_string(static_cast<int>(o.open_timeout_s)) + " s");
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

cv::Mat annotate_frame(const cv::Mat& rgb, const Prediction& p, const AttentionMap* map, const Geometry& g,
                       const OverlayStyle& style, double fps) {
    cv::Mat out = map && !map->values.empty() ? render_overlay(rgb, *map, g, style) : rgb.clone();
    const double scale = std::max(0.4, std::min(out.cols, out.rows) / 800.0);
    const int line = static_cast<int>(22 * scale / 0.5 * 0.5) + 6;
    int n = static_cast<int>(p.top.size()) + 1;
    cv::Mat box = out(cv::Rect(0, 0, std::min(out.cols, static_cast<int>(300 * scale / 0.5 * 0.6)), std::min(out.rows, n * line + 8)));
    box *= 0.45;
    for (size_t i = 0; i < p.top.size(); ++i) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "%5.1f%% %s", 100.0 * p.top[i].prob, p.top[i].label.c_str());
        cv::putText(out, buf, {6, line * static_cast<int>(i + 1)}, cv::FONT_HERSHEY_SIMPLEX, scale,
                    i == 0 ? cv::Scalar(255, 255, 120) : cv::Scalar(235, 235, 235), 1, cv::LINE_AA);
    }
    char f[64];
    std::snprintf(f, sizeof f, "%.1f FPS", fps);
    cv::putText(out, f, {6, line * n}, cv::FONT_HERSHEY_SIMPLEX, scale * 0.9, cv::Scalar(160, 255, 160), 1, cv::LINE_AA);
    return out;
}

// --------------------------------------------------------------------------

struct StreamEngine::Shared {
    std::mutex mu;
    std::condition_variable cv;
    cv::Mat frame;  // newest, BGR
    int64_t index = -1;
    double t_ms = 0, capture_ms = 0;
    Clock::time_point captured_at;
    bool fresh = false, ended = false;
    std::string error;
    int64_t read = 0, dropped = 0;
    int reconnects = 0;
    std::atomic<bool> done{false};  // capture thread finished
    std::atomic<bool> stop{false};
};

StreamEngine::StreamEngine(std::string source, StreamOptions opt)
    : source_(std::move(source)), opt_(std::move(opt)), shared_(std::make_shared<Shared>()) {}

StreamEngine::~StreamEngine() { stop(); }

void StreamEngine::stop() {
    shared_->stop = true;
    shared_->cv.notify_all();
}

bool StreamEngine::stopping() const { return shared_->stop.load(); }

namespace {

std::pair<double, double> median_p95(std::vector<double> v) {
    if (v.empty()) return {0, 0};
    std::sort(v.begin(), v.end());
    auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))]; };
    return {at(0.5), at(0.95)};
}

}  // namespace

StreamSummary StreamEngine::run(Classifier& clf, const Callback& on_result) {
    StreamSummary sum;
    auto sh = shared_;
    // Open on this thread so an unopenable source fails the call directly.
    std::unique_ptr<FrameSource> src = FrameSource::open(source_, opt_.source);
    const bool live = src->live();
    const bool pace = !live && opt_.pace_files;
    const bool lossless = !live && !opt_.pace_files;  // hand every frame over
    sum.source = src->describe();
    sum.source_fps = src->fps();
    const double period_ms = src->fps() > 0 ? 1000.0 / src->fps() : 1000.0 / 30.0;
    const std::string source = source_;
    const SourceOptions sopt = opt_.source;
    const bool reconnect = opt_.reconnect && live && src->kind() != SourceKind::GStreamer;

    std::thread capture([sh, src = std::move(src), pace, lossless, period_ms, reconnect, source, sopt]() mutable {
        auto start = Clock::now();
        int64_t idx = 0;
        double backoff = 0.5;
        auto& stop = sh->stop;
        while (!stop) {
            cv::Mat f;
            double t = 0;
            auto t0 = Clock::now();
            bool ok = false;
            try {
                ok = src && src->read(f, &t);
                if (!ok) {
                    std::lock_guard<std::mutex> lk(sh->mu);
                    sh->ended = true;
                    break;
                }
            } catch (const std::exception& e) {
                if (!reconnect) {
                    std::lock_guard<std::mutex> lk(sh->mu);
                    sh->error = e.what();
                    break;
                }
                // Reopen with backoff until it works or we are stopped.
                src.reset();
                while (!stop && !src) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(backoff * 1000)));
                    backoff = std::min(backoff * 2, 5.0);
                    try {
                        src = FrameSource::open(source, sopt);
                        std::lock_guard<std::mutex> lk(sh->mu);
                        sh->reconnects++;
                    } catch (const std::exception&) {
                    }
                }
                continue;
            }
            backoff = 0.5;
            double cap_ms = ms_since(t0);
            if (pace) {  // play a file at its own rate, like a camera would deliver it
                auto due = start + std::chrono::microseconds(static_cast<int64_t>(idx * period_ms * 1000));
                std::this_thread::sleep_until(due);
            }
            std::unique_lock<std::mutex> lk(sh->mu);
            if (lossless) sh->cv.wait(lk, [&] { return !sh->fresh || stop; });
            if (sh->fresh) sh->dropped++;  // the previous frame was never taken
            sh->frame = f;
            sh->index = idx++;
            sh->t_ms = t > 0 || !pace ? t : (sh->index * period_ms);
            sh->capture_ms = cap_ms;
            sh->captured_at = Clock::now();
            sh->fresh = true;
            sh->read++;
            lk.unlock();
            sh->cv.notify_all();
        }
        sh->done = true;
        sh->cv.notify_all();
    });

    auto start = Clock::now();
    std::vector<double> st_cap, st_pre, st_enc, st_map, st_ren, st_lat;
    std::deque<Clock::time_point> window;
    AttentionMap prev_map;
    bool have_prev = false;
    AttentionCapture cap;  // reused frame to frame (ViT-B: 22 MB)
    const ModelSpec& spec = clf.spec();
    TokenLayout lay{spec.n_prefix, spec.grid_h(), spec.grid_w()};
    int64_t processed = 0;
    auto& stop = sh->stop;
    try {
        while (!stop) {
            cv::Mat bgr;
            FrameResult r;
            Clock::time_point captured;
            {
                std::unique_lock<std::mutex> lk(sh->mu);
                auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int>(opt_.source.read_timeout_s * 1000 + 1000));
                bool got = sh->cv.wait_until(lk, deadline, [&] { return sh->fresh || sh->ended || !sh->error.empty() || stop || sh->done; });
                if (!got) {
                    sum.error = source_ + ": no frame for " + std::to_string(static_cast<int>(opt_.source.read_timeout_s)) +
                                " s (source stalled)";
                    break;
                }
                if (!sh->fresh) {
                    if (!sh->error.empty()) sum.error = sh->error;
                    if (sh->ended || sh->done || !sh->error.empty() || stop) break;
                    continue;
                }
                bgr = std::move(sh->frame);
                sh->fresh = false;
                r.frame = sh->index;
                r.t_ms = sh->t_ms;
                r.times.capture = sh->capture_ms;
                captured = sh->captured_at;
                r.dropped = sh->dropped;
            }
            sh->cv.notify_all();

            auto t0 = Clock::now();
            cv::cvtColor(bgr, r.frame_rgb, cv::COLOR_BGR2RGB);
            Tensor patches = prepare_image(r.frame_rgb, spec, &r.geometry);
            r.times.preprocess = ms_since(t0);

            bool want_map = opt_.explain != "none" && (processed % std::max(1, opt_.every) == 0 || !have_prev);
            t0 = Clock::now();
            r.prediction = clf.classify_patches(patches.data(), 1, opt_.top_k, want_map ? &cap : nullptr).front();
            r.times.encoder = ms_since(t0);

            t0 = Clock::now();
            if (want_map) {
                cap.attention.reshape({spec.layers, spec.heads, spec.tokens(), spec.tokens()});
                AttentionMap m = opt_.explain == "attention" ? attention_map(cap.attention, lay) : rollout(cap.attention, lay);
                if (have_prev && opt_.smooth > 0.f && prev_map.values.size() == m.values.size())
                    for (size_t i = 0; i < m.values.size(); ++i)
                        m.values[i] = opt_.smooth * prev_map.values[i] + (1.f - opt_.smooth) * m.values[i];
                prev_map = m;
                have_prev = true;
            }
            if (have_prev) r.map = prev_map;
            r.times.maps = ms_since(t0);

            auto now = Clock::now();
            window.push_back(now);
            while (!window.empty() && std::chrono::duration<double>(now - window.front()).count() > 2.0) window.pop_front();
            double span = window.size() > 1 ? std::chrono::duration<double>(window.back() - window.front()).count() : 0;
            r.fps = span > 0 ? (window.size() - 1) / span : 0;
            r.source_fps = sum.source_fps;

            t0 = Clock::now();
            if (opt_.annotate)
                r.annotated = annotate_frame(r.frame_rgb, r.prediction, r.map.values.empty() ? nullptr : &r.map,
                                             r.geometry, opt_.style, r.fps);
            r.times.render = ms_since(t0);
            r.latency_ms = ms_since(captured);

            st_cap.push_back(r.times.capture);
            st_pre.push_back(r.times.preprocess);
            st_enc.push_back(r.times.encoder);
            st_map.push_back(r.times.maps);
            st_ren.push_back(r.times.render);
            st_lat.push_back(r.latency_ms);
            ++processed;
            if (on_result) on_result(r);
            if (opt_.max_frames > 0 && processed >= opt_.max_frames) break;
            if (opt_.duration_s > 0 && std::chrono::duration<double>(Clock::now() - start).count() >= opt_.duration_s) break;
        }
    } catch (...) {
        stop = true;
        sh->cv.notify_all();
        capture.detach();  // may be blocked in a read; it owns what it uses
        throw;
    }
    stop = true;
    sh->cv.notify_all();
    // A capture thread stuck in a blocking read (a silent pipeline) cannot be
    // interrupted: give it a moment, then let it go.
    for (int i = 0; i < 20 && !sh->done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (sh->done) capture.join();
    else capture.detach();

    sum.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    {
        std::lock_guard<std::mutex> lk(sh->mu);
        sum.read = sh->read;
        sum.dropped = sh->dropped + (sh->fresh ? 1 : 0);
        sum.reconnects = sh->reconnects;
        if (sum.error.empty() && !sh->error.empty()) sum.error = sh->error;
    }
    sum.processed = processed;
    sum.fps = sum.seconds > 0 ? processed / sum.seconds : 0;
    sum.stages = {{"capture", median_p95(st_cap)},  {"preprocess", median_p95(st_pre)}, {"encoder", median_p95(st_enc)},
                  {"maps", median_p95(st_map)},     {"render", median_p95(st_ren)},     {"latency", median_p95(st_lat)}};
    return sum;
}

}  // namespace vitlens
