#include "store/data_file.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace count {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1U) != 0 ? (crc >> 1) ^ 0x82F63B78U : crc >> 1;
    table[i] = crc;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> kCrc32cTable = make_crc32c_table();

template <typename T>
void store_le(std::span<std::byte> out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out[i] = static_cast<std::byte>(static_cast<std::uint64_t>(value) >> (8 * i));
  }
}

template <typename T>
T load_le(std::span<const std::byte> in) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<std::uint64_t>(in[i]) << (8 * i);
  }
  return static_cast<T>(value);
}

}  // namespace

std::uint32_t crc32c(std::span<const std::byte> bytes) {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const std::byte b : bytes) {
    crc = kCrc32cTable[(crc ^ static_cast<std::uint32_t>(b)) & 0xFFU] ^ (crc >> 8);
  }
  return crc ^ 0xFFFFFFFFU;
}

SlotBytes encode_slot(const Slot& slot) {
  SlotBytes bytes{};
  const std::span<std::byte> out{bytes};
  std::copy(kMagic.begin(), kMagic.end(), bytes.begin() + kMagicOffset);
  store_le<std::uint32_t>(out.subspan(kVersionOffset), kFormatVersion);
  store_le<std::uint64_t>(out.subspan(kGenerationOffset), slot.generation);
  store_le<std::int64_t>(out.subspan(kValueOffset), slot.value);
  store_le<std::uint32_t>(out.subspan(kChecksumOffset), crc32c(out.first(kChecksumOffset)));
  return bytes;
}

std::string_view describe(SlotStatus status) {
  switch (status) {
    case SlotStatus::kValid:
      return "valid";
    case SlotStatus::kBadMagic:
      return "bad magic number";
    case SlotStatus::kBadVersion:
      return "unsupported format version";
    case SlotStatus::kBadChecksum:
      return "checksum mismatch";
    case SlotStatus::kWrongSlot:
      return "generation stored in the wrong slot";
  }
  return "unknown";
}

DecodedSlot decode_slot(std::span<const std::byte, kSlotBytes> bytes, std::size_t index) {
  DecodedSlot decoded;
  if (!std::equal(kMagic.begin(), kMagic.end(), bytes.begin() + kMagicOffset)) return decoded;
  decoded.version = load_le<std::uint32_t>(bytes.subspan(kVersionOffset));
  const auto stored_crc = load_le<std::uint32_t>(bytes.subspan(kChecksumOffset));
  if (stored_crc != crc32c(bytes.first(kChecksumOffset))) {
    decoded.status = SlotStatus::kBadChecksum;
    return decoded;
  }
  if (decoded.version != kFormatVersion) {
    decoded.status = SlotStatus::kBadVersion;
    return decoded;
  }
  decoded.slot.generation = load_le<std::uint64_t>(bytes.subspan(kGenerationOffset));
  decoded.slot.value = load_le<std::int64_t>(bytes.subspan(kValueOffset));
  decoded.status =
      slot_index(decoded.slot.generation) == index ? SlotStatus::kValid : SlotStatus::kWrongSlot;
  return decoded;
}

bool Recovery::one_slot_invalid() const {
  const auto valid = std::count_if(slots.begin(), slots.end(), [](const DecodedSlot& slot) {
    return slot.status == SlotStatus::kValid;
  });
  return valid == 1;
}

Recovery recover(std::span<const std::byte> file) {
  Recovery recovery;
  recovery.size = file.size();
  if (file.empty()) {
    recovery.status = FileStatus::kEmpty;
    return recovery;
  }
  if (file.size() != kDataFileBytes) {
    recovery.status = FileStatus::kWrongSize;
    return recovery;
  }
  bool found = false;
  for (std::size_t index = 0; index < kSlotCount; ++index) {
    const DecodedSlot decoded =
        decode_slot(file.subspan(slot_offset(index)).first<kSlotBytes>(), index);
    recovery.slots[index] = decoded;
    if (decoded.status != SlotStatus::kValid) continue;
    if (!found || decoded.slot.generation > recovery.newest.generation) {
      recovery.newest = decoded.slot;
      recovery.newest_index = index;
      found = true;
    }
  }
  recovery.status = found ? FileStatus::kOk : FileStatus::kNoValidSlot;
  return recovery;
}

std::string describe(const Recovery& recovery) {
  switch (recovery.status) {
    case FileStatus::kEmpty:
      return fmt::format("the file is empty (a data file is {} bytes)", kDataFileBytes);
    case FileStatus::kWrongSize:
      return fmt::format("the file is {} bytes, a data file is {} (truncated, or not a data file)",
                         recovery.size, kDataFileBytes);
    case FileStatus::kOk:
    case FileStatus::kNoValidSlot:
      break;
  }
  std::string text;
  for (std::size_t index = 0; index < kSlotCount; ++index) {
    const DecodedSlot& slot = recovery.slots[index];
    if (!text.empty()) text += "; ";
    text += fmt::format("slot {}: {}", index, describe(slot.status));
    if (slot.status == SlotStatus::kBadVersion) {
      text += fmt::format(" {} (this server reads version {})", slot.version, kFormatVersion);
    } else if (slot.status == SlotStatus::kValid) {
      text += fmt::format(" (generation {})", slot.slot.generation);
    }
  }
  return text;
}

FileImage initial_image() {
  FileImage image{};
  for (std::uint64_t generation = 0; generation < kSlotCount; ++generation) {
    const SlotBytes slot = encode_slot({generation, 0});
    std::copy(slot.begin(), slot.end(),
              image.begin() + static_cast<std::ptrdiff_t>(slot_offset(slot_index(generation))));
  }
  return image;
}

}  // namespace count
