// vitlens: classify images with Vision Transformers on the CPU, show where
// the model looked, and do both on live streams.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <exception>
#include <opencv2/core/utils/logger.hpp>
#include <iostream>
#include <string>

#include "commands.h"
#include "exit_codes.h"
#include "vitlens/errors.h"
#include "vitlens/encoder/memory_estimate.h"

#ifndef VITLENS_VERSION
#define VITLENS_VERSION "dev"
#endif

namespace {

const char* kHelp = R"(vitlens )" VITLENS_VERSION R"( - Vision Transformer image classifier with attention maps

Usage: vitlens <command> [options] [inputs...]
       vitlens <command> --help      options of one command

Commands:
  classify   top-k labels for image files or folders (text, JSON Lines, CSV)
  explain    attention maps (rollout, one layer/head, a query patch, class attribution) as PNG overlays or JSON
  embed      features (class token, pooled, patch tokens) as .npy + JSON Lines index, or safetensors
  eval       accuracy on an IDX (MNIST-format) set or an ImageFolder tree
  stream     live classification of a camera, video file, URL or GStreamer pipeline
  compare    what a precision changes against another (f32 / bf16 / int8): top-k, logits, map rank correlation, faithfulness
  bench      speed of the encoder (latency, images/s, GFLOP/s, time per stage)
  pull       download a Hugging Face model (safetensors) into the local hub cache
  info       what a checkpoint is: architecture, dims, parameters, GFLOPs, preprocessing, labels

Models: a directory with config.json + model.safetensors (+ preprocessor_config.json), or a
Hugging Face id ORG/NAME[@REVISION] in the local hub cache: Hugging Face ViT, DeiT (with
teacher), DINOv2 (with a classification head, or the backbone), or a timm vision_transformer
(ViT, DeiT, DeiT III, DINOv2 with registers). Without --model, the bundled Fashion-MNIST ViT
is used (or $VITLENS_MODEL). --input-size runs any of them at another resolution.

Examples:
  vitlens classify assets/samples
  vitlens classify --model ~/models/vit-base-patch16-224 --format jsonl photo.jpg
  vitlens explain --method rollout --out maps/ assets/samples/Sneaker.png
  vitlens info --model ~/models/deit-small
  vitlens compare --precision f32,int8 --method attribution assets/samples
  vitlens pull facebook/dinov2-small && vitlens info --model facebook/dinov2-small
  vitlens embed --model facebook/dinov2-small --features cls,patch -o feats.npy photos/
  vitlens classify --shard auto --format jsonl -o part.jsonl --resume photos/

Exit codes:
  0  success
  1  usage error (bad option or argument)
  2  input error: some inputs failed (they are reported; the others were processed)
  3  model error: the model could not be loaded (missing file, bad config, wrong shape)
  4  source error: a live source could not be opened or failed
  5  output error: an output file could not be written
  6  internal error
)";

int run_command(const std::string& cmd, int argc, char** argv) {
    using namespace vitlens::app;
    if (cmd == "classify") return cmd_classify(argc, argv);
    if (cmd == "info") return cmd_info(argc, argv);
    if (cmd == "eval") return cmd_eval(argc, argv);
    if (cmd == "explain") return cmd_explain(argc, argv);
    if (cmd == "stream") return cmd_stream(argc, argv);
    if (cmd == "bench") return cmd_bench(argc, argv);
    if (cmd == "embed") return cmd_embed(argc, argv);
    if (cmd == "pull") return cmd_pull(argc, argv);
    if (cmd == "compare") return cmd_compare(argc, argv);
    std::cerr << "vitlens: unknown command '" << cmd << "' (see vitlens --help)\n";
    return vitlens::app::kUsage;
}

// Everything printed on stdout reached it, or the run fails with exit 5: a
// result lost on a full disk (or a closed pipe) is never a success.
int finish_stdout(int rc) {
    errno = 0;
    std::cout.flush();
    if (std::cout.good() && std::fflush(stdout) == 0 && !std::ferror(stdout)) return rc;
    std::cerr << "vitlens: output error: standard output: cannot write ("
              << std::strerror(errno ? errno : EIO) << "); the results were not all written\n";
    return vitlens::app::kOutputError;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace vitlens;
    using namespace vitlens::app;
    if (argc < 2) {
        std::cerr << kHelp;
        return kUsage;
    }
    // a reader that went away (| head, a FIFO closed) is a write error with a message, not a silent death
    std::signal(SIGPIPE, SIG_IGN);
    std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::cout << kHelp;
        return finish_stdout(kOk);
    }
    if (cmd == "--version" || cmd == "-V") {
        std::cout << "vitlens " << VITLENS_VERSION << "\n";
        return finish_stdout(kOk);
    }
    // OpenCV's own log lines (GStreamer and FFmpeg warnings while a source is
    // probed) would bury vitlens's message; OPENCV_LOG_LEVEL brings them back.
    if (!std::getenv("OPENCV_LOG_LEVEL")) cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    try {
        return finish_stdout(run_command(cmd, argc - 1, argv + 1));
    } catch (const std::bad_alloc&) {  // past the memory estimate (a pathological input): not a bug to report
        std::cerr << "vitlens " << cmd << ": out of memory: this run needs more memory than the machine can give; "
                     "try a smaller --input-size, --batch or fewer --threads\n";
        return kUsage;
    } catch (const MemoryError& e) {  // refused before any buffer was allocated
        std::cerr << "vitlens " << cmd << ": " << e.what()
                  << "; lower --input-size or --batch\n";
        return kUsage;
    } catch (const UsageError& e) {
        std::cerr << "vitlens " << cmd << ": " << e.what() << " (see vitlens " << cmd << " --help)\n";
        return kUsage;
    } catch (const ArgumentError& e) {  // a value core cannot work with (a layer the model lacks, ...)
        std::cerr << "vitlens " << cmd << ": " << e.what() << " (see vitlens " << cmd << " --help)\n";
        return kUsage;
    } catch (const ModelError& e) {
        std::cerr << "vitlens: model error: " << e.what() << "\n";
        return kModelError;
    } catch (const SourceError& e) {
        std::cerr << "vitlens: source error: " << e.what() << "\n";
        return kSourceError;
    } catch (const OutputError& e) {
        std::cerr << "vitlens: output error: " << e.what() << "\n";
        return kOutputError;
    } catch (const InputError& e) {
        std::cerr << "vitlens: " << e.what() << "\n";
        return kInputError;
    } catch (const std::exception& e) {
        std::cerr << "vitlens: internal error: " << e.what() << "\n";
        return kInternal;
    }
}
