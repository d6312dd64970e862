#include "vitlens/live/stream.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "vitlens/errors.h"
#include "vitlens/images/preprocess.h"
#include "vitlens/live/stage_stats.h"

namespace vitlens {

using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

// The hand-off between the capture thread and the inference loop. Every
// field is read and written under `mu`, and every change a waiter waits for
// is notified after it was made under `mu`, so no wake-up can be lost.
struct StreamEngine::Shared {
    std::mutex mu;
    std::condition_variable cv;
    cv::Mat frame;  // newest, BGR
    int64_t index = -1;
    double t_ms = 0, capture_ms = 0;
    Clock::time_point captured_at;
    bool fresh = false;  // `frame` was not taken yet
    bool ended = false;  // the source ended or failed (see error)
    bool stop = false;
    bool done = false;          // the capture loop returned
    bool reconnecting = false;  // the capture loop is reopening a failed live source
    std::string error;
    int64_t read = 0, dropped = 0;
    int reconnects = 0;

    bool stopped() {
        std::lock_guard<std::mutex> lk(mu);
        return stop;
    }
    void request_stop() {
        {
            std::lock_guard<std::mutex> lk(mu);
            stop = true;
        }
        cv.notify_all();
    }
    void finish(std::string why) {
        {
            std::lock_guard<std::mutex> lk(mu);
            ended = true;
            error = std::move(why);
        }
        cv.notify_all();
    }
    // Sleeps until `t` or a stop; true when stopped.
    bool sleep_until(Clock::time_point t) {
        std::unique_lock<std::mutex> lk(mu);
        return cv.wait_until(lk, t, [&] { return stop; });
    }
};

namespace {

// The capture thread's work: read, pace, publish the newest frame. Owns the
// source; runs until the source ends or fails, or a stop.
class CaptureLoop {
public:
    struct Params {
        std::string source;
        SourceOptions options;
        bool pace = false;       // a file played at its own rate
        bool lossless = false;   // wait until the previous frame was taken
        bool reconnect = false;  // reopen a failed live source with backoff
        double period_ms = 1000.0 / 30;
    };
    CaptureLoop(std::shared_ptr<StreamEngine::Shared> sh, std::unique_ptr<FrameSource> src, Params p)
        : sh_(std::move(sh)), src_(std::move(src)), p_(std::move(p)) {}

    void operator()() {
        loop();
        std::lock_guard<std::mutex> lk(sh_->mu);
        sh_->done = true;
        sh_->cv.notify_all();
    }

private:
    void loop() {
        const auto start = Clock::now();
        for (int64_t idx = 0; !sh_->stopped();) {
            cv::Mat f;
            double t = 0;
            const auto t0 = Clock::now();
            if (!read_one(f, t)) continue;
            if (f.empty()) return;  // the end, or a failure recorded in sh_
            const double cap_ms = ms_since(t0);
            if (p_.pace && sh_->sleep_until(start + std::chrono::microseconds(static_cast<int64_t>(idx * p_.period_ms * 1000))))
                break;
            publish(std::move(f), t, cap_ms, idx++);
        }
        sh_->finish("");
    }

    // One frame into `f`. Returns false to retry after a reconnect; leaves
    // `f` empty at the end of the source or after a recorded failure.
    bool read_one(cv::Mat& f, double& t) {
        try {
            if (!src_->read(f, &t)) {
                f.release();
                sh_->finish("");
            }
            return true;
        } catch (const std::exception& e) {
            if (!p_.reconnect) {
                f.release();
                sh_->finish(e.what());
                return true;
            }
        }
        reopen();
        return false;
    }

    // Reopens with backoff (0.5 s doubling to 5 s) until it works or a stop.
    void reopen() {
        src_.reset();
        set_reconnecting(true);
        reopen_with_backoff();
        set_reconnecting(false);
    }
    void set_reconnecting(bool on) {
        std::lock_guard<std::mutex> lk(sh_->mu);
        sh_->reconnecting = on;
    }
    void reopen_with_backoff() {
        double backoff = 0.5;
        while (!src_) {
            if (sh_->sleep_until(Clock::now() + std::chrono::milliseconds(static_cast<int>(backoff * 1000)))) return;
            backoff = std::min(backoff * 2, 5.0);
            try {
                src_ = FrameSource::open(p_.source, p_.options, [this] { return sh_->stopped(); });
            } catch (const std::exception&) {
                continue;
            }
            if (!src_) return;  // stopped while opening
            std::lock_guard<std::mutex> lk(sh_->mu);
            sh_->reconnects++;
        }
    }

