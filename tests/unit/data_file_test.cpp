// The data file format: round trips, and every way a file can be damaged is detected
// (docs/storage.md).
#include "store/data_file.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace count {
namespace {

std::span<const std::byte> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// A file whose newest slot holds `value` at generation `generation`, the other slot the
// generation before with `older`.
FileImage image_with(std::uint64_t generation, std::int64_t value, std::int64_t older) {
  FileImage image{};
  const SlotBytes newest = encode_slot({generation, value});
  const SlotBytes previous = encode_slot({generation - 1, older});
  std::copy(newest.begin(), newest.end(), image.begin() + slot_offset(slot_index(generation)));
  std::copy(previous.begin(), previous.end(),
            image.begin() + slot_offset(slot_index(generation - 1)));
  return image;
}

void flip_bit(FileImage& image, std::size_t offset, int bit) {
  image[offset] ^= static_cast<std::byte>(1U << bit);
}

// Rewrites slot `index`'s version field and fixes its checksum, as a newer server would.
void set_version(FileImage& image, std::size_t index, std::uint32_t version) {
  const std::size_t base = slot_offset(index);
  for (std::size_t i = 0; i < 4; ++i) {
    image[base + kVersionOffset + i] = static_cast<std::byte>(version >> (8 * i));
  }
  const std::uint32_t crc =
      crc32c(std::span<const std::byte>(image).subspan(base, kChecksumOffset));
  for (std::size_t i = 0; i < 4; ++i) {
    image[base + kChecksumOffset + i] = static_cast<std::byte>(crc >> (8 * i));
  }
}

TEST(Crc32c, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283U);
  EXPECT_EQ(crc32c(as_bytes("")), 0U);
}

TEST(DataFile, SlotRoundTripsEveryValue) {
  for (const std::int64_t value :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1},
        std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
    for (const std::uint64_t generation : {std::uint64_t{2}, std::uint64_t{3}, ~std::uint64_t{0}}) {
      const SlotBytes bytes = encode_slot({generation, value});
      const DecodedSlot decoded = decode_slot(bytes, slot_index(generation));
      ASSERT_EQ(decoded.status, SlotStatus::kValid);
      EXPECT_EQ(decoded.slot.generation, generation);
      EXPECT_EQ(decoded.slot.value, value);
    }
  }
}

TEST(DataFile, SlotLayoutIsLittleEndianWithMagicFirst) {
  const SlotBytes bytes = encode_slot({0x0102030405060708ULL, -2});
  EXPECT_EQ(std::memcmp(bytes.data(), "CNTR", 4), 0);
  EXPECT_EQ(bytes[kVersionOffset], std::byte{1});
  EXPECT_EQ(bytes[kGenerationOffset], std::byte{0x08});
  EXPECT_EQ(bytes[kGenerationOffset + 7], std::byte{0x01});
  EXPECT_EQ(bytes[kValueOffset], std::byte{0xFE});
  EXPECT_EQ(bytes[kValueOffset + 7], std::byte{0xFF});
}

TEST(DataFile, NewFileHoldsZeroInBothSlots) {
  const FileImage image = initial_image();
  const Recovery recovery = recover(image);
  ASSERT_TRUE(recovery.ok()) << describe(recovery);
  EXPECT_EQ(recovery.newest.value, 0);
  EXPECT_EQ(recovery.newest.generation, 1U);
  EXPECT_FALSE(recovery.one_slot_invalid());
}

TEST(DataFile, NewestValidSlotWinsInEitherPosition) {
  for (const std::uint64_t generation :
       {std::uint64_t{2}, std::uint64_t{3}, std::uint64_t{1000001}}) {
    const Recovery recovery = recover(image_with(generation, 42, 41));
    ASSERT_TRUE(recovery.ok());
    EXPECT_EQ(recovery.newest.value, 42);
    EXPECT_EQ(recovery.newest.generation, generation);
    EXPECT_EQ(recovery.newest_index, slot_index(generation));
  }
}

TEST(DataFile, EmptyFileIsRejected) {
  const Recovery recovery = recover({});
  EXPECT_EQ(recovery.status, FileStatus::kEmpty);
  EXPECT_NE(describe(recovery).find("empty"), std::string::npos);
}

TEST(DataFile, TruncatedOrLongerFileIsRejected) {
  const FileImage image = image_with(5, 7, 6);
  for (const std::size_t size :
       {std::size_t{1}, kSlotBytes, kSlotStride, kSlotStride + kSlotBytes, kDataFileBytes - 1}) {
    const Recovery recovery = recover(std::span<const std::byte>(image).first(size));
    EXPECT_EQ(recovery.status, FileStatus::kWrongSize) << size;
    EXPECT_NE(describe(recovery).find(std::to_string(size) + " bytes"), std::string::npos);
  }
  std::vector<std::byte> longer(image.begin(), image.end());
  longer.push_back(std::byte{0});
  EXPECT_EQ(recover(longer).status, FileStatus::kWrongSize);
}

