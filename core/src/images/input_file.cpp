#include "vitlens/images/input_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace vitlens {

std::string not_a_regular_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return errno == ENOENT ? "does not exist" : std::string("cannot be read (") + std::strerror(errno) + ")";
    if (S_ISREG(st.st_mode)) return "";
    if (S_ISDIR(st.st_mode)) return "is a directory, not a file";
    if (S_ISFIFO(st.st_mode)) return "is a FIFO, not a regular file";
    if (S_ISCHR(st.st_mode)) return "is a character device, not a regular file";
    if (S_ISBLK(st.st_mode)) return "is a block device, not a regular file";
    if (S_ISSOCK(st.st_mode)) return "is a socket, not a regular file";
    return "is not a regular file";
}

}  // namespace vitlens
