// k8s/node.h: a Node's name and status addresses from its stored value
// (tests/fixtures/k8s/node.bin), and nothing from anything else.
#include <gtest/gtest.h>

#include <algorithm>

#include "k8s/node.h"
#include "k8s/value.h"
#include "pki_testing.h"

namespace cpr::k8s {
namespace {

TEST(DecodeNode, NameAndAddresses) {
  const std::string value = testing::ReadAll(std::string(CPR_FIXTURES) + "/k8s/node.bin");
  ASSERT_FALSE(value.empty());
  auto node = DecodeNode(value);
  ASSERT_TRUE(node);
  EXPECT_EQ(node->name, "worker-0.example.internal");
  using Address = std::pair<std::string, std::string>;
  EXPECT_NE(
      std::find(node->addresses.begin(), node->addresses.end(), Address{"InternalIP", "10.0.3.48"}),
      node->addresses.end());
  EXPECT_NE(std::find(node->addresses.begin(), node->addresses.end(),
                      Address{"Hostname", "worker-0.example.internal"}),
            node->addresses.end());
  for (size_t n = 0; n < value.size(); n++) (void)DecodeNode(Bytes(value.data(), n));
  const std::string pod = testing::ReadAll(std::string(CPR_FIXTURES) + "/k8s/pod.bin");
  EXPECT_FALSE(DecodeNode(pod));
  EXPECT_FALSE(DecodeNode("{\"kind\":\"Node\"}"));
}

TEST(EncodeNode, ReadsBackAsAStoredNode) {
  NodeAddresses n{"w1", {{"InternalIP", "127.1.2.101"}, {"Hostname", "w1"}}};
  const std::string value = EncodeNode(n, "6a1b2c3d-0000-4000-8000-000000000001");
  const Object meta = DescribeValue(value);
  EXPECT_EQ(meta.encoding, Object::Encoding::kProtobuf);
  EXPECT_EQ(meta.api_version, "v1");
  EXPECT_EQ(meta.kind, "Node");
  EXPECT_EQ(meta.uid, "6a1b2c3d-0000-4000-8000-000000000001");
  auto back = DecodeNode(value);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->name, "w1");
  EXPECT_EQ(back->addresses, n.addresses);
}

}  // namespace
}  // namespace cpr::k8s
