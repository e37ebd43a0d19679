// The reply queue of one connection: order, durability marks, and memory given back.
#include <gtest/gtest.h>

#include <memory>

#include "net/outbox.hpp"

namespace count {
namespace {

TEST(Outbox, BytesWithNoSeqAreSendableAtOnce) {
  Outbox outbox;
  EXPECT_TRUE(outbox.empty());
  outbox.push("ok\n", 0);
  EXPECT_EQ(outbox.sendable(), "ok\n");
  EXPECT_FALSE(outbox.awaiting_durability());
  outbox.consume(3);
  EXPECT_TRUE(outbox.empty());
}

TEST(Outbox, BytesWaitUntilTheirSeqIsDurable) {
  Outbox outbox;
  outbox.push("ok\n", 5);
  EXPECT_EQ(outbox.sendable(), "");
  EXPECT_TRUE(outbox.awaiting_durability());
  outbox.release(4);
  EXPECT_EQ(outbox.sendable(), "");
  outbox.release(5);
  EXPECT_EQ(outbox.sendable(), "ok\n");
  EXPECT_FALSE(outbox.awaiting_durability());
}

TEST(Outbox, LaterRepliesNeverOvertakeEarlierOnes) {
  Outbox outbox;
  outbox.push("ok\n", 5);
  outbox.push("err\n", 0);  // needs nothing, but comes after a reply that waits
  outbox.push("val 9\n", 9);
  outbox.release(5);
  EXPECT_EQ(outbox.sendable(), "ok\nerr\n");
  outbox.release(8);
  EXPECT_EQ(outbox.sendable(), "ok\nerr\n");
  outbox.release(100);
  EXPECT_EQ(outbox.sendable(), "ok\nerr\nval 9\n");
}

TEST(Outbox, PartialWritesKeepTheRestInOrder) {
  Outbox outbox;
  outbox.push("abcdef", 0);
  outbox.consume(2);
  EXPECT_EQ(outbox.sendable(), "cdef");
  EXPECT_EQ(outbox.size(), 4U);
  outbox.push("gh", 3);
  outbox.consume(4);
  EXPECT_EQ(outbox.sendable(), "");
  EXPECT_FALSE(outbox.empty());
  outbox.release(3);
  EXPECT_EQ(outbox.sendable(), "gh");
}

TEST(Outbox, CompactsLargeSentPrefixes) {
  Outbox outbox;
  const std::string big(40000, 'x');
  outbox.push(big, 0);
  outbox.push("tail", 7);
  outbox.consume(30000);
  EXPECT_EQ(outbox.size(), 10004U);
  outbox.release(7);
  EXPECT_EQ(outbox.sendable().size(), 10004U);
  EXPECT_EQ(outbox.sendable().substr(10000), "tail");
}

// A store over the network decides replies after they are queued.
TEST(Outbox, LateRepliesHoldWhatFollowsUntilTheyAreDecided) {
  auto batch = std::make_shared<LateReplies>();
  batch->replies.resize(2);
  Outbox outbox;
  outbox.push("ok\n", 3);
  outbox.push_later(Reply::late(batch, 0, 10));
  outbox.push("err\n", 0);  // needs nothing, but comes after a reply not decided yet
  outbox.push_later(Reply::late(batch, 1, 11));
  EXPECT_TRUE(outbox.awaiting_durability());
  EXPECT_EQ(outbox.size(), 3 + kMaxReplyBytes + 4 + kMaxReplyBytes);
  outbox.release(3);
  EXPECT_EQ(outbox.sendable(), "ok\n");
  outbox.release(100);
  EXPECT_EQ(outbox.sendable(), "ok\n");  // not decided yet, whatever the seq
  batch->replies[0] = Reply::val(-42, 10);
  batch->replies[1] = Reply::err(11);
  batch->decided = true;
  outbox.release(3);
  EXPECT_EQ(outbox.sendable(), "ok\nval -42\nerr\nerr\n");
  EXPECT_FALSE(outbox.awaiting_durability());
  outbox.consume(outbox.sendable().size());
  EXPECT_TRUE(outbox.empty());
}

TEST(Outbox, ALateReplyWaitsForEarlierBytesThatWait) {
  auto batch = std::make_shared<LateReplies>();
  batch->replies = {Reply::ok(5)};
  batch->decided = true;
  Outbox outbox;
  outbox.push("val 1\n", 20);
  outbox.push_later(Reply::late(batch, 0, 5));
  outbox.release(5);
  EXPECT_EQ(outbox.sendable(), "");
  outbox.release(20);
  EXPECT_EQ(outbox.sendable(), "val 1\nok\n");
}

TEST(Outbox, LateBatchesDecidedOutOfOrderStillLeaveInQueueOrder) {
  auto first = std::make_shared<LateReplies>();
  auto second = std::make_shared<LateReplies>();
  first->replies = {Reply::ok(1)};
  second->replies = {Reply::err(2)};
  Outbox outbox;
  outbox.push_later(Reply::late(first, 0, 1));
  outbox.push_later(Reply::late(second, 0, 2));
  second->decided = true;
  outbox.release(0);
  EXPECT_EQ(outbox.sendable(), "");
  first->decided = true;
  outbox.release(0);
  EXPECT_EQ(outbox.sendable(), "ok\nerr\n");
}

}  // namespace
}  // namespace count
