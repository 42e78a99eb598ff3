// NPZ: a zip archive of NPY files, one per array, named "<key>.npy" (np.savez and
// np.savez_compressed). Entries are stored (method 0) or deflated (method 8).
//
// Reading trusts the central directory for sizes (NumPy writes zip64 extras in local
// headers; data descriptors may follow entries) and checks everything against the file:
// every range lies inside the file and before the directory, entries do not overlap (the
// overlapping-entries zip bomb), names are unique, the local header agrees with the
// directory, and each entry's CRC-32 matches its data. Keys are names less ".npy", as
// NumPy gives them. Writing makes stored or deflated entries without zip64, so one entry and
// the whole archive stay below 4 GiB (VGG-Face is 580 MB).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <zlib.h>

#include "graft/io/array.hpp"
#include "graft/io/atomic_file.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/npy.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/source.hpp"
#include "graft/io/zlib_stream.hpp"

namespace graft {
namespace io {

struct NamedArray {
  std::string name;
  Array array;
};

enum class Compression { stored, deflated };

struct ZipEntry {
  std::string name;  // as stored, e.g. "conv1/weights.npy"
  uint16_t method = 0, flags = 0;
  uint32_t crc = 0;
  uint64_t csize = 0, usize = 0, local_offset = 0, data_offset = 0;
};

// zlib's crc32 takes lengths of type uInt: longer buffers go in pieces.
inline uint32_t crc32_of(uint32_t crc, const void* p, size_t n) {
  const auto* b = static_cast<const Bytef*>(p);
  for (size_t done = 0; done < n;) {
    const uInt k = static_cast<uInt>(std::min<size_t>(n - done, size_t(1) << 30));
    crc = static_cast<uint32_t>(crc32(crc, b + done, k));
    done += k;
  }
  return crc;
}

namespace detail {

// A stored entry's bytes, with their CRC-32 computed as they are read.
class StoredEntryInput : public RangeInput {
 public:
  StoredEntryInput(const Source& src, uint64_t begin, uint64_t end, std::string name)
      : RangeInput(src, begin, end, std::move(name)) {}
  uint32_t crc() const { return crc_; }

 protected:
  void get(void* dst, size_t n) override {
    RangeInput::get(dst, n);
    crc_ = crc32_of(crc_, dst, n);
  }

 private:
  uint32_t crc_ = 0;
};

}  // namespace detail

class ZipReader {
 public:
  ZipReader(const Source& src, const ReadLimits& limits = {}) : src_(src), limits_(limits) {
    read_directory();
  }
  const std::vector<ZipEntry>& entries() const { return entries_; }

  // Reads one entry as an NPY array and checks its CRC.
  Array read_array(const ZipEntry& e) const {
    const std::string name = src_.name() + ": entry " + quote(e.name);
    if (e.method == 0) {
      detail::StoredEntryInput in(src_, e.data_offset, e.data_offset + e.csize, name);
      Array a = read_npy_entry(in);
      check_crc(in, e, in.crc());
      return a;
    }
    InflateInput in(src_, e.data_offset, e.csize, e.usize, name);
    Array a = read_npy_entry(in);
    in.finish();
    check_crc(in, e, in.crc());
    return a;
  }

 private:
  template <class... P>
  [[noreturn]] void fail(uint64_t offset, P&&... parts) const {
    throw Error(src_.name() + ": offset " + std::to_string(offset) + ": " +
                graft::detail::concat(std::forward<P>(parts)...));
  }

  Array read_npy_entry(Input& in) const {
    const NpyHeader h = read_npy_header(in, limits_);
    if (h.object)
      in.fail("holds pickled Python objects (descr ", quote(h.descr), "); graft reads only plain arrays from an .npz");
    return read_npy_data(in, h, limits_);
  }
  static void check_crc(const Input& in, const ZipEntry& e, uint32_t got) {
    if (got != e.crc)
      in.fail("CRC-32 of the data is ", std::hex, got, ", the zip directory says ", e.crc, " (corrupt entry)");
  }

