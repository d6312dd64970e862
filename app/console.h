// The terminal side of a long run: standard output checked when flushed,
// progress on stderr (a bar on a terminal, periodic lines otherwise).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vitlens::app {

// Flushes standard output now; throws OutputError with errno's reason when
// it did not all get out (commands that print per input call it per input).
void flush_stdout();

// True when stderr is a terminal (progress bars vs periodic lines).
bool stderr_is_tty();

// Progress on stderr: a bar with rate and ETA on a terminal, a plain line
// every few seconds otherwise.
class Progress {
public:
    Progress(std::string what, size_t total);
    void update(size_t done);
    void finish();

private:
    std::string what_;
    size_t total_;
    bool tty_;
    double start_, last_ = -1e9;
    size_t told_ = SIZE_MAX;
};

double now_seconds();

}  // namespace vitlens::app
