#include <doctest/doctest.h>
#include <httplib.h>

#include <future>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "api/console_assets.h"
#include "tests/unit/api/api_rig.h"

namespace rotor::api {
namespace {

using nlohmann::json;
using test::Reply;
using test::Rig;
using test::send;

constexpr const char* kPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

std::string header(const Reply& reply, const std::string& name) {
  const auto it = reply.headers.find(name);
  return it == reply.headers.end() ? "" : it->second;
}

TEST_SUITE("unit/api/api_console") {
  TEST_CASE("the console's files are served from the binary with their types and a strict policy") {
    Rig rig("s3cret-token");  // with a token: the files still need none
    struct File {
      const char* path;
      const char* type;
    };
    const File files[] = {
        {"/ui/", "text/html; charset=utf-8"},
        {"/ui/index.html", "text/html; charset=utf-8"},
        {"/ui/console.js", "text/javascript; charset=utf-8"},
        {"/ui/console.css", "text/css; charset=utf-8"},
    };
    for (const File& file : files) {
      CAPTURE(file.path);
      const Reply reply = send(rig, "GET", file.path);
      CHECK(reply.status == 200);
      CHECK(header(reply, "Content-Type") == file.type);
      CHECK(header(reply, "Content-Security-Policy") == kPolicy);
      CHECK(header(reply, "X-Content-Type-Options") == "nosniff");
      CHECK(header(reply, "Referrer-Policy") == "no-referrer");
      CHECK_FALSE(reply.body.get<std::string>().empty());
    }
    CHECK(send(rig, "GET", "/v1/arrays").status == 401);  // the data is not open
  }

  TEST_CASE("the page loads only the bundle's own files and no inline script") {
    const ConsoleAsset* index = find_console_asset("index.html");
    REQUIRE(index != nullptr);
    const std::string html(index->body);
    const std::regex reference(R"re((src|href)="([^"]*)")re");
    int references = 0;
    for (auto it = std::sregex_iterator(html.begin(), html.end(), reference); it != std::sregex_iterator(); ++it) {
      const std::string target = (*it)[2];
      CAPTURE(target);
      CHECK(find_console_asset(target) != nullptr);  // relative, embedded: nothing from elsewhere
      ++references;
    }
    CHECK(references == 2);  // console.js and console.css
    CHECK(std::regex_search(html, std::regex("<script[^>]*>\\s*</script>")));  // no inline code
    CHECK(html.find("style=") == std::string::npos);
    CHECK(find_console_asset("nothing.js") == nullptr);
  }

  TEST_CASE("unknown files and other methods are the API's errors") {
    Rig rig;
    const Reply missing = send(rig, "GET", "/ui/missing.js");
    CHECK(missing.status == 404);
    CHECK(missing.body["error"]["message"] == "no console file missing.js");
    const Reply post = send(rig, "POST", "/ui/", "{}");
    CHECK(post.status == 405);
    CHECK(header(post, "Allow") == "GET");
    CHECK(send(rig, "GET", "/ui/a/b").status == 404);
    const Reply bare = send(rig, "GET", "/ui");
    CHECK(bare.status == 301);
    CHECK(header(bare, "Location") == "/ui/");
  }

  TEST_CASE("the event log long-polls with wait") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
    const int64_t last = send(rig, "GET", "/v1/events").body["next"].get<int64_t>();
    // Nothing new within the wait: an empty page, next unchanged.
    const Reply idle = send(rig, "GET", "/v1/events?since=" + std::to_string(last) + "&wait=1");
    CHECK(idle.status == 200);
    CHECK(idle.body["events"].empty());
    CHECK(idle.body["next"] == last);
    // A write while the poll waits ends it with that write's event.
    auto poll = std::async(std::launch::async, [&] {
      return send(rig, "GET", "/v1/events?since=" + std::to_string(last) + "&wait=20");
    });
    REQUIRE(send(rig, "POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})").status == 201);
    const Reply woken = poll.get();
    REQUIRE(woken.status == 200);
    REQUIRE(woken.body["events"].size() == 1);
    CHECK(woken.body["events"][0]["reason"] == "instance added");
    CHECK(woken.body["next"] == woken.body["events"][0]["id"]);
  }

  TEST_CASE("a wait past 25 seconds is refused naming wait") {
    Rig rig;
    const Reply reply = send(rig, "GET", "/v1/events?wait=26");
    CHECK(reply.status == 400);
    CHECK(reply.body["error"]["field"] == "wait");
    CHECK(reply.body["error"]["message"] == "wait: expected 0 to 25 seconds, got 26");
    CHECK(send(rig, "GET", "/v1/events?wait=x").body["error"]["field"] == "wait");
  }

  TEST_CASE("stopping the server ends a long poll") {
    Rig rig;
    auto poll = std::async(std::launch::async, [&] {
      httplib::Client client = rig.client();
      client.set_read_timeout(std::chrono::seconds(30));
      const auto result = client.Get("/v1/events?since=1000000&wait=25");
      return result ? result->status : -1;
    });
    // Wait until the poll is being served, then stop: stop() returns once
    // the poll has seen the flag, not after its 25 seconds.
    while (poll.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      rig.server->stop();
      break;
    }
    const int status = poll.get();
    CHECK((status == 200 || status == -1));
  }
}

}  // namespace
}  // namespace rotor::api
