// Every option of every subcommand, at 0, -1, a huge value and a
// non-number: no crash, no hang, and a message whenever it fails. The
// options are read from each command's --help, so a new option is swept
// without editing this test.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "test_support.h"

using namespace vitlens::test;

namespace {

// Options that take a value, from `vitlens CMD --help`.
std::vector<std::string> value_options(const std::string& cmd) {
    RunResult r = run_cli({cmd, "--help"});
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
    // "  -k [ --top-k ] K (=5)  ...", "  --precision P (=f32)", "  --clip-outliers [=P(=99)]"
    static const std::regex line(R"(^\s+(?:-[A-Za-z] \[ )?--([a-z][a-z0-9-]*)(?: \])? ([A-Z\[]\S*))");
    std::vector<std::string> out;
    std::istringstream s(r.out);
    std::string l;
    std::smatch m;
    while (std::getline(s, l))
        if (std::regex_search(l, m, line)) out.push_back(m[1]);
    return out;
}

struct Command {
    std::string name;
    std::vector<std::string> base;  // arguments that make a valid run
};

}  // namespace

TEST(OptionSweep, NoValueOfAnyOptionCrashesOrHangs) {
    TempDir cwd;  // path options such as --out=0 write here
    const std::string model = fixture("hf_vit_f32"), img = fixture("images/img0.png");
    const std::vector<Command> cmds = {
        {"classify", {"--model", model, img}},
        {"explain", {"--model", model, img}},
        {"embed", {"--model", model, "-o", "e.npy", "--overwrite", img}},
        {"eval", {"--model", model, "--folder", fixture("images")}},
        {"stream", {"--model", model, "--source", fixture("images"), "--no-pace", "--max-frames", "2"}},
        {"bench", {"--model", model, "--iters", "1", "--warmup", "0"}},
        {"info", {"--model", model}},
        {"compare", {"--model", model, "--precision", "f32,int8", img}},
    };
    const std::vector<std::string> values = {"0", "-1", "99999999999999999999", "abc"};
    int runs = 0;
    for (const Command& c : cmds) {
        std::vector<std::string> opts = value_options(c.name);
        EXPECT_GE(opts.size(), 3u) << c.name << ": --help lists too few options";
        for (const std::string& o : opts) {
            // --model, --threads and --precision are one shared declaration: swept once, in info
            // (compare's --precision is a list of its own, swept here)
            if ((o == "model" || o == "threads" || (o == "precision" && c.name != "compare")) && c.name != "info")
                continue;
            for (const std::string& v : values) {
                std::vector<std::string> args = {c.name};
                // later values win in boost, so the swept option goes after the base
                args.insert(args.end(), c.base.begin(), c.base.end());
                args.push_back("--" + o + "=" + v);
                RunResult r = run_cli(args, "cd '" + cwd.path() + "' && timeout -s KILL 120");
                ++runs;
                std::string what = c.name + " --" + o + "=" + v;
                EXPECT_LT(r.code, 128) << what << " crashed or hung: " << r.err;
                if (r.code != 0) {
                    EXPECT_FALSE(r.err.empty()) << what << " failed without a message";
                }
                EXPECT_EQ(r.err.find("internal error"), std::string::npos) << what << ": " << r.err;
            }
        }
    }
    EXPECT_GT(runs, 120);
}
