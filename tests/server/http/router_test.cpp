#include "server/http/router.h"

#include <gtest/gtest.h>

namespace xq {
namespace {

HttpRequest Req(std::string method, std::string path) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

TEST(Router, ExactPatternsHeadAndUnknown) {
  Router router;
  std::string hit;
  router.Add("GET", "/health", RouteCost::kQuick, [&](HttpRequest&, HttpResponse&) { hit = "health"; });
  router.Add("POST", "/v1/completions", RouteCost::kBlocking,
             [&](HttpRequest&, HttpResponse&) { hit = "completions"; });
  router.AddPattern("GET", R"(/v1/models/(.+))", RouteCost::kQuick,
                    [&](HttpRequest&, HttpResponse&) { hit = "model"; });

  HttpRequest get = Req("GET", "/health");
  const Route* r = router.Find(get);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->cost, RouteCost::kQuick);
  HttpResponse res;
  r->handler(get, res);
  EXPECT_EQ(hit, "health");

  HttpRequest head = Req("HEAD", "/health");  // HEAD is served by the GET route
  EXPECT_EQ(router.Find(head), r);

  HttpRequest model = Req("GET", "/v1/models/org/name");
  r = router.Find(model);
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(model.matches.size(), 2u);
  EXPECT_EQ(model.matches[1], "org/name");

  HttpRequest wrong_method = Req("GET", "/v1/completions");
  EXPECT_EQ(router.Find(wrong_method), nullptr);
  EXPECT_TRUE(router.PathKnown("/v1/completions"));  // a 405, not a 404
  EXPECT_FALSE(router.PathKnown("/v1/nothing"));
  HttpRequest prefix = Req("GET", "/healthz");  // exact routes do not match prefixes
  EXPECT_EQ(router.Find(prefix), nullptr);
  HttpRequest empty_capture = Req("GET", "/v1/models/");
  EXPECT_EQ(router.Find(empty_capture), nullptr);
}

}  // namespace
}  // namespace xq
