// Writes a test video: images (or a moving pattern) slide across a
// width x height canvas at FPS frames per second. Frame n shows image
// (n / hold) % count, so the content is known per frame.
//
//   make_test_video OUT.mp4|.avi [--frames N] [--fps F] [--size WxH] [--hold K] [IMAGE...]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s OUT.mp4|.avi [--frames N] [--fps F] [--size WxH] [--hold K] [IMAGE...]\n", argv[0]);
        return 1;
    }
    std::string out = argv[1];
    int frames = 90, w = 640, h = 480, hold = 30;
    double fps = 30;
    std::vector<cv::Mat> imgs;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--frames" && i + 1 < argc) frames = std::atoi(argv[++i]);
        else if (a == "--fps" && i + 1 < argc) fps = std::atof(argv[++i]);
        else if (a == "--hold" && i + 1 < argc) hold = std::max(1, std::atoi(argv[++i]));
        else if (a == "--size" && i + 1 < argc) std::sscanf(argv[++i], "%dx%d", &w, &h);
        else {
            cv::Mat m = cv::imread(a, cv::IMREAD_COLOR);
            if (m.empty()) {
                std::fprintf(stderr, "%s: cannot read image\n", a.c_str());
                return 2;
            }
            imgs.push_back(m);
        }
    }
    std::string ext = out.substr(out.rfind('.') + 1);
    int fourcc = ext == "avi" ? cv::VideoWriter::fourcc('M', 'J', 'P', 'G') : cv::VideoWriter::fourcc('m', 'p', '4', 'v');
    cv::VideoWriter vw(out, fourcc, fps, cv::Size(w, h));
    if (!vw.isOpened()) {
        std::fprintf(stderr, "%s: cannot open video writer\n", out.c_str());
        return 3;
    }
    for (int n = 0; n < frames; ++n) {
        cv::Mat f(h, w, CV_8UC3, cv::Scalar(0, 0, 0));
        if (imgs.empty()) {
            cv::circle(f, cv::Point((n * 7) % w, h / 2), h / 6, cv::Scalar(255, 255, 255), cv::FILLED);
        } else {
            const cv::Mat& src = imgs[(n / hold) % imgs.size()];
            int side = std::min(w, h) * 3 / 4;
            cv::Mat big;
            cv::resize(src, big, cv::Size(side * src.cols / std::max(src.cols, src.rows), side * src.rows / std::max(src.cols, src.rows)));
            int dx = (w - big.cols) / 2 + static_cast<int>(20 * std::sin(n * 0.1)), dy = (h - big.rows) / 2;
            dx = std::clamp(dx, 0, w - big.cols);
            big.copyTo(f(cv::Rect(dx, dy, big.cols, big.rows)));
        }
        vw.write(f);
    }
    vw.release();
    std::printf("%s: %d frames, %dx%d, %.1f FPS\n", out.c_str(), frames, w, h, fps);
    return 0;
}
