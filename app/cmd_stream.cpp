#include "common.h"
namespace vitlens::app {
int cmd_stream(int, char**) { throw UsageError("'stream' is not available in this build yet"); }
}  // namespace vitlens::app
