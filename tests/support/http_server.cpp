#include "http_server.h"

#include <chrono>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <sstream>
#include <stdexcept>

namespace vitlens::test {

namespace {

const char* reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 206: return "Partial Content";
        case 302: return "Found";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 416: return "Range Not Satisfiable";
        default: return "Status";
    }
}

bool send_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w, n -= size_t(w);
    }
    return true;
}

}  // namespace

HttpServer::HttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 16) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("HttpServer: cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
}

HttpServer::~HttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
}

std::vector<HttpRequest> HttpServer::requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
}

void HttpServer::clear_requests() {
    std::lock_guard<std::mutex> l(mu_);
    requests_.clear();
}

void HttpServer::serve() {
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;  // wakes every 50 ms to see stop_
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        handle(fd);
        ::close(fd);
    }
}

void HttpServer::handle(int fd) {
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return;
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r <= 0) return;
        in.append(buf, size_t(r));
    }
    HttpRequest req;
    std::istringstream s(in.substr(0, in.find("\r\n\r\n")));
    std::string line;
    std::getline(s, line);
    std::istringstream first(line);
    first >> req.method >> req.path;
    while (std::getline(s, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t c = line.find(':');
        if (c == std::string::npos) continue;
        std::string k = line.substr(0, c), v = line.substr(c + 1);
        for (char& ch : k) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        req.headers[k] = v;
    }
    {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(req);
    }
    const HttpResponse res = handler_(req);
    std::string head = "HTTP/1.1 " + std::to_string(res.status) + " " + reason(res.status) + "\r\n";
    for (const auto& [k, v] : res.headers) head += k + ": " + v + "\r\n";
    head += "Content-Length: " + std::to_string(res.body.size()) + "\r\nConnection: close\r\n\r\n";
    if (!send_all(fd, head.data(), head.size()) || req.method == "HEAD") return;
    const size_t n = std::min(res.cut_after, res.body.size());
    if (res.trickle_bytes_per_s <= 0) {
        send_all(fd, res.body.data(), n);
        return;
    }
    // a server that never finishes: a byte at a time, until the client gives up (bounded: 30 s)
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (size_t i = 0; i < n && !stop_ && std::chrono::steady_clock::now() < until; ++i) {
        if (!send_all(fd, res.body.data() + i, 1)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(1000 / res.trickle_bytes_per_s));
    }
}

}  // namespace vitlens::test