  void read_directory() {
    const uint64_t size = src_.size();
    if (size < 22) fail(0, "not an .npz (zip) file: only ", size, " bytes");
    // The end-of-central-directory record: 22 bytes plus a comment of up to 65535 bytes.
    const uint64_t tail_len = std::min<uint64_t>(size, 22 + 0xffff);
    std::vector<unsigned char> tail(static_cast<size_t>(tail_len));
    src_.read_at(size - tail_len, tail.data(), tail.size());
    int64_t at = -1;
    for (int64_t i = static_cast<int64_t>(tail_len) - 22; i >= 0; --i) {
      const unsigned char* p = tail.data() + i;
      if (load_le(p, 4) == 0x06054b50 && load_le(p + 20, 2) == tail_len - size_t(i) - 22) {
        at = i;
        break;
      }
    }
    if (at < 0) {
      unsigned char head[4] = {};
      src_.read_at(0, head, std::min<uint64_t>(4, size));
      fail(0, "not an .npz (zip) file: no end-of-central-directory record (starts with ", hex_bytes(head, 4), ")");
    }
    const unsigned char* eocd = tail.data() + at;
    const uint64_t eocd_pos = size - tail_len + uint64_t(at);
    uint64_t disk = load_le(eocd + 4, 2), cd_disk = load_le(eocd + 6, 2);
    uint64_t n_disk = load_le(eocd + 8, 2), n_total = load_le(eocd + 10, 2);
    uint64_t cd_size = load_le(eocd + 12, 4), cd_off = load_le(eocd + 16, 4);
    uint64_t cd_limit = eocd_pos;  // the directory ends before this
    // zip64: a locator right before the record points at the zip64 end record.
    if (eocd_pos >= 20) {
      unsigned char loc[20];
      src_.read_at(eocd_pos - 20, loc, 20);
      if (load_le(loc, 4) == 0x07064b50) {
        const uint64_t z64 = load_le(loc + 8, 8);
        if (load_le(loc + 4, 4) != 0 || load_le(loc + 16, 4) > 1) fail(eocd_pos - 20, "multi-disk zip archives are not supported");
        if (z64 > eocd_pos - 20 || eocd_pos - 20 - z64 < 56)
          fail(eocd_pos - 20, "zip64 locator points outside the file (", z64, ")");
        unsigned char r[56];
        src_.read_at(z64, r, 56);
        if (load_le(r, 4) != 0x06064b50) fail(z64, "no zip64 end-of-central-directory record where the locator points");
        disk = load_le(r + 16, 4);
        cd_disk = load_le(r + 20, 4);
        n_disk = load_le(r + 24, 8);
        n_total = load_le(r + 32, 8);
        cd_size = load_le(r + 40, 8);
        cd_off = load_le(r + 48, 8);
        cd_limit = z64;
      }
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n_total) fail(eocd_pos, "multi-disk zip archives are not supported");
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off)
      fail(eocd_pos, "central directory (", cd_size, " bytes at offset ", cd_off, ") lies outside the file");
    if (n_total > limits_.max_zip_entries)
      fail(eocd_pos, "archive declares ", n_total, " entries, over the limit of ", limits_.max_zip_entries);
    if (cd_size > limits_.max_zip_directory_bytes)
      fail(eocd_pos, "central directory of ", cd_size, " bytes is over the limit of ", limits_.max_zip_directory_bytes);
    if (n_total * 46 > cd_size)
      fail(eocd_pos, "archive declares ", n_total, " entries, but its directory of ", cd_size, " bytes cannot hold them");

