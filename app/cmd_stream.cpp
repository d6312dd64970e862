// vitlens stream: live classification of a camera, video, URL or pipeline.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "cli_args.h"
#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "model_options.h"
#include "output_dir.h"
#include "text_out.h"
#include "vitlens/errors.h"
#include "vitlens/live/stream.h"

namespace vitlens::app {

namespace {

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

struct StreamArgs {
    StreamOptions so;
    std::string source, out, jsonl, explain = "rollout", colormap = "turbo";
    bool display = false, list = false, overwrite = false, no_pace = false;
    float alpha = 0.45f;
};

const char* kStreamUsage =
    "Usage: vitlens stream --source S [options]\n\n"
    "Classifies a live source frame by frame. A capture thread keeps only the newest frame and the\n"
    "model takes it whenever it is free, so latency never grows: frames are dropped (and counted),\n"
    "never queued. Ctrl-C stops cleanly: the video is finished and the summary printed.";

void add_stream_options(po::options_description& d, StreamArgs& a) {
    StreamOptions& so = a.so;
    OptionTable(d)
        .text("source,s", &a.source, "S",
              "camera index (0), device (/dev/video2), video file, URL (rtsp://, http://), "
              "GStreamer pipeline ending in appsink, or a folder/glob of images")
        .flag("list-cameras", &a.list, "list the /dev/video* devices that open, and exit")
        .choice("explain", &a.explain, "rollout", {"rollout", "attention", "attribution", "features", "none"}, "M",
                "heatmap on every frame (attribution: of the top-1 class, f32 only; features: the patch\n"
                "features' first three principal components as colours)")
        .integer("top-k,k", &so.top_k, 3, 1, 100000, "K", "labels per frame")
        .integer("max-frames", &so.max_frames, 0, 0, int64_t(1) << 40, "N", "stop after N processed frames (0 = no limit)")
        .real("duration", &so.duration_s, 0, 0, 1e7, false, "SEC", "stop after SEC seconds (0 = no limit)")
        .text("out,o", &a.out, "FILE", "write the annotated video (.mp4 or .avi; also .mov, .m4v, .mkv)")
        .text("jsonl", &a.jsonl, "FILE",
              "write one line per processed frame: {\"frame\", \"t_ms\", \"top\", \"latency_ms\"}")
        .flag("overwrite", &a.overwrite, "replace existing --out / --jsonl files")
        .flag("display", &a.display, "show a window (needs a display); q or Esc stops")
        .flag("reconnect", &so.reconnect, "reopen a camera or URL that fails, with backoff")
        .integer("every", &so.every, 1, 1, 1'000'000, "N", "compute the heatmap every Nth processed frame")
        .real("smooth", &so.smooth, 0.f, 0.f, 1.f, true, "A", "heatmap smoothing: map = A * previous + (1 - A) * new")
        .flag("no-pace", &a.no_pace, "process every frame of a file as fast as possible (default: play at its FPS)")
        .integer("width", &so.source.width, 0, 0, 16384, "W", "requested camera width (0 = the camera's)")
        .integer("height", &so.source.height, 0, 0, 16384, "H", "requested camera height (0 = the camera's)")
        .real("fps", &so.source.fps, 0, 0, 1000, false, "F", "requested camera FPS (0 = the camera's)")
        .real("timeout", &so.source.read_timeout_s, 10, 0.1, 3600, false, "SEC",
              "fail when a live source delivers nothing for SEC seconds")
        .choice("colormap", &a.colormap, "turbo", {"turbo", "jet", "inferno", "viridis"}, "NAME", "heatmap colours")
        .real("alpha", &a.alpha, 0.45f, 0.f, 1.f, false, "A", "heatmap opacity");
}

// The outputs, opened before anything runs: a folder that cannot be written
// fails the command before the model loads or a thread starts. The video and
// the JSON lines fail independently; a file is moved into place only when
// everything was written to it.
struct StreamOutputs {
    std::unique_ptr<VideoRecorder> video;
    std::string jsonl;
    std::unique_ptr<AtomicFile> jl;  // removes its temporary unless committed
    std::string video_error, jsonl_error;

