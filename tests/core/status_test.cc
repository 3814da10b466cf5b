#include "core/status.h"

#include <gtest/gtest.h>

namespace qs {
namespace {

Result<int> half(int x) {
  if (x % 2) return Status::Error("odd");
  return x / 2;
}

Result<int> quarter(int x) {
  QS_ASSIGN_OR_RETURN(int h, half(x));
  return half(h);
}

TEST(Status, ErrorsPropagateWithContext) {
  EXPECT_TRUE(quarter(8).ok());
  EXPECT_EQ(quarter(8).value(), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd");
  EXPECT_EQ(r.status().With("file.bin").message(), "file.bin: odd");
  EXPECT_TRUE(Status::Ok().With("x").ok());
}

}  // namespace
}  // namespace qs