    std::vector<unsigned char> cd(static_cast<size_t>(cd_size));
    src_.read_at(cd_off, cd.data(), cd.size());
    std::set<std::string> names;
    size_t p = 0;
    for (uint64_t k = 0; k < n_total; ++k) {
      const uint64_t here = cd_off + p;
      if (cd.size() - p < 46 || load_le(&cd[p], 4) != 0x02014b50)
        fail(here, "central directory entry ", k, " is missing or damaged");
      ZipEntry e;
      e.flags = static_cast<uint16_t>(load_le(&cd[p + 8], 2));
      e.method = static_cast<uint16_t>(load_le(&cd[p + 10], 2));
      e.crc = static_cast<uint32_t>(load_le(&cd[p + 16], 4));
      e.csize = load_le(&cd[p + 20], 4);
      e.usize = load_le(&cd[p + 24], 4);
      const size_t nlen = load_le(&cd[p + 28], 2), xlen = load_le(&cd[p + 30], 2), clen = load_le(&cd[p + 32], 2);
      uint64_t entry_disk = load_le(&cd[p + 34], 2);
      e.local_offset = load_le(&cd[p + 42], 4);
      if (cd.size() - p - 46 < nlen + xlen + clen) fail(here, "central directory entry ", k, " runs past the directory");
      e.name.assign(reinterpret_cast<const char*>(&cd[p + 46]), nlen);
      parse_zip64_extra(&cd[p + 46 + nlen], xlen, e, entry_disk, here);
      p += 46 + nlen + xlen + clen;
      check_entry(e, entry_disk, here, cd_off);
      if (!names.insert(e.name).second) fail(here, "entry name ", quote(e.name), " appears twice");
      entries_.push_back(std::move(e));
    }
    if (p != cd.size()) fail(cd_off + p, cd.size() - p, " unexplained bytes at the end of the central directory");
    // No two entries may share bytes: overlapping entries let a small file expand without bound.
    std::vector<const ZipEntry*> by_offset;
    for (auto& e : entries_) by_offset.push_back(&e);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const ZipEntry* a, const ZipEntry* b) { return a->local_offset < b->local_offset; });
    for (size_t i = 1; i < by_offset.size(); ++i)
      if (by_offset[i - 1]->data_offset + by_offset[i - 1]->csize > by_offset[i]->local_offset)
        fail(by_offset[i]->local_offset, "entries ", quote(by_offset[i - 1]->name), " and ",
             quote(by_offset[i]->name), " overlap");
  }

  // The zip64 extended-information field holds, in this order, whichever of the sizes,
  // offset and disk number were saturated (0xffffffff / 0xffff) in the fixed fields.
  void parse_zip64_extra(const unsigned char* x, size_t len, ZipEntry& e, uint64_t& disk, uint64_t here) const {
    size_t q = 0;
    while (len - q >= 4) {
      const size_t id = load_le(x + q, 2), n = load_le(x + q + 2, 2);
      if (len - q - 4 < n) fail(here, "entry ", quote(e.name), ": extra field runs past its end");
      if (id == 0x0001) {
        const unsigned char* f = x + q + 4;
        size_t used = 0;
        auto take = [&](uint64_t& v, int bytes) {
          if (n - used < size_t(bytes)) fail(here, "entry ", quote(e.name), ": zip64 extra field too short");
          v = load_le(f + used, bytes);
          used += size_t(bytes);
        };
        if (e.usize == 0xffffffffu) take(e.usize, 8);
        if (e.csize == 0xffffffffu) take(e.csize, 8);
        if (e.local_offset == 0xffffffffu) take(e.local_offset, 8);
        if (disk == 0xffff) take(disk, 4);
      }
      q += 4 + n;
    }
  }

  void check_entry(ZipEntry& e, uint64_t disk, uint64_t here, uint64_t cd_off) const {
    const std::string who = "entry " + quote(e.name);
    if (e.name.empty()) fail(here, "an entry has an empty name");
    if (e.name.size() > limits_.max_name_bytes) fail(here, who, ": name longer than ", limits_.max_name_bytes, " bytes");
    if (e.flags & 0x0800) {
      if (!valid_utf8(e.name)) fail(here, who, ": name is marked UTF-8 but is not");
    } else {
      for (unsigned char c : e.name)
        if (c >= 0x80) fail(here, who, ": non-ASCII name not marked UTF-8 (code page 437 names are not supported)");
    }
    if (e.name.find('\0') != std::string::npos) fail(here, who, ": name contains a NUL byte");
    if (disk != 0) fail(here, who, ": multi-disk zip archives are not supported");
    if (e.flags & 0x0041) fail(here, who, ": encrypted entries are not supported");
    if (e.method != 0 && e.method != 8)
      fail(here, who, ": compression method ", e.method, " is not supported (only stored = 0 and deflated = 8)");
    if (e.method == 0 && e.csize != e.usize)
      fail(here, who, ": stored entry with compressed size ", e.csize, " != size ", e.usize);
    if (e.usize > limits_.max_array_bytes + limits_.max_header_bytes + 16)
      fail(here, who, ": declared size ", e.usize, " is over the limit of ", limits_.max_array_bytes, " bytes per array");
    // The local header: its name must match; the data follows its name and extra field.
    if (e.local_offset > cd_off || cd_off - e.local_offset < 30)
      fail(here, who, ": local header offset ", e.local_offset, " lies outside the file's entries");
    unsigned char lh[30];
    src_.read_at(e.local_offset, lh, 30);
    if (load_le(lh, 4) != 0x04034b50) fail(e.local_offset, who, ": no local header where the directory points");
    const uint64_t nlen = load_le(lh + 26, 2), xlen = load_le(lh + 28, 2);
    e.data_offset = e.local_offset + 30 + nlen + xlen;
    if (e.data_offset > cd_off || e.csize > cd_off - e.data_offset)
      fail(e.local_offset, who, ": its ", e.csize, " bytes of data run past the start of the central directory");
    std::string local(static_cast<size_t>(nlen), '\0');
    if (nlen) src_.read_at(e.local_offset + 30, &local[0], local.size());
    if (local != e.name) fail(e.local_offset, who, ": local header names it ", quote(local));
  }

  const Source& src_;
  ReadLimits limits_;
  std::vector<ZipEntry> entries_;
};

