// A small HTTP/1.1 server on 127.0.0.1 for tests: one connection at a time,
// "Connection: close" after every response, requests recorded.
#pragma once

#include <atomic>
#include <climits>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vitlens::test {

struct HttpRequest {
    std::string method, path;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string header(const std::string& k) const {
        auto it = headers.find(k);
        return it == headers.end() ? "" : it->second;
    }
};

struct HttpResponse {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;                // Content-Length is its size (also for HEAD, which sends no body)
    size_t cut_after = SIZE_MAX;     // close the connection after this many body bytes
    int trickle_bytes_per_s = 0;     // > 0: send the body this slowly (for at most 30 s)
};

class HttpServer {
public:
    using Handler = std::function<HttpResponse(const HttpRequest&)>;
    explicit HttpServer(Handler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<HttpRequest> requests() const;
    void clear_requests();

private:
    void serve();
    void handle(int fd);

    Handler handler_;
    int listen_fd_ = -1, port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::vector<HttpRequest> requests_;
    std::thread thread_;
};

}  // namespace vitlens::test
