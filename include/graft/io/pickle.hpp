// A restricted unpickler for NumPy arrays saved inside a pickle: the caffe-tensorflow
// weights container (an NPY file with descr '|O' whose body is a pickled 0-d object array
// holding a {layer: {param: ndarray}} dict).
//
// It is a data parser, not Python's unpickler: it builds a graph of plain values (None,
// bool, int, bytes, text, tuple, list, dict) and knows three names, which it never calls
// but interprets:
//   numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')  -> an empty array, and
//   numpy.dtype(code, align, copy)                                 -> a dtype,
// each completed by BUILD with the state NumPy writes (numpy._core.multiarray, NumPy 2's
// name for the same module, is accepted too). Any other global, any opcode outside the
// short list that protocols 2-4 use for such data, and any structure NumPy would not write
// is refused with the file, the offset and the opcode or global named. Nothing read is
// executed. Every count is bounded by ReadLimits, every length by the bytes left, and the
// graph lives in an arena addressed by index, so reference cycles are harmless.
//
// Python 2 files (protocol 2) hold bytes as BINSTRING / SHORT_BINSTRING, Python 3 ones
// (protocol 3, np.save) as BINBYTES / SHORT_BINBYTES; both are bytes here, and a bytes key
// is read as Latin-1, as np.load(..., encoding='latin1') reads it.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"
#include "graft/io/array.hpp"
#include "graft/io/dtype.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/pickle_opcodes.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/source.hpp"

namespace graft {
namespace io {
namespace pickle {

enum class Kind : uint8_t { none, boolean, integer, bytes, text, tuple, list, dict, global, dtype, array };

inline const char* kind_name(Kind k) {
  switch (k) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::bytes: return "bytes";
    case Kind::text: return "str";
    case Kind::tuple: return "tuple";
    case Kind::list: return "list";
    case Kind::dict: return "dict";
    case Kind::global: return "global";
    case Kind::dtype: return "numpy.dtype";
    case Kind::array: return "numpy.ndarray";
  }
  return "?";
}

enum class Global : uint8_t { reconstruct, ndarray, dtype };

struct Node {
  Kind kind = Kind::none;
  int64_t num = 0;              // bool / int value; Global; index into dtypes / arrays
  uint32_t blob = 0;            // bytes / text: index into blobs
  std::vector<uint32_t> items;  // tuple / list elements; dict: key, value, key, value, ...
  uint64_t offset = 0;          // position in the pickle input where it was made
};

struct DTypeObject {
  bool object = false;  // 'O': Python objects
  DType dtype = DType::f4;
  char order = '=';
  bool built = false;
};

struct ArrayObject {
  bool built = false;
  bool object = false;
  Array data;                      // numeric arrays, C order, host byte order
  std::vector<uint32_t> elements;  // object arrays: the element nodes, C order
  Shape shape;
  bool taken = false;  // data moved out by take_array()
};

class Unpickler {
 public:
  Unpickler(Input& in, const ReadLimits& limits = {}) : in_(in), limits_(limits) {}