// NumPy's key for an entry: the name less ".npy".
inline std::string npz_key(const std::string& entry_name) {
  const std::string ext = ".npy";
  if (entry_name.size() > ext.size() && entry_name.compare(entry_name.size() - ext.size(), ext.size(), ext) == 0)
    return entry_name.substr(0, entry_name.size() - ext.size());
  return entry_name;
}

// Every array of an .npz held in a source, in directory order, named as NumPy names them.
inline std::vector<NamedArray> read_npz(const Source& src, const ReadLimits& limits = {}) {
  ZipReader zip(src, limits);
  std::vector<NamedArray> out;
  uint64_t total = 0;
  for (const ZipEntry& e : zip.entries()) {
    Array a = zip.read_array(e);
    total += a.nbytes();
    if (total > limits.max_total_bytes)
      GRAFT_FAIL(src.name(), ": arrays total more than ", limits.max_total_bytes, " bytes (ReadLimits::max_total_bytes)");
    out.push_back({npz_key(e.name), std::move(a)});
  }
  return out;
}

inline std::vector<NamedArray> read_npz(const std::string& path, const ReadLimits& limits = {}) {
  FileSource src(path);
  return read_npz(src, limits);
}

// Writes an .npz entry by entry: add() streams each array into the file (through zlib
// when deflated) and patches its local header afterwards; close() writes the directory and
// renames the file into place. Without close(), nothing appears at `path`.
class NpzWriter {
 public:
  explicit NpzWriter(const std::string& path, Compression c = Compression::stored) : file_(path), method_(c) {}

  void add(const std::string& key, const Array& a) {
    GRAFT_CHECK(!closed_, file_.path(), ": add() after close()");
    const std::string name = key + ".npy";
    GRAFT_CHECK(!key.empty() && key.find('\0') == std::string::npos && valid_utf8(key), file_.path(),
                ": bad array name ", quote(key), " (empty, a NUL byte or not UTF-8)");
    GRAFT_CHECK(name.size() <= 0xffff, file_.path(), ": array name too long");
    GRAFT_CHECK(names_.insert(name).second, file_.path(), ": array name ", quote(key), " used twice");
    const std::string prefix = npy_prefix(descr(a.dtype()), a.shape());
    const uint64_t usize = prefix.size() + a.nbytes();
    GRAFT_CHECK(usize < 0xffffffffu && deflateBound(nullptr, static_cast<uLong>(std::min<uint64_t>(usize, 0x7fffffff))) < 0xffffffffu
                && file_.tell() < 0xffffffffu,
                file_.path(), ": array ", quote(key), " or the archive reaches 4 GiB, which needs zip64 (not written by graft)");
    Entry e;
    e.name = name;
    e.offset = file_.tell();
    e.method = method_ == Compression::stored ? 0 : 8;
    e.usize = usize;
    file_.write(local_header(e));
    const uint64_t data_start = file_.tell();
    CrcSink sink{method_ == Compression::stored ? &file_ : nullptr};
    if (method_ == Compression::stored) {
      sink.write(prefix.data(), prefix.size());
      sink.write(a.data(), a.nbytes());
    } else {
      Deflater<AtomicFile> z(file_);
      Tee tee{sink, z};
      tee.write(prefix.data(), prefix.size());
      tee.write(a.data(), a.nbytes());
      z.finish();
    }
    e.crc = sink.crc;
    e.csize = file_.tell() - data_start;
    GRAFT_CHECK(e.csize < 0xffffffffu && file_.tell() < 0xffffffffu, file_.path(), ": archive reaches 4 GiB, which needs zip64 (not written by graft)");
    const std::string fixed = local_header(e);
    file_.write_at(e.offset, fixed.data(), fixed.size());
    entries_.push_back(e);
  }