    explicit StreamOutputs(const StreamArgs& a) : jsonl(a.jsonl) {
        if (!a.out.empty()) {
            if (!is_video_extension(a.out))
                throw UsageError("--out must end in .mp4 or .avi (also .mov, .m4v, .mkv), got '" + a.out + "'");
            check_replaceable(a.out, a.overwrite);
        }
        if (!jsonl.empty()) check_replaceable(jsonl, a.overwrite);
        if (!a.out.empty()) video = std::make_unique<VideoRecorder>(a.out);
        if (!jsonl.empty()) jl = std::make_unique<AtomicFile>(jsonl);
    }
    void write(const FrameResult& r) {
        if (video && video_error.empty()) {
            try {
                video->write(r.annotated, r.source_fps);
            } catch (const OutputError& e) {
                video_error = e.what();
            }
        }
        if (jl && jsonl_error.empty()) {
            try {
                jl->write("{\"frame\": " + std::to_string(r.frame) + ", \"t_ms\": " + float_str(float(r.t_ms)) +
                          ", \"top\": " + top_json(r.prediction) + ", \"latency_ms\": " +
                          float_str(float(r.latency_ms)) + "}\n");
            } catch (const OutputError& e) {
                jsonl_error = e.what();
            }
        }
    }
    // Moves the finished files into place; returns the errors, one a line.
    std::string finish() {
        if (video && video_error.empty()) {
            try {
                video->finish();
            } catch (const OutputError& e) {
                video_error = e.what();
            }
        }
        if (jl && jsonl_error.empty()) {
            try {
                jl->commit();
            } catch (const OutputError& e) {
                jsonl_error = e.what();
            }
        }
        return video_error + (video_error.empty() || jsonl_error.empty() ? "" : "\n") + jsonl_error;
    }
    bool video_written() const { return video && video_error.empty(); }
    bool jsonl_written() const { return !jsonl.empty() && jsonl_error.empty(); }
};

// Ctrl-C and SIGTERM set g_interrupted from the start of the command (so an
// interrupt during the model load still removes the temporary files) until
// the outputs are finished; restored on every way out.
class SignalGuard {
public:
    // No SA_RESTART: a blocking open (a FIFO with no reader yet) returns EINTR on Ctrl-C instead of waiting on.
    SignalGuard() {
        g_interrupted = false;
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        ::sigaction(SIGINT, &sa, &old_int_);
        ::sigaction(SIGTERM, &sa, &old_term_);
    }
    ~SignalGuard() {
        ::sigaction(SIGINT, &old_int_, nullptr);
        ::sigaction(SIGTERM, &old_term_, nullptr);
    }

private:
    struct sigaction old_int_ {}, old_term_ {};
};

// Turns an interrupt into engine.stop() while the stream runs; joined on every way out.
class InterruptWatcher {
public:
    explicit InterruptWatcher(StreamEngine& e) {
        t_ = std::thread([this, &e] {
            while (!finished_) {
                if (g_interrupted) {
                    e.stop();
                    return;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        });
    }
    ~InterruptWatcher() {
        finished_ = true;
        t_.join();
    }

private:
    std::atomic<bool> finished_{false};
    std::thread t_;
};

void show_frame(const FrameResult& r, bool display, StreamEngine& engine) {
    if (display) {
        cv::Mat bgr;
        cv::cvtColor(r.annotated, bgr, cv::COLOR_RGB2BGR);
        cv::imshow("vitlens", bgr);
        int k = cv::waitKey(1);
        if (k == 'q' || k == 27) engine.stop();
    } else if (r.frame > 0 && stderr_is_tty()) {
        const bool top = !r.prediction.top.empty();  // a backbone has no classes
        std::fprintf(stderr, "\rframe %lld  %.1f FPS  dropped %lld  %s %.0f%%   ", static_cast<long long>(r.frame), r.fps,
                     static_cast<long long>(r.dropped), top ? r.prediction.top[0].label.c_str() : "-",
                     top ? 100.0 * r.prediction.top[0].prob : 0.0);
    }
}

void print_summary(const StreamSummary& sum, const StreamArgs& a, const StreamOutputs& o) {
    std::printf("source:      %s\n", sum.source.c_str());
    std::printf("frames:      %lld read, %lld processed, %lld dropped (%.1f%%)%s\n", static_cast<long long>(sum.read),
                static_cast<long long>(sum.processed), static_cast<long long>(sum.dropped),
                sum.read ? 100.0 * sum.dropped / sum.read : 0.0, g_interrupted ? ", interrupted" : "");
    std::printf("rate:        %.2f FPS processed over %.1f s (source %.2f FPS)\n", sum.fps, sum.seconds, sum.source_fps);
    if (sum.reconnects) std::printf("reconnects:  %d\n", sum.reconnects);
    std::printf("stage ms:    %-10s %8s %8s\n", "", "median", "p95");
    for (auto& [name, v] : sum.stages) std::printf("             %-10s %8.2f %8.2f\n", name.c_str(), v.first, v.second);
    if (o.video_written()) std::printf("video:       %s\n", a.out.c_str());
    if (o.jsonl_written()) std::printf("jsonl:       %s\n", a.jsonl.c_str());
}

// The parsed strings into the engine's options: the map (or features), style, pacing, display.
void finish_stream_args(StreamArgs& a, const ClassifierOptions& copt) {
    StreamOptions& so = a.so;
    if (a.explain == "none") so.map.reset();
    else so.map->method = parse_map_method(a.explain);
    if (const std::string why = so.map ? precision_problem(so.map->method, copt.precision) : ""; !why.empty())
        throw UsageError(why + "; drop --precision " + precision_name(copt.precision));
    so.style.colormap = parse_colormap(a.colormap);
    so.style.alpha = a.alpha;
    so.pace_files = !a.no_pace;
    if (a.display && !std::getenv("DISPLAY") && !std::getenv("WAYLAND_DISPLAY")) {
        std::cerr << "vitlens: --display: no display ($DISPLAY and $WAYLAND_DISPLAY are unset); running without a window\n";
        a.display = false;
    }
    so.annotate = a.display || !a.out.empty();
}

// The exit code: a write error is 5, a source that failed 4 (the later wins).
int stream_exit(const std::string& write_error, const StreamSummary& sum) {
    int rc = kOk;
    if (!write_error.empty()) {
        std::cerr << "vitlens: output error: " << write_error << "\n";
        rc = kOutputError;
    }
    if (!sum.error.empty()) {
        std::cerr << "vitlens: source error: " << sum.error << "\n";
        rc = kSourceError;
    }
    return rc;
}

}  // namespace

int cmd_stream(int argc, char** argv) {
    ModelOptions mo;
    StreamArgs a;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    add_stream_options(d, a);
    po::variables_map vm;
    if (!parse_args(argc, argv, kStreamUsage, d, nullptr, vm)) return kOk;
    if (a.list) {
        auto cams = list_cameras();
        if (cams.empty()) std::cout << "no cameras found under /dev/video*\n";
        for (auto& c : cams) std::cout << c << "\n";
        return kOk;
    }
    if (a.source.empty()) throw UsageError("--source is required (or --list-cameras)");
    const ClassifierOptions copt = mo.classifier_options();
    finish_stream_args(a, copt);
    StreamOptions& so = a.so;
    SignalGuard signals;
    StreamOutputs outputs(a);

    Classifier clf(mo.resolve(), copt);
    StreamEngine engine(a.source, so);
    if (g_interrupted) engine.stop();  // Ctrl-C during the model load
    StreamSummary sum;
    {
        InterruptWatcher watcher(engine);
        sum = engine.run(clf, [&](const FrameResult& r) {
            outputs.write(r);
            show_frame(r, a.display, engine);
        });
    }
    if (stderr_is_tty()) std::fprintf(stderr, "\n");

    const std::string write_error = outputs.finish();
    print_summary(sum, a, outputs);
    return stream_exit(write_error, sum);
}

}  // namespace vitlens::app
