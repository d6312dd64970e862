#include "console.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "vitlens/errors.h"

namespace vitlens::app {

bool stderr_is_tty() { return ::isatty(2) == 1; }

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void flush_stdout() {
    errno = 0;
    std::cout.flush();
    if (std::cout.good() && std::fflush(stdout) == 0) return;
    throw OutputError(std::string("standard output: cannot write (") + std::strerror(errno ? errno : EIO) + ")");
}

Progress::Progress(std::string what, size_t total)
    : what_(std::move(what)), total_(total), tty_(stderr_is_tty()), start_(now_seconds()) {}

void Progress::update(size_t done) {
    double t = now_seconds();
    if (done == told_ || (t - last_ < (tty_ ? 0.2 : 5.0) && done < total_)) return;  // each count told once
    last_ = t;
    told_ = done;
    double el = t - start_, rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total_ - done) / rate : 0;
    char buf[256];
    if (tty_) {
        int width = 30, fill = total_ ? int(width * double(done) / total_) : width;
        std::string bar(fill, '#');
        bar.resize(width, '.');
        std::snprintf(buf, sizeof buf, "\r%s [%s] %zu/%zu  %.1f img/s  ETA %.0fs   ", what_.c_str(), bar.c_str(), done,
                      total_, rate, eta);
    } else {
        std::snprintf(buf, sizeof buf, "%s: %zu/%zu (%.1f img/s, ETA %.0fs)\n", what_.c_str(), done, total_, rate, eta);
    }
    std::cerr << buf << std::flush;
}

void Progress::finish() {
    if (tty_) std::cerr << "\n";
}

}  // namespace vitlens::app