  void close() {
    GRAFT_CHECK(!closed_, file_.path(), ": close() twice");
    const uint64_t cd_off = file_.tell();
    for (const Entry& e : entries_) file_.write(central_header(e));
    const uint64_t cd_size = file_.tell() - cd_off;
    GRAFT_CHECK(entries_.size() < 0xffff && file_.tell() < 0xffffffffu, file_.path(), ": archive too large for a zip without zip64");
    std::string r;
    put(r, 0x06054b50, 4);
    put(r, 0, 2);
    put(r, 0, 2);
    put(r, entries_.size(), 2);
    put(r, entries_.size(), 2);
    put(r, cd_size, 4);
    put(r, cd_off, 4);
    put(r, 0, 2);
    file_.write(r);
    file_.commit();
    closed_ = true;
  }

 private:
  struct Entry {
    std::string name;
    uint16_t method = 0;
    uint32_t crc = 0;
    uint64_t offset = 0, csize = 0, usize = 0;
  };
  // Counts the CRC-32 of the plain bytes, passing them on to the file when stored.
  struct CrcSink {
    AtomicFile* f;
    uint32_t crc = 0;
    void write(const void* p, size_t n) {
      crc = crc32_of(crc, p, n);
      if (f) f->write(p, n);
    }
  };
  // Stored: CRC and file. Deflated: CRC of the plain bytes, compressed bytes to the file.
  struct Tee {
    CrcSink& crc;
    Deflater<AtomicFile>& z;
    void write(const void* p, size_t n) {
      crc.write(p, n);
      z.write(p, n);
    }
  };
  static void put(std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  static bool ascii(const std::string& s) {
    for (unsigned char c : s)
      if (c >= 0x80) return false;
    return true;
  }
  // Fixed date 1980-01-01 00:00 so that the same arrays make the same file.
  std::string common(const Entry& e) const {
    std::string s;
    put(s, 20, 2);                             // version needed: 2.0
    put(s, ascii(e.name) ? 0 : 0x0800, 2);     // flags: UTF-8 name when not ASCII
    put(s, e.method, 2);
    put(s, 0, 2);                              // time
    put(s, (0 << 9) | (1 << 5) | 1, 2);        // date
    put(s, e.crc, 4);
    put(s, e.csize, 4);
    put(s, e.usize, 4);
    put(s, e.name.size(), 2);
    put(s, 0, 2);                              // extra length
    return s;
  }
  std::string local_header(const Entry& e) const {
    std::string s;
    put(s, 0x04034b50, 4);
    return s + common(e) + e.name;
  }
  std::string central_header(const Entry& e) const {
    std::string s;
    put(s, 0x02014b50, 4);
    put(s, 0x0314, 2);  // made by: Unix, 2.0
    s += common(e);
    put(s, 0, 2);  // comment length
    put(s, 0, 2);  // disk
    put(s, 0, 2);  // internal attributes
    put(s, uint64_t(0644) << 16, 4);  // external attributes: rw-r--r--
    put(s, e.offset, 4);
    return s + e.name;
  }

  AtomicFile file_;
  Compression method_;
  std::vector<Entry> entries_;
  std::set<std::string> names_;
  bool closed_ = false;
};

inline void write_npz(const std::string& path, const std::vector<NamedArray>& arrays,
                      Compression c = Compression::stored) {
  NpzWriter w(path, c);
  for (const auto& a : arrays) w.add(a.name, a.array);
  w.close();
}

}  // namespace io
}  // namespace graft
