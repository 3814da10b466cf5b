#include "core/huge_pages.h"

#include <gtest/gtest.h>

#include <cstring>
#include <utility>

namespace qs {
namespace {

TEST(HugePageRegion, AlignedRoundedWritableAndMovable) {
  HugePageRegion r = HugePageRegion::Allocate(3 * kHugePageBytes + 5);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r.data()) % kHugePageBytes, 0u);
  EXPECT_EQ(r.size(), 4 * kHugePageBytes);
  std::memset(r.data(), 0xab, r.size());
  EXPECT_EQ(r.data()[r.size() - 1], 0xab);
  HugePageRegion moved = std::move(r);
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(moved.data()[0], 0xab);
  moved.protect_read_only();
  EXPECT_EQ(moved.data()[kHugePageBytes], 0xab);  // still readable
}

TEST(HugePageRegion, ZeroBytesIsEmpty) { EXPECT_TRUE(HugePageRegion::Allocate(0).empty()); }

}  // namespace
}  // namespace qs