    void publish(cv::Mat f, double t, double cap_ms, int64_t idx) {
        {
            std::unique_lock<std::mutex> lk(sh_->mu);
            if (p_.lossless) sh_->cv.wait(lk, [&] { return !sh_->fresh || sh_->stop; });
            if (sh_->fresh) sh_->dropped++;  // the previous frame was never taken
            sh_->frame = std::move(f);
            sh_->index = idx;
            sh_->t_ms = t > 0 || !p_.pace ? t : idx * p_.period_ms;
            sh_->capture_ms = cap_ms;
            sh_->captured_at = Clock::now();
            sh_->fresh = true;
            sh_->read++;
        }
        sh_->cv.notify_all();
    }

    std::shared_ptr<StreamEngine::Shared> sh_;
    std::unique_ptr<FrameSource> src_;
    Params p_;
};

// Stops the capture thread and joins it. Camera, file and URL reads return
// within the source's read timeout, so the join always comes. OpenCV 4.6
// cannot bound a GStreamer appsink read: a pipeline that goes silent would
// block forever, so after the timeout (plus 2 s) that one thread is let go.
// It owns its source and the shared hand-off (shared_ptr), touches nothing
// else, and releases the pipeline when its read returns.
void stop_and_join(std::thread& t, StreamEngine::Shared& sh, double read_timeout_s) {
    if (!t.joinable()) return;
    sh.request_stop();
    std::unique_lock<std::mutex> lk(sh.mu);
    const auto limit = std::chrono::milliseconds(static_cast<int64_t>((read_timeout_s + 2) * 1000));
    const bool done = sh.cv.wait_for(lk, limit, [&] { return sh.done; });
    lk.unlock();
    if (done) t.join();
    else t.detach();
}

// Stops and joins the capture thread on every way out of run().
struct JoinOnExit {
    std::thread& t;
    StreamEngine::Shared& sh;
    double read_timeout_s;
    ~JoinOnExit() { stop_and_join(t, sh, read_timeout_s); }
};

// Per-stage timings in bounded memory.
struct StageTable {
    explicit StageTable(bool with_backward) : with_backward(with_backward) {}
    bool with_backward;
    StageStats capture, preprocess, encoder, backward, maps, render, latency;
    void add(const FrameResult& r) {
        capture.add(r.times.capture);
        preprocess.add(r.times.preprocess);
        encoder.add(r.times.encoder);
        if (with_backward && r.times.backward > 0) backward.add(r.times.backward);  // frames with a new map
        maps.add(r.times.maps);
        render.add(r.times.render);
        latency.add(r.latency_ms);
    }
    std::vector<std::pair<std::string, std::pair<double, double>>> summary() const {
        auto mp = [](const StageStats& s) { return std::make_pair(s.quantile(0.5), s.quantile(0.95)); };
        std::vector<std::pair<std::string, std::pair<double, double>>> rows = {
            {"capture", mp(capture)}, {"preprocess", mp(preprocess)}, {"encoder", mp(encoder)}};
        if (with_backward) rows.push_back({"backward", mp(backward)});
        rows.insert(rows.end(), {{"maps", mp(maps)}, {"render", mp(render)}, {"latency", mp(latency)}});
        return rows;
    }
};

// Processed frames per second over a sliding 2 s window.
class RateWindow {
public:
    double tick() {
        auto now = Clock::now();
        w_.push_back(now);
        while (std::chrono::duration<double>(now - w_.front()).count() > 2.0) w_.pop_front();
        double span = std::chrono::duration<double>(w_.back() - w_.front()).count();
        return span > 0 ? (w_.size() - 1) / span : 0;
    }

private:
    std::deque<Clock::time_point> w_;
};

// Everything done to one taken frame: preprocess, encoder, map, render.
class FrameProcessor {
public:
    FrameProcessor(Classifier& clf, const StreamOptions& o) : clf_(clf), o_(o) {
        if (o_.map) request_ = explain_request(*o_.map, o_.top_k);
        plain_.need = MapNeed::None;
        plain_.top_k = o_.top_k;
    }

