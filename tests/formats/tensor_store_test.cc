// TensorStore over a model directory: single file, sharded with an index, and
// indexes that disagree with their shards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"

namespace qs {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("qs_store_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void shard(const std::string& file, const std::vector<std::string>& names) {
    std::vector<TensorToWrite> ts;
    for (const auto& n : names) ts.push_back({n, DType::F32, {2}, vals_, sizeof vals_});
    ASSERT_TRUE(write_safetensors(dir_ + "/" + file, ts).ok());
  }
  void index(const std::string& text) {
    std::ofstream(dir_ + "/model.safetensors.index.json") << text;
  }
  std::string open_error() {
    auto r = TensorStore::OpenDir(dir_);
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.status().message();
  }

  std::string dir_;
  float vals_[2] = {3.f, 4.f};
};

TEST_F(StoreTest, SingleFile) {
  shard("model.safetensors", {"a", "b"});
  auto r = TensorStore::OpenDir(dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->names(), (std::vector<std::string>{"a", "b"}));
  const TensorView* t = r.value()->find("b");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(*t->file, dir_ + "/model.safetensors");
  float v;
  std::memcpy(&v, t->data + 4, 4);
  EXPECT_EQ(v, 4.f);
  EXPECT_EQ(r.value()->find("c"), nullptr);
}

TEST_F(StoreTest, Sharded) {
  shard("model-00001-of-00002.safetensors", {"a", "c"});
  shard("model-00002-of-00002.safetensors", {"b"});
  index(R"({"metadata": {"total_size": 24}, "weight_map": {
      "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
      "c": "model-00001-of-00002.safetensors"}})");
  auto r = TensorStore::OpenDir(dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r.value()->shards().size(), 2u);
  ASSERT_NE(r.value()->find("b"), nullptr);
  EXPECT_EQ(*r.value()->find("b")->file, dir_ + "/model-00002-of-00002.safetensors");
  EXPECT_EQ(*r.value()->find("c")->file, dir_ + "/model-00001-of-00002.safetensors");
}

TEST_F(StoreTest, EmptyDir) {
  EXPECT_NE(open_error().find("no model.safetensors"), std::string::npos);
}

TEST_F(StoreTest, BadSingleFileNamesIt) {
  std::ofstream(dir_ + "/model.safetensors") << "junk";
  std::string e = open_error();
  EXPECT_NE(e.find(dir_ + "/model.safetensors: file is 4 bytes"), std::string::npos) << e;
}

TEST_F(StoreTest, IndexNotJson) {
  index("{nope");
  EXPECT_NE(open_error().find("model.safetensors.index.json: not valid JSON"), std::string::npos);
}

TEST_F(StoreTest, IndexWithoutWeightMap) {
  index(R"({"metadata": {}})");
  EXPECT_NE(open_error().find("missing 'weight_map'"), std::string::npos);
}

TEST_F(StoreTest, IndexEntryNotString) {
  index(R"({"weight_map": {"a": 1}})");
  EXPECT_NE(open_error().find("entry for tensor 'a' is not a string"), std::string::npos);
}

TEST_F(StoreTest, ShardPathTraversal) {
  index(R"({"weight_map": {"a": "../evil.safetensors"}})");
  std::string e = open_error();
  EXPECT_NE(e.find("tensor 'a': shard name '../evil.safetensors' is not a plain file name"),
            std::string::npos)
      << e;
}

TEST_F(StoreTest, MissingShardFile) {
  index(R"({"weight_map": {"a": "s1.safetensors"}})");
  std::string e = open_error();
  EXPECT_NE(e.find("shard 's1.safetensors'"), std::string::npos) << e;
  EXPECT_NE(e.find("cannot open"), std::string::npos) << e;
}

TEST_F(StoreTest, ListedTensorMissingFromShard) {
  shard("s1.safetensors", {"a"});
  index(R"({"weight_map": {"a": "s1.safetensors", "z": "s1.safetensors"}})");
  std::string e = open_error();
  EXPECT_NE(e.find("tensor 'z' is listed for shard 's1.safetensors' but missing from"),
            std::string::npos)
      << e;
}

TEST_F(StoreTest, TensorInTwoShards) {
  shard("s1.safetensors", {"a", "b"});
  shard("s2.safetensors", {"b"});
  index(R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  std::string e = open_error();
  EXPECT_NE(e.find("tensor 'b' is in two shards"), std::string::npos) << e;
}

TEST_F(StoreTest, ShardTensorNotInIndex) {
  shard("s1.safetensors", {"a", "extra"});
  index(R"({"weight_map": {"a": "s1.safetensors"}})");
  std::string e = open_error();
  EXPECT_NE(e.find("s1.safetensors: tensor 'extra' is not listed in the weight_map"),
            std::string::npos)
      << e;
}

TEST_F(StoreTest, TensorInWrongShard) {
  shard("s1.safetensors", {"a"});
  shard("s2.safetensors", {"b"});
  index(R"({"weight_map": {"a": "s2.safetensors", "b": "s2.safetensors", "c": "s1.safetensors"}})");
  std::string e = open_error();
  EXPECT_NE(e.find("tensor 'a' is mapped to shard 's2.safetensors' but is in"), std::string::npos)
      << e;
}

}  // namespace
}  // namespace qs
