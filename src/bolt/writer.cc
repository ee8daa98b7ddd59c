#include "bolt/writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bolt/meta.h"

namespace cpr::bolt {
namespace {

constexpr size_t kWriteChunk = 4 << 20;
// Leaves filled by Put rank after every copied leaf.
constexpr uint64_t kPutRankBase = uint64_t{1} << 62;

size_t LeafElementBytes(Bytes k, Bytes v) { return kLeafElementSize + k.size() + v.size(); }

// Appends a leaf page image (§1.6) to `out`: header, elements, then the
// key/value data packed, then zero padding to whole pages. Bytes are copied
// once, straight from the source. `inline_page` images are not padded
// (§1.8). Returns the number of pages (0 for inline).
size_t AppendLeafImage(std::string& out, const std::vector<std::pair<Bytes, Bytes>>& items, Pgid id,
                       uint32_t flags, uint32_t page_size, bool inline_page) {
  size_t size = kPageHeaderSize;
  for (const auto& [k, v] : items) size += LeafElementBytes(k, v);
  const size_t pages = inline_page ? 0 : (size + page_size - 1) / page_size;
  char header[kPageHeaderSize];
  StoreLe64(header, inline_page ? 0 : id);
  StoreLe16(header + 8, kLeafPage);
  StoreLe16(header + 10, static_cast<uint16_t>(items.size()));
  StoreLe32(header + 12, inline_page ? 0 : static_cast<uint32_t>(pages - 1));
  out.append(header, sizeof header);
  size_t data = kPageHeaderSize + kLeafElementSize * items.size();
  for (size_t i = 0; i < items.size(); i++) {
    const auto& [k, v] = items[i];
    const size_t at = kPageHeaderSize + kLeafElementSize * i;
    char e[kLeafElementSize];
    StoreLe32(e, flags);
    StoreLe32(e + 4, static_cast<uint32_t>(data - at));  // pos: from the element to its key
    StoreLe32(e + 8, static_cast<uint32_t>(k.size()));
    StoreLe32(e + 12, static_cast<uint32_t>(v.size()));
    out.append(e, sizeof e);
    data += k.size() + v.size();
  }
  for (const auto& [k, v] : items) {
    out.append(k);
    out.append(v);
  }
  if (!inline_page) out.append(pages * page_size - size, '\0');
  return pages;
}

Error IoError(const std::string& path, const std::string& what) {
  return MakeError(Code::kIo, path, what + ": " + std::strerror(errno));
}

}  // namespace

Result<std::unique_ptr<Writer>> Writer::Create(const std::string& path, uint32_t page_size,
                                               const Options& options) {
  std::unique_ptr<Writer> w(new Writer());
  w->path_ = path;
  w->page_size_ = page_size;
  w->first_pgid_ = std::max<Pgid>(options.first_pgid, 3);
  w->next_pgid_ = w->first_pgid_;
  w->freelist_ = options.freelist;
  w->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (w->fd_ < 0) return IoError(path, "cannot create");
  // Pages 0-2 are written at Finish(); new pages start at first_pgid.
  w->out_ = std::make_unique<BackgroundWriter>(w->fd_, path, w->first_pgid_ * page_size);
  w->buffer_.reserve(kWriteChunk + page_size);
  return w;
}

Writer::~Writer() {
  if (out_) (void)out_->Finish();
  if (fd_ >= 0) ::close(fd_);
}

Result<void> Writer::Flush() {
  if (buffer_.empty()) return {};
  std::string next = out_->TakeSpare();
  next.reserve(kWriteChunk + page_size_);
  next.swap(buffer_);
  return out_->Append(std::move(next));
}

Result<void> Writer::WritePages(const std::string& image) {
  next_pgid_ += image.size() / page_size_;
  buffer_.append(image);
  if (buffer_.size() >= kWriteChunk) CPR_RETURN_IF_ERROR(Flush());
  return {};
}

Result<Pgid> Writer::WriteLeaf(const std::vector<std::pair<Bytes, Bytes>>& items, uint32_t flags) {
  const Pgid id = next_pgid_;
  next_pgid_ += AppendLeafImage(buffer_, items, id, flags, page_size_, false);
  if (buffer_.size() >= kWriteChunk) CPR_RETURN_IF_ERROR(Flush());
  return id;
}

Result<void> Writer::BeginBucket(Bytes name) {
  if (in_bucket_ || (!buckets_.empty() && !(buckets_.back().first < name)))
    return MakeError(Code::kInternal, path_, "buckets must be written in ascending name order");
  in_bucket_ = true;
  bucket_name_ = std::string(name);
  has_last_key_ = false;
  leaf_.clear();
  leaf_size_ = kPageHeaderSize;
  wrote_leaf_ = false;
  adopted_leaves_ = false;
  leaves_.clear();
  leaf_keys_.clear();
  return {};
}

Result<void> Writer::AdoptLeaf(Pgid id, uint32_t overflow, Bytes first_key, uint64_t rank) {
  if (!in_bucket_) return MakeError(Code::kInternal, path_, "AdoptLeaf outside a bucket");
  if (id < 2 || id + overflow >= first_pgid_ || rank >= kPutRankBase)
    return MakeError(Code::kInternal, path_,
                     fmt::format("bucket {}: cannot adopt page {} (new pages start at {})",
                                 bucket_name_, id, first_pgid_));
  leaves_.push_back(Child{leaf_keys_.size(), static_cast<uint32_t>(first_key.size()), id, rank});
  leaf_keys_.append(first_key);
  adopted_leaves_ = true;
  wrote_leaf_ = true;
  return {};
}

Result<void> Writer::NewLeaf(const std::vector<std::pair<Bytes, Bytes>>& items, uint64_t rank) {
  if (!in_bucket_ || items.empty() || rank >= kPutRankBase)
    return MakeError(Code::kInternal, path_, "NewLeaf outside a bucket, empty, or ranked too high");
  // Its first key is kept: the page image leaves the buffer on a Flush.
  leaves_.push_back(Child{leaf_keys_.size(), static_cast<uint32_t>(items.front().first.size()),
                          next_pgid_, rank});
  leaf_keys_.append(items.front().first);
  CPR_TRY(WriteLeaf(items, 0));
  adopted_leaves_ = true;
  wrote_leaf_ = true;
  return {};
}

Result<void> Writer::FlushLeaf() {
  if (leaf_.empty()) return {};
  const Pgid id = CPR_TRY(WriteLeaf(leaf_, 0));
  leaves_.push_back(Child{leaf_keys_.size(), static_cast<uint32_t>(leaf_.front().first.size()), id,
                          kPutRankBase + leaves_.size()});
  leaf_keys_.append(leaf_.front().first);
  leaf_.clear();
  leaf_size_ = kPageHeaderSize;
  wrote_leaf_ = true;
  return {};
}

Result<void> Writer::Put(Bytes key, Bytes value) {
  if (!in_bucket_) return MakeError(Code::kInternal, path_, "Put outside a bucket");
  if (key.empty() || (has_last_key_ && !(last_key_ < key)))
    return MakeError(Code::kInternal, path_,
                     fmt::format("bucket {}: keys must be non-empty and ascending", bucket_name_));
  last_key_ = key;
  has_last_key_ = true;
  // §1.13 step 3: start a new leaf when this element would not fit; an
  // element bigger than a page gets a leaf of its own that overflows.
  const size_t add = LeafElementBytes(key, value);
  if (!leaf_.empty() && leaf_size_ + add > page_size_) CPR_RETURN_IF_ERROR(FlushLeaf());
  leaf_.emplace_back(key, value);
  leaf_size_ += add;
  return {};
}

std::string Writer::BucketValue(Pgid root) const {
  std::string v(kBucketHeaderSize, '\0');
  StoreLe64(v.data(), root);  // sequence stays 0, as etcd's buckets have it
  return v;
}

Result<Pgid> Writer::BuildBranches(std::vector<Child> level, std::string keys) {
  // Pack (first key, child) elements greedily into branch pages, level by
  // level, until one node remains: the root (§1.13 step 3).
  while (level.size() > 1) {
    std::vector<Child> next;
    std::string next_keys;
    size_t i = 0;
    while (i < level.size()) {
      size_t size = kPageHeaderSize, j = i;
      while (j < level.size() &&
             (j == i || size + kBranchElementSize + level[j].key_size <= page_size_)) {
        size += kBranchElementSize + level[j].key_size;
        j++;
      }
      const size_t pages = (size + page_size_ - 1) / page_size_;
      std::string img(pages * page_size_, '\0');
      const Pgid id = next_pgid_;
      StoreLe64(img.data(), id);
      StoreLe16(img.data() + 8, kBranchPage);
      StoreLe16(img.data() + 10, static_cast<uint16_t>(j - i));
      StoreLe32(img.data() + 12, static_cast<uint32_t>(pages - 1));
      size_t data = kPageHeaderSize + kBranchElementSize * (j - i);
      for (size_t k = i; k < j; k++) {
        const size_t at = kPageHeaderSize + kBranchElementSize * (k - i);
        StoreLe32(img.data() + at, static_cast<uint32_t>(data - at));
        StoreLe32(img.data() + at + 4, level[k].key_size);
        StoreLe64(img.data() + at + 8, level[k].pgid);
        std::memcpy(img.data() + data, keys.data() + level[k].key_offset, level[k].key_size);
        data += level[k].key_size;
      }
      next.push_back(Child{next_keys.size(), level[i].key_size, id});
      next_keys.append(keys, level[i].key_offset, level[i].key_size);
      CPR_RETURN_IF_ERROR(WritePages(img));
      i = j;
    }
    level = std::move(next);
    keys = std::move(next_keys);
  }
  return level.front().pgid;
}

Result<void> Writer::EndBucket() {
  if (!in_bucket_) return MakeError(Code::kInternal, path_, "EndBucket without BeginBucket");
  in_bucket_ = false;
  std::string value;
  if (!wrote_leaf_ && leaf_size_ <= page_size_ / 4) {
    // §1.8: inline, as bbolt stores a small bucket with no nested buckets.
    value = BucketValue(0);
    AppendLeafImage(value, leaf_, 0, 0, page_size_, true);
  } else {
    CPR_RETURN_IF_ERROR(FlushLeaf());
    if (adopted_leaves_) {
      std::sort(leaves_.begin(), leaves_.end(),
                [](const Child& a, const Child& b) { return a.rank < b.rank; });
      for (size_t i = 1; i < leaves_.size(); i++) {
        const Bytes prev(leaf_keys_.data() + leaves_[i - 1].key_offset, leaves_[i - 1].key_size);
        const Bytes next(leaf_keys_.data() + leaves_[i].key_offset, leaves_[i].key_size);
        if (!(prev < next) || leaves_[i - 1].rank == leaves_[i].rank)
          return MakeError(Code::kInternal, path_,
                           fmt::format("bucket {}: leaves out of key order", bucket_name_));
      }
    }
    const Pgid root = CPR_TRY(BuildBranches(std::move(leaves_), std::move(leaf_keys_)));
    value = BucketValue(root);
  }
  leaves_ = {};
  leaf_keys_ = {};
  leaf_.clear();
  buckets_.emplace_back(bucket_name_, std::move(value));
  return {};
}

Result<void> Writer::Finish() {
  if (in_bucket_) return MakeError(Code::kInternal, path_, "Finish inside a bucket");
  // §1.13 step 4: the root bucket is a real tree of bucket elements.
  std::vector<std::pair<Bytes, Bytes>> items;
  for (const auto& [name, value] : buckets_) items.emplace_back(name, value);
  std::vector<Child> level;
  std::string keys;
  size_t i = 0;
  do {
    std::vector<std::pair<Bytes, Bytes>> leaf;
    size_t size = kPageHeaderSize;
    while (
        i < items.size() &&
        (leaf.empty() || size + LeafElementBytes(items[i].first, items[i].second) <= page_size_)) {
      size += LeafElementBytes(items[i].first, items[i].second);
      leaf.push_back(items[i++]);
    }
    const Pgid id = CPR_TRY(WriteLeaf(leaf, kBucketLeafFlag));
    const Bytes first = leaf.empty() ? Bytes() : leaf.front().first;
    level.push_back(Child{keys.size(), static_cast<uint32_t>(first.size()), id});
    keys.append(first);
  } while (i < items.size());
  const Pgid root = CPR_TRY(BuildBranches(std::move(level), std::move(keys)));
  CPR_RETURN_IF_ERROR(Flush());
  CPR_RETURN_IF_ERROR(out_->Finish());
  return WriteHead(root);
}

Result<void> Writer::WriteHead(Pgid root) {
  // Pages 0, 1: metas (txid 0 and 1, so txid % 2 == page id, §1.13 step 6);
  // page 2: an empty freelist.
  std::string head(3ULL * page_size_, '\0');
  Meta m;
  m.magic = kMagic;
  m.version = kVersion;
  m.page_size = page_size_;
  m.root = root;
  m.freelist = freelist_ ? 2 : kNoFreelist;
  m.pgid = next_pgid_;
  for (Pgid id = 0; id < 2; id++) {
    m.txid = id;
    m.EncodeInto(head.data() + id * page_size_, id);
  }
  char* fl = head.data() + 2ULL * page_size_;
  StoreLe64(fl, 2);
  StoreLe16(fl + 8, kFreelistPage);
  if (!freelist_) head.resize(2ULL * page_size_);  // page 2 is adopted, or free
  if (::pwrite(fd_, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size()))
    return IoError(path_, "cannot write the meta pages");
  // §1.13 step 5: the file is exactly pgid pages.
  if (::ftruncate(fd_, static_cast<off_t>(next_pgid_ * page_size_)) != 0)
    return IoError(path_, "cannot set the file size");
  if (::fsync(fd_) != 0) return IoError(path_, "cannot fsync");
  if (::close(fd_) != 0) {
    fd_ = -1;
    return IoError(path_, "cannot close");
  }
  fd_ = -1;
  return {};
}

}  // namespace cpr::bolt
