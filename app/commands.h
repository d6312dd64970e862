// The subcommands `vitlens` dispatches to (main.cpp), one file each.
#pragma once

namespace vitlens::app {

int cmd_classify(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_explain(int argc, char** argv);
int cmd_stream(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_embed(int argc, char** argv);
int cmd_pull(int argc, char** argv);
int cmd_compare(int argc, char** argv);

}  // namespace vitlens::app