  // Runs the pickle to its STOP; returns the id of the object it made.
  uint32_t run() {
    const uint64_t first = in_.position();
    for (;;) {
      op_at_ = in_.position();
      const uint8_t op = in_.byte("a pickle opcode");
      op_ = op;
      if (op_at_ == first && op != 0x80) fail("a protocol 2+ pickle starts with PROTO; this one does not");
      switch (op) {
        case 0x80: {  // PROTO
          const uint8_t v = in_.byte("the protocol number");
          if (op_at_ != first) fail("PROTO in the middle of the pickle");
          if (v < 2 || v > 5) fail("pickle protocol ", int(v), " is not supported (only 2 to 5)");
          break;
        }
        case 0x95: {  // FRAME: a hint for buffering; its length must fit in what is left
          const uint64_t n = uint_le(8, "the frame length");
          if (n > in_.remaining()) fail("frame of ", n, " bytes, but only ", in_.remaining(), " are left");
          break;
        }
        case '.': {  // STOP
          if (stack_.size() != 1 || !marks_.empty())
            fail("STOP with ", stack_.size(), " objects on the stack and ", marks_.size(),
                 " marks open (expected exactly one object)");
          return stack_.back();
        }
        case '(': mark(); break;
        case 'c': global_from_lines(); break;
        case 0x93: stack_global(); break;
        case 'R': reduce(); break;
        case 'b': build(); break;
        case 'N': push(make(Kind::none)); break;
        case 0x88: push_bool(true); break;
        case 0x89: push_bool(false); break;
        case 'J': push_int(static_cast<int32_t>(uint_le(4, "BININT"))); break;
        case 'K': push_int(static_cast<int64_t>(uint_le(1, "BININT1"))); break;
        case 'M': push_int(static_cast<int64_t>(uint_le(2, "BININT2"))); break;
        case 0x8a: long1(); break;
        case 'U': push_blob(Kind::bytes, uint_le(1, "a length")); break;
        case 'T': {
          const int64_t n = static_cast<int32_t>(uint_le(4, "a length"));
          if (n < 0) fail("negative BINSTRING length ", n);
          push_blob(Kind::bytes, static_cast<uint64_t>(n));
          break;
        }
        case 'C': push_blob(Kind::bytes, uint_le(1, "a length")); break;
        case 'B': push_blob(Kind::bytes, uint_le(4, "a length")); break;
        case 0x8e: push_blob(Kind::bytes, uint_le(8, "a length")); break;
        case 0x8c: push_blob(Kind::text, uint_le(1, "a length")); break;
        case 'X': push_blob(Kind::text, uint_le(4, "a length")); break;
        case 0x8d: push_blob(Kind::text, uint_le(8, "a length")); break;
        case ')': push(make(Kind::tuple)); break;
        case 't': {
          const size_t m = pop_mark();
          tuple_from(m);
          break;
        }
        case 0x85: tuple_from(stack_size(1) - 1); break;
        case 0x86: tuple_from(stack_size(2) - 2); break;
        case 0x87: tuple_from(stack_size(3) - 3); break;
        case ']': push(make(Kind::list)); break;
        case '}': push(make(Kind::dict)); break;
        case 'a': {
          stack_size(2);
          const uint32_t v = pop();
          container(top(), Kind::list).items.push_back(v);
          break;
        }
        case 'e': {
          const size_t m = pop_mark();
          if (m == 0) fail("APPENDS with no list below its mark");
          Node& list = container(stack_[m - 1], Kind::list);
          list.items.insert(list.items.end(), stack_.begin() + long(m), stack_.end());
          stack_.resize(m);
          break;
        }
        case 's': {
          stack_size(3);
          const uint32_t v = pop(), k = pop();
          Node& d = container(top(), Kind::dict);
          d.items.push_back(k);
          d.items.push_back(v);
          break;
        }
        case 'u': {
          const size_t m = pop_mark();
          if (m == 0) fail("SETITEMS with no dict below its mark");
          if ((stack_.size() - m) % 2) fail("SETITEMS with an odd number of keys and values");
          Node& d = container(stack_[m - 1], Kind::dict);
          d.items.insert(d.items.end(), stack_.begin() + long(m), stack_.end());
          stack_.resize(m);
          break;
        }
        case 'q': memo_put(uint_le(1, "a memo key")); break;
        case 'r': memo_put(uint_le(4, "a memo key")); break;
        case 0x94: memo_put(memo_.size()); break;
        case 'h': memo_get(uint_le(1, "a memo key")); break;
        case 'j': memo_get(uint_le(4, "a memo key")); break;
        default: {
          const char* name = opcode_name(op);
          if (name)
            fail("opcode ", name, " (0x", hex_bytes(&op, 1), ") is not allowed: graft reads only the opcodes NumPy uses for arrays");
          fail("unknown pickle opcode 0x", hex_bytes(&op, 1));
        }
      }
    }
  }