// A torn write or a flipped bit anywhere in a slot makes that slot invalid; the file is
// still read from the other one.
TEST(DataFile, BitFlipInEachFieldOfEachSlotIsDetected) {
  constexpr std::uint64_t kGeneration = 9;  // newest in slot 1, generation 8 in slot 0
  for (std::size_t index = 0; index < kSlotCount; ++index) {
    for (std::size_t byte = 0; byte < kSlotBytes; ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        FileImage image = image_with(kGeneration, 100, 99);
        flip_bit(image, slot_offset(index) + byte, bit);
        const Recovery recovery = recover(image);
        const SlotStatus expected =
            byte < kVersionOffset ? SlotStatus::kBadMagic : SlotStatus::kBadChecksum;
        ASSERT_EQ(recovery.slots[index].status, expected) << index << " " << byte << " " << bit;
        ASSERT_EQ(recovery.slots[1 - index].status, SlotStatus::kValid);
        ASSERT_TRUE(recovery.ok());
        EXPECT_TRUE(recovery.one_slot_invalid());
        // Slot 1 holds the newest: damage there falls back to the older value.
        EXPECT_EQ(recovery.newest.value, index == 1 ? 99 : 100);
      }
    }
  }
}

TEST(DataFile, WrongMagicInBothSlotsIsRejected) {
  FileImage image = image_with(4, 1, 0);
  image[slot_offset(0)] = std::byte{'X'};
  image[slot_offset(1)] = std::byte{'X'};
  const Recovery recovery = recover(image);
  EXPECT_EQ(recovery.status, FileStatus::kNoValidSlot);
  EXPECT_EQ(describe(recovery), "slot 0: bad magic number; slot 1: bad magic number");
}

TEST(DataFile, AllZeroOrForeignFileIsRejected) {
  const FileImage zeros{};
  EXPECT_EQ(recover(zeros).status, FileStatus::kNoValidSlot);
  FileImage text{};
  std::fill(text.begin(), text.end(), std::byte{'a'});
  EXPECT_EQ(recover(text).status, FileStatus::kNoValidSlot);
}

TEST(DataFile, WrongVersionIsRejectedAndNamed) {
  FileImage image = image_with(4, 1, 0);
  set_version(image, 0, 2);
  set_version(image, 1, 2);
  const Recovery recovery = recover(image);
  EXPECT_EQ(recovery.status, FileStatus::kNoValidSlot);
  EXPECT_EQ(recovery.slots[0].status, SlotStatus::kBadVersion);
  EXPECT_EQ(recovery.slots[0].version, 2U);
  EXPECT_NE(describe(recovery).find("version 2 (this server reads version 1)"), std::string::npos);
}

TEST(DataFile, WrongVersionInOneSlotFallsBackToTheOther) {
  FileImage image = image_with(4, 1, 0);
  set_version(image, 0, 7);  // generation 4 lives in slot 0
  const Recovery recovery = recover(image);
  ASSERT_TRUE(recovery.ok());
  EXPECT_EQ(recovery.newest.value, 0);
  EXPECT_EQ(recovery.newest.generation, 3U);
}

TEST(DataFile, GenerationInTheWrongSlotIsRejected) {
  FileImage image{};
  const SlotBytes bytes = encode_slot({2, 5});  // belongs in slot 0
  std::copy(bytes.begin(), bytes.end(), image.begin() + slot_offset(1));
  const Recovery recovery = recover(image);
  EXPECT_EQ(recovery.slots[1].status, SlotStatus::kWrongSlot);
  EXPECT_EQ(recovery.status, FileStatus::kNoValidSlot);
}

TEST(DataFile, OneBadSlotUsesTheOther) {
  FileImage image = image_with(6, 60, 50);
  std::fill_n(image.begin() + slot_offset(0), kSlotBytes, std::byte{0});  // generation 6
  const Recovery recovery = recover(image);
  ASSERT_TRUE(recovery.ok());
  EXPECT_EQ(recovery.newest.value, 50);
  EXPECT_TRUE(recovery.one_slot_invalid());
  EXPECT_NE(describe(recovery).find("slot 0: bad magic number"), std::string::npos);
}

TEST(DataFile, BothSlotsBadIsRejected) {
  FileImage image = image_with(6, 60, 50);
  flip_bit(image, slot_offset(0) + kValueOffset, 0);
  flip_bit(image, slot_offset(1) + kChecksumOffset, 3);
  const Recovery recovery = recover(image);
  EXPECT_EQ(recovery.status, FileStatus::kNoValidSlot);
  EXPECT_EQ(describe(recovery), "slot 0: checksum mismatch; slot 1: checksum mismatch");
}

TEST(DataFile, BytesBetweenSlotsAreIgnored) {
  FileImage image = image_with(6, 60, 50);
  image[kSlotBytes] = std::byte{0xAA};
  image[kDataFileBytes - 1] = std::byte{0xAA};
  const Recovery recovery = recover(image);
  ASSERT_TRUE(recovery.ok());
  EXPECT_EQ(recovery.newest.value, 60);
}

}  // namespace
}  // namespace count
