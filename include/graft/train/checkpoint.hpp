// Checkpoints: everything needed to resume training as if it had not stopped — the
// parameters (graft's layout), the optimizer's state, the epoch, the dropout streams' steps
// and the learning curve so far — in one .npz written to a temporary file and renamed, so a
// crash never leaves a broken checkpoint (the previous one stays until the new one is whole).
//
// Keys: param/<layer>/<param>, optim/<layer>/<param>/<state> (+ .../step),
// buffer/<layer>/<buffer> (BatchNorm's running statistics), counter/<layer>/<counter>
// (dropout's seed and step; checkpoints before graft had counters kept them as dropout/...),
// state/epoch, state/optimizer_steps, state/seed, history/<field>.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graft/io/npz.hpp"
#include "graft/nn/network.hpp"
#include "graft/train/history.hpp"
#include "graft/train/optimizer.hpp"

namespace graft {
namespace train {

struct CheckpointState {
  int epoch = 0;                     // the last completed epoch
  uint64_t seed = 0;                 // the run's seed
  std::vector<EpochRecord> history;  // the learning curve up to `epoch`
};

namespace detail {
template <class T, class D>
io::Array host_array(const Tensor<T, D>& t) {
  Tensor<T> h;
  copy_to_host(t, h);
  return io::Array::from_tensor(h);
}
inline io::Array scalar_i64(int64_t v) {
  Tensor<int64_t> t(Shape{}, v);
  return io::Array::from_tensor(t);
}
inline io::Array vector_f64(const std::vector<double>& v) {
  Tensor<double> t(Shape{int64_t(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t[int64_t(i)] = v[i];
  return io::Array::from_tensor(t);
}
}  // namespace detail

template <class D>
void save_checkpoint(const std::string& path, nn::Network<float, D>& net, Optimizer<float, D>& opt,
                     const CheckpointState& st) {
  std::vector<io::NamedArray> out;
  for (auto& np : net.params()) out.push_back({"param/" + np.name, detail::host_array(np.param->value)});
  for (auto& kv : opt.state()) {
    for (auto& t : kv.second.tensors)
      out.push_back({"optim/" + kv.first + "/" + t.first, detail::host_array(t.second)});
    out.push_back({"optim/" + kv.first + "/step", detail::scalar_i64(kv.second.step)});
  }
  for (auto* l : net.layers()) {
    for (auto& b : l->buffers()) out.push_back({"buffer/" + l->name() + "/" + b.name, detail::host_array(*b.tensor)});
    for (auto& c : l->counters())
      out.push_back({"counter/" + l->name() + "/" + c.name, detail::scalar_i64(int64_t(*c.value))});
  }
  out.push_back({"state/epoch", detail::scalar_i64(st.epoch)});
  out.push_back({"state/optimizer_steps", detail::scalar_i64(opt.steps())});
  out.push_back({"state/seed", detail::scalar_i64(int64_t(st.seed))});
  std::vector<double> e, ta, va, lo, vl, se;
  for (const auto& r : st.history) {
    e.push_back(r.epoch); ta.push_back(r.train_accuracy); va.push_back(r.val_accuracy);
    lo.push_back(r.loss); vl.push_back(r.val_loss); se.push_back(r.seconds);
  }
  out.push_back({"history/epoch", detail::vector_f64(e)});
  out.push_back({"history/train_accuracy", detail::vector_f64(ta)});
  out.push_back({"history/val_accuracy", detail::vector_f64(va)});
  out.push_back({"history/loss", detail::vector_f64(lo)});
  out.push_back({"history/val_loss", detail::vector_f64(vl)});
  out.push_back({"history/seconds", detail::vector_f64(se)});
  io::write_npz(path, out);  // temporary file, then rename
}

// Restores parameters, optimizer state and dropout steps into a network built the same
// way; returns the epoch and history. Any missing or mis-shaped entry is an error naming it.
template <class D>
CheckpointState load_checkpoint(const std::string& path, nn::Network<float, D>& net,
                                Optimizer<float, D>& opt) {
  using LayerT = Layer<float, D>;
  std::vector<io::NamedArray> arrays = io::read_npz(path);
  std::map<std::string, const io::Array*> by;
  for (const auto& a : arrays) by[a.name] = &a.array;
  auto need = [&](const std::string& key) -> const io::Array& {
    auto it = by.find(key);
    GRAFT_CHECK(it != by.end(), path, ": checkpoint has no ", key, " (was it written for this network?)");
    return *it->second;
  };
  auto scalar = [&](const std::string& key) {
    const io::Array& a = need(key);
    GRAFT_CHECK(a.size() == 1, path, ": ", key, " should hold one value, has shape ", a.shape().str());
    return a.template to_tensor<int64_t>(io::Cast::exact, key)[0];  // exact, all 64 bits
  };
  // Check everything before changing anything.
  for (auto& np : net.params()) {
    const io::Array& a = need("param/" + np.name);
    GRAFT_CHECK(a.shape() == np.param->value.shape(), path, ": ", np.name, " has shape ", a.shape().str(),
                " in the checkpoint, the network expects ", np.param->value.shape().str());
  }
  for (auto* l : net.layers())
    for (auto& b : l->buffers()) {
      const std::string key = "buffer/" + l->name() + "/" + b.name;
      const io::Array& a = need(key);
      GRAFT_CHECK(a.shape() == b.tensor->shape(), path, ": ", key, " has shape ", a.shape().str(),
                  " in the checkpoint, the network expects ", b.tensor->shape().str());
    }
  auto counter_key = [&](LayerT& l, const std::string& name) {
    const std::string key = "counter/" + l.name() + "/" + name, old = "dropout/" + l.name() + "/" + name;
    return by.count(key) || !by.count(old) ? key : old;
  };
  for (auto* l : net.layers())
    for (auto& c : l->counters()) need(counter_key(*l, c.name));
  for (auto* l : net.layers())
    for (auto& b : l->buffers())
      copy_from_host(need("buffer/" + l->name() + "/" + b.name).template to_tensor<float>(io::Cast::exact, b.name), *b.tensor);
  for (auto& np : net.params()) copy_from_host(need("param/" + np.name).template to_tensor<float>(io::Cast::exact, np.name), np.param->value);
  opt.state().clear();
  for (const auto& a : arrays) {
    const std::string& k = a.name;
    if (k.compare(0, 6, "optim/") != 0) continue;
    const size_t slash = k.rfind('/');
    const std::string param = k.substr(6, slash - 6), key = k.substr(slash + 1);
    auto& ps = opt.state()[param];
    if (key == "step") {
      ps.step = a.array.to_tensor<int64_t>(io::Cast::exact, k)[0];
    } else {
      Tensor<float, D>& t = ps.tensors[key];
      copy_from_host(a.array.to_tensor<float>(io::Cast::exact, k), t);
    }
  }
  for (auto* l : net.layers())
    for (auto& c : l->counters()) *c.value = uint64_t(scalar(counter_key(*l, c.name)));
  opt.set_steps(scalar("state/optimizer_steps"));
  CheckpointState st;
  st.epoch = int(scalar("state/epoch"));
  st.seed = uint64_t(scalar("state/seed"));
  const io::Array& e = need("history/epoch");
  const char* fields[] = {"train_accuracy", "val_accuracy", "loss", "val_loss", "seconds"};
  std::vector<const io::Array*> cols;
  for (const char* f : fields) {
    cols.push_back(&need(std::string("history/") + f));
    GRAFT_CHECK(cols.back()->size() == e.size(), path, ": history/", f, " has ", cols.back()->size(),
                " entries for ", e.size(), " epochs");
  }
  for (int64_t i = 0; i < e.size(); ++i) {
    EpochRecord r;
    r.epoch = int(e.value(i));
    r.train_accuracy = cols[0]->value(i);
    r.val_accuracy = cols[1]->value(i);
    r.loss = cols[2]->value(i);
    r.val_loss = cols[3]->value(i);
    r.seconds = cols[4]->value(i);
    st.history.push_back(r);
  }
  return st;
}

}  // namespace train
}  // namespace graft
