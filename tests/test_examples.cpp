// [examples]: every program of the transfer-learning story run on a small generated
// UTKFace-format dataset: pretrain a source model, fine-tune it for gender, evaluate,
// predict and extract features; their files are checked by what they must hold.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "graft/data.hpp"
#include "graft/io.hpp"
#include "graft/nn/model_file.hpp"
#include "support/image_files.hpp"
#include "support/skip.hpp"

using namespace graft;

namespace {
std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int run(const std::string& cmd, const std::string& log) {
  const int rc = std::system((cmd + " > '" + log + "' 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A valid JSON document (checked by Python's json module when a Python is available).
bool valid_json(const std::string& path) {
  const std::string py = GRAFT_TEST_PYTHON;
  if (py.empty()) return true;
  return std::system(("'" + py + "' -c \"import json,sys; json.load(open(sys.argv[1]))\" '" + path + "'").c_str()) == 0;
}

// 96 faces, 32x32: gender shows as a bright left or right half (so a network can learn it
// in an epoch or two), race and age vary so the source tasks have labels too.
void make_faces(const std::string& dir) {
  for (int i = 0; i < 96; ++i) {
    const int gender = i % 2, race = (i / 2) % 5, age = 5 + (i * 7) % 70;
    data::Image img = test::smooth_image(32, 32, uint64_t(i) + 1);
    for (int y = 0; y < 32; ++y)
      for (int x = (gender ? 16 : 0); x < (gender ? 32 : 16); ++x)
        for (int c = 0; c < 3; ++c) {
          uint8_t& v = img.rgb[size_t((y * 32 + x) * 3 + c)];
          v = uint8_t(std::min(255, v / 2 + 128));
        }
    test::write_jpg(dir + "/" + std::to_string(age) + "_" + std::to_string(gender) + "_" + std::to_string(race) +
                        "_2017011" + std::to_string(1000 + i) + ".jpg.chip.jpg",
                    img);
  }
}
}  // namespace

TEST_CASE("The example programs, end to end on generated faces", "[examples]") {
  test::TempDir tmpdir("examples");
  const std::string tmp = tmpdir.path().string();
  const std::string data = tmp + "/faces", runs = tmp + "/runs";
  std::system(("mkdir -p '" + data + "' '" + runs + "'").c_str());
  make_faces(data);
  const std::string common = " --data '" + data + "' --format utkface --width 0.125 --input 32 --batch 16 --workers 1 --val 0.2 --test 0.2";

  // 1. a source model on race and age
  const std::string src = runs + "/source";
  REQUIRE(run(std::string(GRAFT_EX_PRETRAIN) + common + " --task race+age --stages all:1 --norm vgg-face-255 --out '" + src + "'",
              runs + "/pretrain.log") == 0);
  INFO(read_text(runs + "/pretrain.log"));
  auto backbone = io::read_weights(src + "/backbone.npy");  // caffe-tensorflow dict
  REQUIRE(backbone.find("conv1_1"));
  CHECK(backbone.find("conv1_1")->find("weights")->array.shape() == Shape({3, 3, 3, 8}));  // HWIO, 64/8 filters
  nn::ModelInfo src_info;
  REQUIRE(nn::read_model_info(src + "/model.npz", src_info));
  CHECK(src_info.classes.size() == 30);
  CHECK(src_info.task == "race+age");

  // 2. fine-tune for gender from it: fc8 first, then the top block
  const std::string ft = runs + "/gender";
  REQUIRE(run(std::string(GRAFT_EX_FINETUNE) + common + " --weights '" + src + "/model.npz' --scratch fc8 --stages fc8:2,conv5_1:1:0.5 --lr 0.01 --out '" + ft + "'",
              runs + "/finetune.log") == 0);
  const std::string log = read_text(runs + "/finetune.log");
  INFO(log);
  CHECK(log.find("using the architecture of") != std::string::npos);
  CHECK(log.find("Rand") != std::string::npos);
  CHECK(log.find("confusion matrix") != std::string::npos);
  CHECK(log.find("(from cached features)") != std::string::npos);  // epoch 2 of fc8 alone
  const std::string metrics = read_text(ft + "/metrics.json");
  CHECK(valid_json(ft + "/metrics.json"));
  for (const char* key : {"\"classes\"", "\"count\"", "\"accuracy\"", "\"confusion\"", "\"epochs\"", "\"train_accuracy\"",
                          "\"val_accuracy\"", "\"loss\"", "\"seconds\"", "\"groups\"", "\"race\"", "\"age\""})
    CHECK(metrics.find(key) != std::string::npos);
  CHECK(metrics.find("{\"epoch\": 0,") != std::string::npos);
  CHECK(metrics.find("{\"epoch\": 3,") != std::string::npos);
  const std::string html = read_text(ft + "/report.html");
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("Confusion matrix") != std::string::npos);
  nn::ModelInfo info;
  REQUIRE(nn::read_model_info(ft + "/model.npz", info));
  CHECK(info.classes == std::vector<std::string>{"male", "female"});
  CHECK(info.input() == 32);
  CHECK(info.norm.stddev[0] == 255.0f);  // the source's preprocessing travelled with it

  // 3. evaluate: the model file needs no other flags
  const std::string ev = runs + "/eval";
  REQUIRE(run(std::string(GRAFT_EX_EVAL) + " --weights '" + ft + "/model.npz' --data '" + data + "' --format utkface --out '" + ev + "'",
              runs + "/eval.log") == 0);
  CHECK(valid_json(ev + "/metrics.json"));
  CHECK(read_text(ev + "/metrics.json").find("\"count\": 96") != std::string::npos);

  // 4. predict, on a file at the input size (used as it is) and a larger one (resized)
  data::Image big = test::smooth_image(64, 64, 5);
  test::write_png(tmp + "/big.png", big);
  const std::string face = data + "/5_0_0_20170111000.jpg.chip.jpg";
  REQUIRE(run(std::string(GRAFT_EX_PREDICT) + " --weights '" + ft + "/model.npz' --json '" + face + "' '" + tmp + "/big.png'",
              runs + "/predict.json") == 0);
  CHECK(valid_json(runs + "/predict.json"));
  const std::string pred = read_text(runs + "/predict.json");
  CHECK(pred.find("\"file\"") != std::string::npos);
  CHECK(pred.find("\"probabilities\": [") != std::string::npos);
  // the same weights as a plain caffe-tensorflow file, the architecture on the command line
  const std::string plain = runs + "/plain.npy";
  {
    auto w = nn::read_model_weights(ft + "/model.npz");
    io::write_weights(plain, w, io::WeightsFormat::caffe_tensorflow);
  }
  REQUIRE(run(std::string(GRAFT_EX_PREDICT) + " --arch vgg16 --classes m,f --width 0.125 --input 32 --norm vgg-face-255 --weights '" +
                  plain + "' --json '" + face + "' '" + tmp + "/big.png'",
              runs + "/predict_plain.json") == 0);
  std::string p2 = read_text(runs + "/predict_plain.json");
  CHECK(p2.find("\"label\": \"m\"") + p2.find("\"label\": \"f\"") != 2 * std::string::npos);
  // same probabilities from both forms of the same weights
  auto probs = [](const std::string& s) {  // every "probabilities": [...] list, in order
    std::string out;
    for (size_t at = s.find("\"probabilities\""); at != std::string::npos; at = s.find("\"probabilities\"", at + 1))
      out += s.substr(at, s.find(']', at) - at) + ";";
    return out;
  };
  CHECK(!probs(pred).empty());
  CHECK(probs(p2) == probs(pred));

  // 5. features and a linear classifier on them
  const std::string ex = runs + "/extract";
  REQUIRE(run(std::string(GRAFT_EX_EXTRACT) + " --weights '" + src + "/model.npz' --data '" + data +
                  "' --format utkface --val 0.2 --test 0.2 --layer fc7 --per-class 1,5,0 --epochs 5 --out '" + ex + "'",
              runs + "/extract.log") == 0);
  auto f = io::read_npy(ex + "/features_train.npy");
  CHECK(f.shape().rank() == 2);
  CHECK(f.shape()[1] == 512);  // fc7 at width 1/8
  CHECK(io::read_npy(ex + "/labels_train.npy").shape()[0] == f.shape()[0]);
  CHECK(valid_json(ex + "/classifier.json"));
  CHECK(read_text(ex + "/classifier.json").find("\"per_class\": 5") != std::string::npos);
}

TEST_CASE("The example programs reject bad command lines and missing data clearly", "[examples]") {
  test::TempDir tmpdir("examples-errors");
  const std::string tmp = tmpdir.path().string();
  const std::string log = tmp + "/log";
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --no-such-option 1", log) == 2);
  CHECK(read_text(log).find("unknown option --no-such-option") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --data /nonexistent/faces --out " + tmp + "/r", log) == 2);
  CHECK(read_text(log).find("/nonexistent/faces does not exist") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_PREDICT) + " --weights " + tmp + "/missing.npz x.png", log) == 1);
  CHECK(read_text(log).find("missing.npz") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --stages fc9:1 --data " + tmp + " --format folder", log) != 0);
  CHECK(run(std::string(GRAFT_EX_PRETRAIN) + " --task gender", log) == 2);
}