  const Node& node(uint32_t id) const { return nodes_.at(id); }
  const DTypeObject& dtype(const Node& n) const { return dtypes_.at(size_t(n.num)); }
  const ArrayObject& array(const Node& n) const { return arrays_.at(size_t(n.num)); }
  // The bytes of a bytes or text node.
  std::string str(const Node& n) const {
    const auto& b = blobs_.at(n.blob);
    return std::string(b.begin(), b.end());
  }
  // Moves a numeric array's data out; each array can be taken once (NumPy never stores one
  // array twice in these files, and a file that refers to one twice could multiply memory).
  Array take_array(uint32_t id, const std::string& what) {
    const Node& n = nodes_.at(id);
    ArrayObject& a = arrays_.at(size_t(n.num));
    if (!a.built) fail_at(n.offset, what, ": the array was never given its data (no BUILD)");
    if (a.object) fail_at(n.offset, what, ": is an array of Python objects, expected numbers");
    if (a.taken) fail_at(n.offset, what, ": the same array appears twice in the file");
    a.taken = true;
    return std::move(a.data);
  }
  template <class... P>
  [[noreturn]] void fail_at(uint64_t pos, P&&... parts) const {
    in_.fail_at(pos, "pickle: ", std::forward<P>(parts)...);
  }

 private:
  template <class... P>
  [[noreturn]] void fail(P&&... parts) const {
    const char* name = opcode_name(op_);
    in_.fail_at(op_at_, "pickle ", name ? name : "opcode", ": ", std::forward<P>(parts)...);
  }

  uint64_t uint_le(int n, const char* what) {
    unsigned char b[8];
    in_.read(b, uint64_t(n), what);
    return load_le(b, n);
  }

  uint32_t make(Kind k) {
    if (nodes_.size() >= limits_.max_pickle_items)
      fail("more than ", limits_.max_pickle_items, " pickle objects (ReadLimits::max_pickle_items)");
    Node n;
    n.kind = k;
    n.offset = op_at_;
    nodes_.push_back(std::move(n));
    return static_cast<uint32_t>(nodes_.size() - 1);
  }
  void push(uint32_t id) {
    if (++pushes_ > limits_.max_pickle_items)
      fail("more than ", limits_.max_pickle_items, " pickle stack pushes (ReadLimits::max_pickle_items)");
    stack_.push_back(id);
  }
  uint32_t pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("the stack is empty (or only a mark is left)");
    const uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  // Checks that at least n objects lie above the innermost mark; returns the stack size.
  size_t stack_size(size_t n) {
    const size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() - floor < n) fail("needs ", n, " objects on the stack, found ", stack_.size() - floor);
    return stack_.size();
  }
  void mark() {
    if (marks_.size() >= limits_.max_pickle_items) fail("more than ", limits_.max_pickle_items, " nested marks");
    marks_.push_back(stack_.size());
  }
  size_t pop_mark() {
    if (marks_.empty()) fail("no MARK to match");
    const size_t m = marks_.back();
    marks_.pop_back();
    return m;
  }
  Node& container(uint32_t id, Kind want) {
    Node& n = nodes_[id];
    if (n.kind != want) fail("expected a ", kind_name(want), " to add to, found a ", kind_name(n.kind));
    return n;
  }
  uint32_t top() {
    stack_size(1);
    return stack_.back();
  }

