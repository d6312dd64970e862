// Output files land whole or not at all, and nothing but the named output is
// touched. One policy for every writer (resolve_output):
//  - a regular file, or a name not there yet: written to a hidden temporary
//    beside it and renamed into place when complete, so an interrupted or
//    failed run never leaves a truncated file and the old content survives;
//  - a symbolic link: followed; the temporary goes beside the link's target
//    and the link stays a link;
//  - a FIFO, a character or block device, a socket, /dev/stdout, /dev/stderr
//    or /dev/fd/N: written straight through, with no temporary and no rename;
//  - a directory: OutputError.
// Every write, and the final close, is checked: a failure throws OutputError
// naming the file and the system's reason ("No space left on device").
#pragma once

#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vitlens {

struct OutputTarget {
    std::string named;    // the path as given, for messages
    std::string file;     // where the bytes go: `named` with symbolic links followed
    bool stream = false;  // a FIFO, device or descriptor: written straight through
    int fd = -1;          // stream only: an already open descriptor to write (dup'ed), or -1
    bool exists = false;  // a regular file is there now
};

// Decides how `path` is written (see the top of this file). Throws
// OutputError for a directory, a link loop, or a path that cannot be read.
OutputTarget resolve_output(const std::string& path);

// Throws OutputError when `path` is (or links to) an existing regular file
// and `overwrite` is false, or when it is a directory. Streams (FIFOs,
// devices) never need `overwrite`: writing to them replaces nothing.
// `how_to_replace`: the front end's way to allow it, added to the refusal.
void check_can_write(const std::string& path, bool overwrite, const std::string& how_to_replace = "");

// ".<stem>.tmp-<pid><ext>" beside `path` (same folder: the rename is atomic;
// same extension: encoders pick the format from it).
std::string temp_path_beside(const std::string& path);
// Renames `tmp` to `path`; on failure removes `tmp` and throws OutputError.
void commit_temp(const std::string& tmp, const std::string& path);

// One output file written by the policy above. write() checks every byte;
// commit() closes (checked) and renames into place. Destroyed without
// commit(), the temporary is removed and the target keeps its old content.
class AtomicFile {
public:
    explicit AtomicFile(const std::string& path);  // throws OutputError
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, size_t n);
    void write(const std::string& s) { write(s.data(), s.size()); }
    void commit();
    const OutputTarget& target() const { return t_; }

private:
    [[noreturn]] void fail(const std::string& what, int err);
    OutputTarget t_;
    std::string tmp_;  // empty for streams
    int fd_ = -1;
    bool done_ = false;
};

void write_text_atomic(const std::string& path, const std::string& text);
// rgb: (H, W) CV_8UC3 RGB; encoded in memory (the format follows the
// extension), then written by AtomicFile.
void write_image_atomic(const std::string& path, const cv::Mat& rgb);

// True for the extensions VideoRecorder can write: .mp4 .m4v .mov (MPEG-4),
// .avi .mkv (Motion JPEG).
bool is_video_extension(const std::string& path);

// An annotated video written frame by frame to a temporary file and moved
// into place by finish(), which first reads the file back: a video the disk
// could not hold whole is never moved into place. Destroyed unfinished, it
// removes the temporary. A video needs a regular file (its encoder seeks):
// a FIFO or device is refused.
class VideoRecorder {
public:
    // Creates the temporary file now, so an unwritable folder fails before
    // any work starts. Throws OutputError (bad extension, cannot write).
    explicit VideoRecorder(std::string path);
    ~VideoRecorder();
    VideoRecorder(const VideoRecorder&) = delete;
    VideoRecorder& operator=(const VideoRecorder&) = delete;

    // rgb: (H, W) CV_8UC3 RGB. The first frame fixes the size and `fps`
    // (<= 0: 15); later frames of another size are resized to it.
    void write(const cv::Mat& rgb, double fps);
    // Closes the file, checks that every frame reads back, and renames it into
    // place. Throws OutputError when no frame was written, the file is cut
    // (disk full: the free space is named) or the rename fails; the temporary
    // is removed and an existing target is left as it was.
    void finish();
    int64_t frames() const { return frames_; }
    const std::string& path() const { return path_; }

private:
    struct Writer;
    std::string path_, file_, tmp_;
    std::unique_ptr<Writer> w_;
    int64_t frames_ = 0;
    bool done_ = false;
};

// True when `path` is a regular file that decodes whole: a PNG/JPEG that
// cv::imdecode reads, or a video of which max(1, min_frames) frames read
// back in order. --resume uses it, so an empty or cut output counts as not done.
bool output_decodes(const std::string& path, int64_t min_frames = 0);

}  // namespace vitlens
