// The data file's on-disk format (docs/storage.md): two fixed-size slots, each written whole
// and alternately; at start the newest slot whose checksum holds wins.
// Pure: encodes and decodes bytes, never touches a file.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace count {

// A slot: magic "CNTR", format version (u32), generation (u64), value (i64), then the
// CRC-32C of the 24 bytes before it (u32). Every integer is little-endian.
inline constexpr std::size_t kSlotBytes = 28;
// Each slot sits at the start of its own 4 KiB block, so that writing one never rewrites the
// disk sector or page cache page that holds the other.
inline constexpr std::size_t kSlotStride = 4096;
inline constexpr std::size_t kSlotCount = 2;
inline constexpr std::size_t kDataFileBytes = kSlotStride * kSlotCount;
inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr std::array<std::byte, 4> kMagic{std::byte{'C'}, std::byte{'N'}, std::byte{'T'},
                                                 std::byte{'R'}};

// Byte offsets of the fields inside a slot.
inline constexpr std::size_t kMagicOffset = 0;
inline constexpr std::size_t kVersionOffset = 4;
inline constexpr std::size_t kGenerationOffset = 8;
inline constexpr std::size_t kValueOffset = 16;
inline constexpr std::size_t kChecksumOffset = 24;

using SlotBytes = std::array<std::byte, kSlotBytes>;
using FileImage = std::array<std::byte, kDataFileBytes>;

// What one slot holds. Generation g lives in slot g % 2; each write takes the next one.
struct Slot {
  std::uint64_t generation = 0;
  std::int64_t value = 0;
};

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI and ext4.
std::uint32_t crc32c(std::span<const std::byte> bytes);

constexpr std::size_t slot_index(std::uint64_t generation) { return generation % kSlotCount; }
constexpr std::size_t slot_offset(std::size_t index) { return index * kSlotStride; }

SlotBytes encode_slot(const Slot& slot);

enum class SlotStatus {
  kValid,
  kBadMagic,     // not a slot of ours (or the file is something else)
  kBadVersion,   // checksum holds, but the format version is one this server cannot read
  kBadChecksum,  // torn write or damage
  kWrongSlot,    // checksum holds, but the generation belongs in the other slot
};

std::string_view describe(SlotStatus status);

// Decodes one slot found at slot position `index`. `slot` is meaningful when kValid.
struct DecodedSlot {
  SlotStatus status = SlotStatus::kBadMagic;
  Slot slot;
  std::uint32_t version = 0;  // as read, when the magic matched
};
DecodedSlot decode_slot(std::span<const std::byte, kSlotBytes> bytes, std::size_t index);

enum class FileStatus {
  kOk,           // `newest` holds the value
  kEmpty,        // 0 bytes
  kWrongSize,    // not kDataFileBytes long: truncated, or not a data file
  kNoValidSlot,  // neither slot is valid
};

// What a whole file holds: the newest valid slot, and the state of each slot.
struct Recovery {
  FileStatus status = FileStatus::kNoValidSlot;
  Slot newest;
  std::size_t newest_index = 0;
  std::array<DecodedSlot, kSlotCount> slots{};
  std::size_t size = 0;  // bytes given

  bool ok() const { return status == FileStatus::kOk; }
  // True when one slot is valid and the other is not: a write cut short, or damage.
  bool one_slot_invalid() const;
};
Recovery recover(std::span<const std::byte> file);

// One line saying what is wrong with a file recover() did not accept, or which slot it
// ignored, e.g. "slot 0: checksum mismatch; slot 1: bad magic number".
std::string describe(const Recovery& recovery);

// The bytes of a new data file: both slots valid and holding 0 (generations 0 and 1).
FileImage initial_image();

}  // namespace count