  void push_bool(bool v) {
    const uint32_t id = make(Kind::boolean);
    nodes_[id].num = v;
    push(id);
  }
  void push_int(int64_t v) {
    const uint32_t id = make(Kind::integer);
    nodes_[id].num = v;
    push(id);
  }
  void long1() {
    const uint64_t n = uint_le(1, "a length");
    if (n > 8) fail("integer of ", n, " bytes is too large");
    unsigned char b[8] = {};
    in_.read(b, n, "LONG1");
    uint64_t v = load_le(b, int(n));
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    push_int(static_cast<int64_t>(v));
  }
  void push_blob(Kind k, uint64_t n) {
    if (k == Kind::text && n > limits_.max_name_bytes)
      fail("text of ", n, " bytes, over the limit of ", limits_.max_name_bytes);
    const uint32_t id = make(k);
    blobs_.emplace_back();
    in_.read_vector(blobs_.back(), n, k == Kind::text ? "a string" : "a bytes object");
    if (k == Kind::text && !valid_utf8(str_of(blobs_.back()))) fail("text is not valid UTF-8");
    nodes_[id].blob = static_cast<uint32_t>(blobs_.size() - 1);
    push(id);
  }
  static std::string str_of(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

  void tuple_from(size_t start) {
    const uint32_t id = make(Kind::tuple);
    nodes_[id].items.assign(stack_.begin() + long(start), stack_.end());
    stack_.resize(start);
    push(id);
  }

  void memo_put(uint64_t key) {
    const uint32_t id = top();
    if (memo_.size() >= limits_.max_pickle_items && !memo_.count(key))
      fail("more than ", limits_.max_pickle_items, " memo entries");
    memo_[key] = id;
  }
  void memo_get(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key ", key, " was never stored");
    push(it->second);
  }

  // ---- the three globals ----
  static bool text_like(const Node& n) { return n.kind == Kind::text || n.kind == Kind::bytes; }

  void resolve_global(const std::string& module, const std::string& name) {
    Global g;
    if ((module == "numpy.core.multiarray" || module == "numpy._core.multiarray") && name == "_reconstruct")
      g = Global::reconstruct;
    else if (module == "numpy" && name == "ndarray")
      g = Global::ndarray;
    else if (module == "numpy" && name == "dtype")
      g = Global::dtype;
    else
      fail("refusing global ", quote(module + "." + name),
           ": only numpy.core.multiarray._reconstruct, numpy.ndarray and numpy.dtype are allowed");
    const uint32_t id = make(Kind::global);
    nodes_[id].num = static_cast<int64_t>(g);
    push(id);
  }
  std::string line(const char* what) {
    std::string s;
    for (;;) {
      const char c = static_cast<char>(in_.byte(what));
      if (c == '\n') return s;
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
        fail(what, " holds a byte that is not printable ASCII");
      if (s.size() >= 256) fail(what, " is longer than 256 bytes");
      s += c;
    }
  }
  void global_from_lines() {
    const std::string module = line("the module name of GLOBAL");
    const std::string name = line("the name of GLOBAL");
    resolve_global(module, name);
  }
  void stack_global() {
    stack_size(2);
    const Node& name = nodes_[pop()];
    const Node& module = nodes_[pop()];
    if (module.kind != Kind::text || name.kind != Kind::text) fail("module and name must be strings");
    resolve_global(str(module), str(name));
  }

  // 0 or 1, as a bool or an int (Python 2 wrote ints).
  bool flag(const Node& n, const char* what) {
    if ((n.kind == Kind::boolean || n.kind == Kind::integer) && (n.num == 0 || n.num == 1)) return n.num == 1;
    fail(what, " must be True/False or 0/1, found a ", kind_name(n.kind));
  }
  const Node& args_tuple(uint32_t id, size_t n, const char* what) {
    const Node& t = nodes_[id];
    if (t.kind != Kind::tuple || t.items.size() != n)
      fail(what, " expects a tuple of ", n, " arguments, found a ", kind_name(t.kind),
           t.kind == Kind::tuple ? " of " + std::to_string(t.items.size()) : std::string());
    return t;
  }

  void reduce() {
    stack_size(2);
    const uint32_t args = pop();
    const Node& f = nodes_[pop()];
    if (f.kind != Kind::global) fail("calls a ", kind_name(f.kind), "; only numpy's _reconstruct and dtype may be called");
    const Global g = static_cast<Global>(f.num);
    if (g == Global::reconstruct) {
      // _reconstruct(numpy.ndarray, (0,), b'b'): an empty array that BUILD fills.
      const Node& t = args_tuple(args, 3, "_reconstruct");
      const Node& cls = nodes_[t.items[0]];
      const Node& shape = nodes_[t.items[1]];
      const Node& code = nodes_[t.items[2]];
      if (cls.kind != Kind::global || static_cast<Global>(cls.num) != Global::ndarray)
        fail("_reconstruct of something other than numpy.ndarray");
      if (shape.kind != Kind::tuple || shape.items.size() != 1 || nodes_[shape.items[0]].kind != Kind::integer ||
          nodes_[shape.items[0]].num != 0)
        fail("_reconstruct expects the shape (0,)");
      if (!text_like(code) || str(code) != "b") fail("_reconstruct expects the type code 'b'");
      const uint32_t id = make(Kind::array);
      nodes_[id].num = static_cast<int64_t>(arrays_.size());
      arrays_.emplace_back();
      push(id);
    } else if (g == Global::dtype) {
      // dtype(code, align, copy), e.g. dtype('f4', False, True); BUILD sets the byte order.
      const Node& t = args_tuple(args, 3, "numpy.dtype");
      const Node& code = nodes_[t.items[0]];
      if (!text_like(code)) fail("numpy.dtype expects a type code string");
      flag(nodes_[t.items[1]], "numpy.dtype's align");
      flag(nodes_[t.items[2]], "numpy.dtype's copy");
      const std::string c = str(code);
      DTypeObject d;
      if (c == "O8" || c == "O4" || c == "O") {
        d.object = true;
      } else if (!parse_dtype_code(c, d.dtype)) {
        fail("unsupported dtype ", quote(c), " (graft reads bool, int8..int64, uint8..uint64, float16/32/64)");
      }
      const uint32_t id = make(Kind::dtype);
      nodes_[id].num = static_cast<int64_t>(dtypes_.size());
      dtypes_.push_back(d);
      push(id);
    } else {
      fail("numpy.ndarray may not be called");
    }
  }

  void build() {
    stack_size(2);
    const uint32_t state_id = pop();
    Node& obj = nodes_[top()];
    if (obj.kind == Kind::dtype)
      build_dtype(dtypes_[size_t(obj.num)], nodes_[state_id]);
    else if (obj.kind == Kind::array)
      build_array(size_t(obj.num), nodes_[state_id]);
    else
      fail("BUILD of a ", kind_name(obj.kind), " is not allowed");
  }

  // dtype state: (3, byte order, subarray, names, fields, elsize, alignment, flags).
  void build_dtype(DTypeObject& d, const Node& s) {
    if (d.built) fail("the dtype was already built");
    if (s.kind != Kind::tuple || s.items.size() != 8)
      fail("dtype state must be a tuple of 8 (version 3), found a ", kind_name(s.kind),
           s.kind == Kind::tuple ? " of " + std::to_string(s.items.size()) : std::string());
    const Node& version = nodes_[s.items[0]];
    if (version.kind != Kind::integer || version.num != 3) fail("dtype state version must be 3");
    const Node& order = nodes_[s.items[1]];
    if (!text_like(order) || str(order).size() != 1) fail("dtype byte order must be one character");
    for (int i = 2; i <= 4; ++i)
      if (nodes_[s.items[size_t(i)]].kind != Kind::none)
        fail("structured and sub-array dtypes are not supported");
    for (int i = 5; i <= 7; ++i)
      if (nodes_[s.items[size_t(i)]].kind != Kind::integer) fail("dtype state field ", i, " must be an int");
    if (nodes_[s.items[5]].num != -1 || nodes_[s.items[6]].num != -1)
      fail("dtype with an explicit item size or alignment (a flexible or structured type) is not supported");
    const char o = str(order)[0];
    if (o != '<' && o != '>' && o != '|' && o != '=') fail("dtype byte order ", quote(str(order)), " is not one");
    d.order = o;
    d.built = true;
  }

  // ndarray state: (1, shape, dtype, is_fortran, data), or without the leading version.
  void build_array(size_t index, const Node& s) {
    if (arrays_[index].built) fail("the array was already built");
    if (s.kind != Kind::tuple || (s.items.size() != 5 && s.items.size() != 4))
      fail("ndarray state must be a tuple of 5, found a ", kind_name(s.kind),
           s.kind == Kind::tuple ? " of " + std::to_string(s.items.size()) : std::string());
    size_t k = 0;
    if (s.items.size() == 5) {
      const Node& version = nodes_[s.items[k++]];
      if (version.kind != Kind::integer || version.num != 1) fail("ndarray state version must be 1");
    }
    const Node& shape_node = nodes_[s.items[k++]];
    const Node& dtype_node = nodes_[s.items[k++]];
    const bool fortran = flag(nodes_[s.items[k++]], "the ndarray's Fortran flag");
    const uint32_t data_id = s.items[k];
    if (dtype_node.kind != Kind::dtype) fail("ndarray state holds a ", kind_name(dtype_node.kind), " where the dtype goes");
    if (shape_node.kind != Kind::tuple) fail("ndarray shape must be a tuple");
    if (shape_node.items.size() > size_t(Shape::kMaxRank)) fail("ndarray of rank ", shape_node.items.size(), " exceeds graft's maximum of ", Shape::kMaxRank);
    std::vector<int64_t> dims;
    for (uint32_t d : shape_node.items) {
      const Node& n = nodes_[d];
      if (n.kind != Kind::integer || n.num < 0) fail("ndarray shape must hold non-negative ints");
      dims.push_back(n.num);
    }
    Shape shape;
    try {
      shape = Shape(dims);
    } catch (const Error& e) {
      fail("ndarray shape: ", e.what());
    }
    const DTypeObject dt = dtypes_[size_t(dtype_node.num)];
    ArrayObject& a = arrays_[index];
    a.shape = shape;
    Node& data = nodes_[data_id];
    if (dt.object) {
      if (data.kind != Kind::list || int64_t(data.items.size()) != shape.numel())
        fail("object array of shape ", shape.str(), " needs a list of ", shape.numel(), " items");
      a.object = true;
      a.elements = data.items;  // copied: later APPENDs to the list do not change the array
    } else {
      if (data.kind != Kind::bytes) fail("array data must be bytes, found a ", kind_name(data.kind));
      auto& blob = blobs_[data.blob];
      const uint64_t want = Array::byte_count(dt.dtype, shape);
      if (want > limits_.max_array_bytes) fail("array needs ", want, " bytes, over the limit of ", limits_.max_array_bytes);
      if (blob.size() != want)
        fail("array of ", dtype_name(dt.dtype), " ", shape.str(), " needs ", want, " bytes, its data has ", blob.size(),
             blob.empty() && want ? " (or was already used by another array)" : "");
      std::vector<uint8_t> bytes = std::move(blob);
      blob.clear();
      if (needs_swap(dt.order, dt.dtype)) swap_bytes(bytes.data(), size_t(shape.numel()), itemsize(dt.dtype));
      if (fortran && shape.rank() > 1) bytes = fortran_to_c(bytes, shape, itemsize(dt.dtype));
      a.data = Array(dt.dtype, shape, std::move(bytes));
    }
    a.built = true;
  }

  Input& in_;
  ReadLimits limits_;
  std::vector<Node> nodes_;
  std::vector<std::vector<uint8_t>> blobs_;
  std::vector<DTypeObject> dtypes_;
  std::vector<ArrayObject> arrays_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  uint64_t pushes_ = 0;
  uint64_t op_at_ = 0;
  uint8_t op_ = 0;
};

}  // namespace pickle
}  // namespace io
}  // namespace graft