    void process(const cv::Mat& bgr, FrameResult& r, int64_t processed) {
        auto t0 = Clock::now();
        cv::cvtColor(bgr, r.frame_rgb, cv::COLOR_BGR2RGB);
        Tensor patches = prepare_image(r.frame_rgb, clf_.spec(), &r.geometry);
        r.times.preprocess = ms_since(t0);

        const bool want_map = o_.map && (processed % std::max(1, o_.every) == 0 || view_.empty());
        t0 = Clock::now();
        Explained& ex = want_map ? ex_ : plain_ex_;  // each keeps its buffers from frame to frame
        clf_.explain_patches(patches.data(), want_map ? request_ : plain_, ex);
        r.prediction = ex.prediction;
        r.times.backward = ex.backward_ms;
        r.times.encoder = ms_since(t0) - r.times.backward;

        t0 = Clock::now();
        if (want_map) blend_views(view_, compute_view(ex_, clf_.spec(), *o_.map), o_.smooth);
        r.view = view_;
        r.times.maps = ms_since(t0);

        r.fps = rate_.tick();
        t0 = Clock::now();
        if (o_.annotate) {
            const bool colour = view_.colour && !view_.empty();
            const cv::Mat base = colour ? render_view(r.frame_rgb, view_, r.geometry, o_.style) : r.frame_rgb;
            r.annotated = annotate_frame(base, r.prediction, colour || view_.empty() ? nullptr : &view_.heat,
                                         r.geometry, o_.style, r.fps);
        }
        r.times.render = ms_since(t0);
    }

private:
    Classifier& clf_;
    const StreamOptions& o_;
    ExplainRequest request_, plain_;  // a frame with a new map, and one without
    Explained ex_;        // frames with a new map (ViT-B: 22 MB of attention, twice that with gradients)
    Explained plain_ex_;  // frames without (--every N)
    MapView view_;
    RateWindow rate_;
};

}  // namespace

StreamEngine::StreamEngine(std::string source, StreamOptions opt)
    : source_(std::move(source)), opt_(std::move(opt)), shared_(std::make_shared<Shared>()) {}

StreamEngine::~StreamEngine() { stop(); }

void StreamEngine::stop() { shared_->request_stop(); }

bool StreamEngine::stopping() const { return shared_->stopped(); }

// Waits for the newest frame. Returns false when the run is over: the
// source ended or failed, a stop, or a live source stalled (error set).
static bool take_frame(StreamEngine::Shared& sh, const StreamOptions& o, const std::string& source, bool live,
                       cv::Mat& bgr, FrameResult& r, Clock::time_point& captured, std::string& error) {
    std::unique_lock<std::mutex> lk(sh.mu);
    auto ready = [&] { return sh.fresh || sh.ended || sh.stop; };
    // A live source that sends nothing for its read timeout (+1 s) has stalled; not while it is
    // being reconnected, and never a file or folder (paced at its own rate, however slow).
    const auto wait = std::chrono::milliseconds(static_cast<int64_t>(o.source.read_timeout_s * 1000 + 1000));
    while (!sh.cv.wait_for(lk, wait, ready)) {
        if (!live || sh.reconnecting) continue;
        char s[64];
        std::snprintf(s, sizeof s, "%g", o.source.read_timeout_s);
        error = source + ": no frame for " + s + " s (source stalled)";
        return false;
    }
    if (!sh.fresh || sh.stop) return false;
    bgr = std::move(sh.frame);
    sh.fresh = false;
    r.frame = sh.index;
    r.t_ms = sh.t_ms;
    r.times.capture = sh.capture_ms;
    captured = sh.captured_at;
    r.dropped = sh.dropped;
    lk.unlock();
    sh.cv.notify_all();  // a lossless capture waits for the slot to be free
    return true;
}

StreamSummary StreamEngine::run(Classifier& clf, const Callback& on_result) {
    StreamSummary sum;
    Shared& sh = *shared_;
    // Open on this thread so an unopenable source fails the call directly.
    std::unique_ptr<FrameSource> src = FrameSource::open(source_, opt_.source, [&sh] { return sh.stopped(); });
    if (!src) return sum;  // stopped while opening
    const bool live = src->live();
    sum.source = src->describe();
    sum.source_fps = src->fps();
    CaptureLoop::Params cp{source_, opt_.source, !live && opt_.pace_files, !live && !opt_.pace_files,
                           opt_.reconnect && live && src->kind() != SourceKind::GStreamer,
                           src->fps() > 0 ? 1000.0 / src->fps() : 1000.0 / 30.0};
    std::thread capture(CaptureLoop(shared_, std::move(src), cp));
    JoinOnExit joiner{capture, sh, opt_.source.read_timeout_s};

    const auto start = Clock::now();
    FrameProcessor proc(clf, opt_);
    StageTable stages(opt_.map && needs_gradients(*opt_.map));
    int64_t processed = 0;
    for (;;) {
        cv::Mat bgr;
        FrameResult r;
        Clock::time_point captured;
        if (!take_frame(sh, opt_, source_, live, bgr, r, captured, sum.error)) break;
        proc.process(bgr, r, processed);
        r.source_fps = sum.source_fps;
        r.latency_ms = ms_since(captured);
        stages.add(r);
        ++processed;
        if (on_result) on_result(r);
        if (opt_.max_frames > 0 && processed >= opt_.max_frames) break;
        if (opt_.duration_s > 0 && std::chrono::duration<double>(Clock::now() - start).count() >= opt_.duration_s) break;
    }
    stop_and_join(capture, sh, opt_.source.read_timeout_s);

    sum.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    {
        std::lock_guard<std::mutex> lk(sh.mu);
        sum.read = sh.read;
        sum.dropped = sh.dropped + (sh.fresh ? 1 : 0);
        sum.reconnects = sh.reconnects;
        if (sum.error.empty()) sum.error = sh.error;
    }
    sum.processed = processed;
    sum.fps = sum.seconds > 0 ? processed / sum.seconds : 0;
    sum.stages = stages.summary();
    return sum;
}

}  // namespace vitlens
