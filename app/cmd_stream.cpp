// vitlens stream: live classification of a camera, video, URL or pipeline.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <thread>
#include <unistd.h>

#include "common.h"
#include "vitlens/errors.h"
#include "vitlens/stream.h"

namespace vitlens::app {

namespace {

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

int fourcc_for(const std::string& path) {
    std::string ext = std::filesystem::path(path).extension().string();
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext == ".mp4" || ext == ".m4v" || ext == ".mov") return cv::VideoWriter::fourcc('m', 'p', '4', 'v');
    if (ext == ".avi" || ext == ".mkv") return cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
    throw UsageError("--out must end in .mp4 or .avi (also .mov, .m4v, .mkv), got '" + path + "'");
}

std::string temp_beside(const std::string& path) {
    std::filesystem::path p(path);
    return (p.parent_path() / ("." + p.stem().string() + ".tmp-" + std::to_string(::getpid()) + p.extension().string())).string();
}

}  // namespace

int cmd_stream(int argc, char** argv) {
    ModelOptions mo;
    StreamOptions so;
    std::string source, out, jsonl, colormap = "turbo";
    bool display = false, list = false, overwrite = false, no_pace = false;
    float alpha = 0.45f;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    d.add_options()
        ("source,s", po::value(&source)->value_name("S"),
         "camera index (0), device (/dev/video2), video file, URL (rtsp://, http://), "
         "GStreamer pipeline ending in appsink, or a folder/glob of images")
        ("list-cameras", po::bool_switch(&list), "list the /dev/video* devices that open, and exit")
        ("explain", po::value(&so.explain)->default_value("rollout")->value_name("M"), "heatmap: rollout, attention or none")
        ("top-k,k", po::value(&so.top_k)->default_value(3)->value_name("K"), "labels per frame")
        ("max-frames", po::value(&so.max_frames)->default_value(0)->value_name("N"), "stop after N processed frames")
        ("duration", po::value(&so.duration_s)->default_value(0)->value_name("SEC"), "stop after SEC seconds")
        ("out,o", po::value(&out)->value_name("FILE"), "write the annotated video (.mp4 or .avi)")
        ("jsonl", po::value(&jsonl)->value_name("FILE"),
         "write one line per processed frame: {\"frame\", \"t_ms\", \"top\", \"latency_ms\"}")
        ("overwrite", po::bool_switch(&overwrite), "replace existing --out / --jsonl files")
        ("display", po::bool_switch(&display), "show a window (needs a display); q or Esc stops")
        ("reconnect", po::bool_switch(&so.reconnect), "reopen a camera or URL that fails, with backoff")
        ("every", po::value(&so.every)->default_value(1)->value_name("N"), "compute the heatmap every Nth processed frame")
        ("smooth", po::value(&so.smooth)->default_value(0.f)->value_name("A"),
         "heatmap smoothing 0..0.99: map = A * previous + (1 - A) * new")
        ("no-pace", po::bool_switch(&no_pace), "process every frame of a file as fast as possible (default: play at its FPS)")
        ("width", po::value(&so.source.width)->default_value(0)->value_name("W"), "requested camera width")
        ("height", po::value(&so.source.height)->default_value(0)->value_name("H"), "requested camera height")
        ("fps", po::value(&so.source.fps)->default_value(0)->value_name("F"), "requested camera FPS")
        ("timeout", po::value(&so.source.read_timeout_s)->default_value(10)->value_name("SEC"),
         "fail when a live source delivers nothing for SEC seconds")
        ("colormap", po::value(&colormap)->default_value("turbo")->value_name("NAME"), "turbo, jet, inferno, viridis")
        ("alpha", po::value(&alpha)->default_value(0.45f)->value_name("A"), "heatmap opacity 0..1");
    po::variables_map vm;
    if (!parse_args(argc, argv,
                    "Usage: vitlens stream --source S [options]\n\n"
                    "Classifies a live source frame by frame. A capture thread keeps only the newest frame and the\n"
                    "model takes it whenever it is free, so latency never grows: frames are dropped (and counted),\n"
                    "never queued. Ctrl-C stops cleanly: the video is finished and the summary printed.",
                    d, nullptr, vm))
        return kOk;
    if (list) {
        auto cams = list_cameras();
        if (cams.empty()) std::cout << "no cameras found under /dev/video*\n";
        for (auto& c : cams) std::cout << c << "\n";
        return kOk;
    }
    if (source.empty()) throw UsageError("--source is required (or --list-cameras)");
    if (so.explain != "rollout" && so.explain != "attention" && so.explain != "none")
        throw UsageError("--explain must be rollout, attention or none");
    if (so.every < 1) throw UsageError("--every must be >= 1");
    if (!(so.smooth >= 0.f && so.smooth < 1.f)) throw UsageError("--smooth must be in [0, 1)");
    if (so.top_k < 1) throw UsageError("--top-k must be >= 1");
    try {
        so.style.colormap = parse_colormap(colormap);
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    so.style.alpha = alpha;
    so.pace_files = !no_pace;
    int fourcc = 0;
    if (!out.empty()) {
        fourcc = fourcc_for(out);
        check_can_write(out, overwrite);
    }
    if (!jsonl.empty()) check_can_write(jsonl, overwrite);
    if (display && !std::getenv("DISPLAY") && !std::getenv("WAYLAND_DISPLAY")) {
        std::cerr << "vitlens: --display: no display ($DISPLAY and $WAYLAND_DISPLAY are unset); running without a window\n";
        display = false;
    }
    so.annotate = display || !out.empty();

    Classifier clf(mo.resolve(), mo.classifier_options());
    so.top_k = std::min(so.top_k, clf.spec().num_classes);
    StreamEngine engine(source, so);

    g_interrupted = false;
    auto old_int = std::signal(SIGINT, on_signal);
    auto old_term = std::signal(SIGTERM, on_signal);
    std::atomic<bool> finished{false};
    std::thread watcher([&] {
        while (!finished) {
            if (g_interrupted) {
                engine.stop();
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });

    cv::VideoWriter writer;
    std::string video_tmp = out.empty() ? "" : temp_beside(out), jsonl_tmp = jsonl.empty() ? "" : temp_beside(jsonl);
    std::ofstream jl;
    if (!jsonl.empty()) {
        jl.open(jsonl_tmp);
        if (!jl) throw OutputError(jsonl + ": cannot write");
    }
    std::string write_error;
    StreamSummary sum;
    try {
        sum = engine.run(clf, [&](const FrameResult& r) {
            if (!out.empty() && write_error.empty()) {
                if (!writer.isOpened()) {
                    double fps = r.source_fps > 0 ? r.source_fps : 15.0;
                    writer.open(video_tmp, fourcc, fps, r.annotated.size());
                    if (!writer.isOpened()) write_error = out + ": cannot open a video writer for this format";
                }
                if (writer.isOpened()) {
                    cv::Mat bgr;
                    cv::cvtColor(r.annotated, bgr, cv::COLOR_RGB2BGR);
                    writer.write(bgr);
                }
            }
            if (jl.is_open())
                jl << "{\"frame\": " << r.frame << ", \"t_ms\": " << float_str(float(r.t_ms)) << ", \"top\": " << top_json(r.prediction)
                   << ", \"latency_ms\": " << float_str(float(r.latency_ms)) << "}\n";
            if (display) {
                cv::Mat bgr;
                cv::cvtColor(r.annotated, bgr, cv::COLOR_RGB2BGR);
                cv::imshow("vitlens", bgr);
                int k = cv::waitKey(1);
                if (k == 'q' || k == 27) engine.stop();
            }
            if (!display && r.frame > 0 && stderr_is_tty())
                std::fprintf(stderr, "\rframe %lld  %.1f FPS  dropped %lld  %s %.0f%%   ", static_cast<long long>(r.frame), r.fps,
                             static_cast<long long>(r.dropped), r.prediction.top[0].label.c_str(), 100.0 * r.prediction.top[0].prob);
        });
    } catch (...) {
        finished = true;
        watcher.join();
        std::signal(SIGINT, old_int);
        std::signal(SIGTERM, old_term);
        std::error_code ec;
        if (writer.isOpened()) writer.release();
        if (!video_tmp.empty()) std::filesystem::remove(video_tmp, ec);
        if (!jsonl_tmp.empty()) std::filesystem::remove(jsonl_tmp, ec);
        throw;
    }
    finished = true;
    watcher.join();
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
    if (stderr_is_tty()) std::fprintf(stderr, "\n");

    // Finish the files whole, then move them into place.
    int rc = kOk;
    std::error_code ec;
    if (writer.isOpened()) {
        writer.release();
        std::filesystem::rename(video_tmp, out, ec);
        if (ec) write_error = out + ": cannot rename the finished video into place (" + ec.message() + ")";
    } else if (!out.empty()) {
        std::filesystem::remove(video_tmp, ec);
        if (write_error.empty() && sum.processed == 0) write_error = out + ": no frame was processed, no video written";
    }
    if (jl.is_open()) {
        jl.close();
        std::filesystem::rename(jsonl_tmp, jsonl, ec);
        if (ec) write_error = jsonl + ": cannot rename into place (" + ec.message() + ")";
    }

    std::printf("source:      %s\n", sum.source.c_str());
    std::printf("frames:      %lld read, %lld processed, %lld dropped (%.1f%%)%s\n", static_cast<long long>(sum.read),
                static_cast<long long>(sum.processed), static_cast<long long>(sum.dropped),
                sum.read ? 100.0 * sum.dropped / sum.read : 0.0, g_interrupted ? ", interrupted" : "");
    std::printf("rate:        %.2f FPS processed over %.1f s (source %.2f FPS)\n", sum.fps, sum.seconds, sum.source_fps);
    if (sum.reconnects) std::printf("reconnects:  %d\n", sum.reconnects);
    std::printf("stage ms:    %-10s %8s %8s\n", "", "median", "p95");
    for (auto& [name, v] : sum.stages) std::printf("             %-10s %8.2f %8.2f\n", name.c_str(), v.first, v.second);
    if (!out.empty() && write_error.empty()) std::printf("video:       %s\n", out.c_str());
    if (!jsonl.empty() && write_error.empty()) std::printf("jsonl:       %s\n", jsonl.c_str());
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

}  // namespace vitlens::app
