// [examples]: every program of the transfer-learning story run on a small generated
// UTKFace-format dataset: pretrain a source model, fine-tune it for gender, evaluate,
// predict and extract features; their files are checked by what they must hold. Also a
// torchvision ResNet's state_dict predicted from directly, and a ResNet trained.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "graft/data.hpp"
#include "graft/graft.hpp"
#include "graft/io.hpp"
#include "graft/nn/caffe.hpp"
#include "graft/nn/dlib_face.hpp"
#include "graft/nn/model_file.hpp"
#include "graft/nn/onnx_export.hpp"
#include "graft/nn/weights_file.hpp"
#include "support/caffe_ref.hpp"
#include "support/image_files.hpp"
#include "support/skip.hpp"
#include "support/torch_ref.hpp"

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

// Every "embedding": [...] list of graft-embed's --json output, as numbers.
std::vector<std::vector<double>> embeddings(const std::string& json) {
  std::vector<std::vector<double>> out;
  for (size_t at = json.find("\"embedding\": ["); at != std::string::npos; at = json.find("\"embedding\": [", at + 1)) {
    const size_t open = json.find('[', at), close = json.find(']', open);
    std::vector<double> v;
    std::istringstream is(json.substr(open + 1, close - open - 1));
    std::string tok;
    while (std::getline(is, tok, ',')) v.push_back(std::strtod(tok.c_str(), nullptr));
    out.push_back(v);
  }
  return out;
}

std::string dlib_model_or_skip() {
  const std::string m = nn::dlib_face_model_path();
  if (m.empty())
    GRAFT_SKIP("dlib_face_recognition_resnet_model_v1.dat not found (set GRAFT_DLIB_MODEL or run cmake/fetch-dlib-model.sh)");
  return m;
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
  REQUIRE(run(std::string(GRAFT_EX_PRETRAIN) + common + " --task race+age --stages all:1 --norm vgg-face-255 --augment --out '" + src + "'",
              runs + "/pretrain.log") == 0);
  INFO(read_text(runs + "/pretrain.log"));
  auto backbone = io::read_weights(src + "/backbone.npy");  // caffe-tensorflow dict
  REQUIRE(backbone.find("conv1_1"));
  CHECK(backbone.find("conv1_1")->find("weights")->array.shape() == Shape({3, 3, 3, 8}));  // HWIO, 64/8 filters
  nn::ModelInfo src_info;
  REQUIRE(nn::read_model_info(src + "/model.npz", src_info));
  CHECK(src_info.classes.size() == 30);
  CHECK(src_info.task == "race+age");
  CHECK(src_info.resize == 37);  // augmented: evaluated at the training crops' scale, 8/7 of 32

  // 2. fine-tune for gender from it: fc8 first, then the top block
  const std::string ft = runs + "/gender";
  REQUIRE(run(std::string(GRAFT_EX_FINETUNE) + common + " --weights '" + src + "/model.npz' --scratch fc8 --stages fc8:2,conv5_1:1:0.5 --lr 0.01 --tta --out '" + ft + "'",
              runs + "/finetune.log") == 0);
  const std::string log = read_text(runs + "/finetune.log");
  INFO(log);
  CHECK(log.find("using the architecture of") != std::string::npos);
  CHECK(log.find("Rand") != std::string::npos);
  CHECK(log.find("confusion matrix") != std::string::npos);
  CHECK(log.find("(from cached features)") != std::string::npos);  // epoch 2 of fc8 alone
  CHECK(log.find("each image and its mirror") != std::string::npos);  // --tta: the test evaluation
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
  CHECK(info.resize == 37);

  // 3. evaluate: the model file needs no other flags
  const std::string ev = runs + "/eval";
  REQUIRE(run(std::string(GRAFT_EX_EVAL) + " --weights '" + ft + "/model.npz' --data '" + data + "' --format utkface --out '" + ev + "'",
              runs + "/eval.log") == 0);
  CHECK(valid_json(ev + "/metrics.json"));
  CHECK(read_text(ev + "/metrics.json").find("\"count\": 96") != std::string::npos);
  // with test-time augmentation: each image and its mirror image, said in the report
  REQUIRE(run(std::string(GRAFT_EX_EVAL) + " --tta --weights '" + ft + "/model.npz' --data '" + data +
                  "' --format utkface --out '" + ev + "-tta'",
              runs + "/eval-tta.log") == 0);
  CHECK(valid_json(ev + "-tta/metrics.json"));
  CHECK(read_text(ev + "-tta/metrics.json").find("\"count\": 96") != std::string::npos);
  CHECK(read_text(ev + "-tta/metrics.json").find("its mirror") != std::string::npos);

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
  REQUIRE(run(std::string(GRAFT_EX_PREDICT) + " --arch vgg16 --classes m,f --width 0.125 --input 32 --resize 37 --norm vgg-face-255 --weights '" +
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
  // A stray value (here after a flag) is refused, not ignored.
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --cache-once 3e-3 --out " + tmp + "/r", log) == 2);
  CHECK(read_text(log).find("unexpected argument '3e-3'") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --data /nonexistent/faces --out " + tmp + "/r", log) == 2);
  CHECK(read_text(log).find("/nonexistent/faces does not exist") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_PREDICT) + " --weights " + tmp + "/missing.npz x.png", log) == 1);
  CHECK(read_text(log).find("missing.npz") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --stages fc9:1 --data " + tmp + " --format folder", log) != 0);
  CHECK(run(std::string(GRAFT_EX_PRETRAIN) + " --task gender", log) == 2);
  // --precision and --layout are the GPU's: refused on the CPU, and bad values named
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --precision bf16 --out " + tmp + "/r", log) == 2);
  CHECK(read_text(log).find("--precision bf16 runs on the GPU only") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --device cuda --precision fp16 --out " + tmp + "/r", log) == 2);
  CHECK(read_text(log).find("unknown --precision fp16 (fp32 or bf16)") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --device cuda --layout nhcw --out " + tmp + "/r", log) == 2);
  CHECK(read_text(log).find("unknown --layout nhcw (nchw or channels-last)") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_PRETRAIN) + " --layout channels-last --out " + tmp + "/r", log) == 2);
  CHECK(read_text(log).find("--layout channels-last is the GPU's") != std::string::npos);
}

TEST_CASE("graft-finetune and graft-predict take a Caffe model directly", "[examples][caffe]") {
  const std::string py = GRAFT_TEST_PYTHON;
  if (py.empty() || std::system(("'" + py + "' -c 'import google.protobuf, numpy' 2>/dev/null").c_str()) != 0)
    GRAFT_SKIP("needs a Python with protobuf and numpy to write the Caffe model (python3-protobuf)");
  test::TempDir tmpdir("examples-caffe");
  const std::string tmp = tmpdir.path().string(), data = tmp + "/faces";
  std::system(("mkdir -p '" + data + "'").c_str());
  make_faces(data);
  // A V1 VGG16-geometry model at width 1/8 for 32x32 inputs, as the VGG-Face files are laid out.
  std::string layers;
  const int blocks[5][2] = {{8, 2}, {16, 2}, {32, 3}, {64, 3}, {64, 3}};
  for (int b = 0; b < 5; ++b) {
    for (int i = 1; i <= blocks[b][1]; ++i) {
      const std::string n = std::to_string(b + 1) + "_" + std::to_string(i);
      layers += "{\"type\":\"conv\",\"name\":\"conv" + n + "\",\"out\":" + std::to_string(blocks[b][0]) +
                ",\"k\":3,\"p\":1},{\"type\":\"relu\",\"name\":\"relu" + n + "\"},";
    }
    layers += "{\"type\":\"pool\",\"name\":\"pool" + std::to_string(b + 1) + "\",\"k\":2,\"s\":2},";
  }
  layers += "{\"type\":\"fc\",\"name\":\"fc6\",\"out\":512},{\"type\":\"relu\",\"name\":\"relu6\"},{\"type\":\"dropout\",\"name\":\"drop6\"},"
            "{\"type\":\"fc\",\"name\":\"fc7\",\"out\":512},{\"type\":\"relu\",\"name\":\"relu7\"},{\"type\":\"dropout\",\"name\":\"drop7\"},"
            "{\"type\":\"fc\",\"name\":\"fc8\",\"out\":30},{\"type\":\"softmax\",\"name\":\"prob\"}";
  const std::string arch = "{\"version\":1,\"input\":[1,3,32,32],\"layers\":[" + layers + "]}";
  REQUIRE(std::system(("'" + py + "' '" GRAFT_TEST_SCRIPTS "/caffe_ref.py' write '" + tmp + "' '" + arch + "'").c_str()) == 0);
  const std::string runs = tmp + "/runs";
  REQUIRE(run(std::string(GRAFT_EX_FINETUNE) + " --data '" + data + "' --format utkface --width 0.125 --input 32 --workers 1"
                  " --weights '" + tmp + "/net.caffemodel' --prototxt '" + tmp + "/net.prototxt' --scratch fc8 --stages fc8:1 --out '" + runs + "'",
              tmp + "/ft.log") == 0);
  const std::string log = read_text(tmp + "/ft.log");
  INFO(log);
  CHECK(log.find("net.caffemodel: 30 arrays loaded, 2 left at initial values (fc8/weights, fc8/biases)") != std::string::npos);
  // the trunk in the fine-tuned model is the Caffe model's (fc8 is new)
  auto caffe = nn::caffe_weights(tmp + "/net.caffemodel", tmp + "/net.prototxt");
  auto tuned = nn::read_model_weights(runs + "/model.npz");
  const auto& a = caffe.find("conv3_2")->find("weights")->array;
  const auto& b = tuned.find("conv3_2")->find("weights")->array;
  REQUIRE(a.shape() == b.shape());
  CHECK(std::equal(a.data(), a.data() + a.nbytes(), b.data()));
  CHECK(run(std::string(GRAFT_EX_PREDICT) + " --weights '" + tmp + "/net.caffemodel' --arch vgg16 --width 0.125 --input 32 --classes " +
                [] { std::string s; for (int i = 0; i < 30; ++i) s += (i ? "," : "") + std::to_string(i); return s; }() +
                " x.png", tmp + "/p.log") == 2);  // no --prototxt
  CHECK(read_text(tmp + "/p.log").find("needs its --prototxt") != std::string::npos);
}

TEST_CASE("graft-predict runs a torchvision ResNet state_dict as NumPy saved it, and the trainers take --arch resnet18",
          "[examples][torch]") {
  test::TempDir tmpdir("examples-resnet");
  const std::string tmp = tmpdir.path().string();
  {
    // A 224x224 image (used as it is) and torchvision's resnet18 (random weights, non-trivial
    // BatchNorms) classifying it with ImageNet's normalisation, in Python.
    test::TorchRef ref;
    const data::Image img = test::smooth_image(224, 224, 11);
    test::write_png(tmp + "/image.png", img);
    Tensor<uint8_t> bytes(Shape{224 * 224 * 3});
    std::copy(img.rgb.begin(), img.rgb.end(), bytes.data());
    ref.put("image", bytes);
    ref.run("resnet_predict_image", "{\"seed\":3,\"arch\":\"resnet18\",\"classes\":5,\"side\":224}");
    const int top = ref.get<int32_t>("top", Shape{1})[0];
    const float margin = ref.get<float>("margin", Shape{1})[0];
    INFO("torch's class " << top << ", ahead of the second by " << margin);
    REQUIRE(margin > 1e-3f);  // else float rounding could fairly pick the other class
    const std::string log = tmp + "/predict.json";
    REQUIRE(run(std::string(GRAFT_EX_PREDICT) + " --arch resnet18 --classes c0,c1,c2,c3,c4 --norm imagenet --weights '" +
                    ref.dir() + "/resnet.npz' --json '" + tmp + "/image.png'",
                log) == 0);
    INFO(read_text(log));
    CHECK(valid_json(log));
    CHECK(read_text(log).find("\"label\": \"c" + std::to_string(top) + "\"") != std::string::npos);
  }
  // Training a small resnet18 from scratch; graft-eval rebuilds it from model.npz alone.
  const std::string data = tmp + "/faces", runs = tmp + "/runs";
  std::system(("mkdir -p '" + data + "' '" + runs + "'").c_str());
  make_faces(data);
  const int trained = run(std::string(GRAFT_EX_FINETUNE) + " --arch resnet18 --data '" + data +
                              "' --format utkface --width 0.125 --input 32 --batch 16 --workers 1 --val 0.2 --test 0.2"
                              " --stages all:1 --out '" + runs + "/r18'",
                          runs + "/train.log");
  const std::string log = read_text(runs + "/train.log");
  INFO(log);
  REQUIRE(trained == 0);
  CHECK(log.find("layer4.1.downsample") == std::string::npos);  // only the first block of a stage changes shape
  CHECK(log.find("layer4.0.downsample.1") != std::string::npos);
  nn::ModelInfo info;
  REQUIRE(nn::read_model_info(runs + "/r18/model.npz", info));
  CHECK(info.arch == "resnet18");
  CHECK(info.norm.order == data::Normalization::Order::RGB);  // a ResNet's default: ImageNet's
  REQUIRE(run(std::string(GRAFT_EX_EVAL) + " --weights '" + runs + "/r18/model.npz' --data '" + data +
                  "' --format utkface --out '" + runs + "/r18-eval'",
              runs + "/eval.log") == 0);
  CHECK(read_text(runs + "/r18-eval/metrics.json").find("\"count\": 96") != std::string::npos);
  // Fine-tuning from that model.npz takes its architecture; the new classifier is fc.
  const int tuned = run(std::string(GRAFT_EX_FINETUNE) + " --weights '" + runs + "/r18/model.npz' --data '" + data +
                            "' --format utkface --batch 16 --workers 1 --val 0.2 --test 0.2 --stages fc:1 --out '" +
                            runs + "/r18-ft'",
                        runs + "/ft.log");
  const std::string ft = read_text(runs + "/ft.log");
  INFO(ft);
  REQUIRE(tuned == 0);
  CHECK(ft.find("using the architecture of") != std::string::npos);
  CHECK(ft.find("resnet18 width 0.125, input 32") != std::string::npos);
  CHECK(ft.find("left at initial values (fc/weights, fc/biases)") != std::string::npos);
}

TEST_CASE("graft-finetune --arch caffe: a residual Caffe model with a new head, then graft-predict on the result", "[examples][caffe]") {
  const std::string py = GRAFT_TEST_PYTHON;
  if (py.empty() || std::system(("'" + py + "' -c 'import google.protobuf, numpy' 2>/dev/null").c_str()) != 0)
    GRAFT_SKIP("needs a Python with protobuf and numpy to write the Caffe model (python3-protobuf)");
  test::TempDir tmpdir("examples-caffe-res");
  const std::string tmp = tmpdir.path().string(), data = tmp + "/faces";
  std::system(("mkdir -p '" + data + "'").c_str());
  make_faces(data);
  // The [caffe] tests' residual V2 model (BatchNorm, Scale, branches, Eltwise, AVE pooling),
  // 12x12 input, its 5-way fc5 replaced by the task's 2 classes.
  const std::string arch = caffetest::residual_arch(2);
  REQUIRE(std::system(("'" + py + "' '" GRAFT_TEST_SCRIPTS "/caffe_ref.py' write '" + tmp + "' '" + arch + "'").c_str()) == 0);
  const std::string model = tmp + "/net.caffemodel", proto = tmp + "/net.prototxt", runs = tmp + "/runs";
  REQUIRE(run(std::string(GRAFT_EX_FINETUNE) + " --data '" + data + "' --format utkface --workers 1 --arch caffe --norm unit"
                  " --weights '" + model + "' --prototxt '" + proto + "' --scratch fc5 --stages fc5:1 --out '" + runs + "'",
              tmp + "/ft.log") == 0);
  const std::string log = read_text(tmp + "/ft.log");
  INFO(log);
  CHECK(log.find("left at initial values (fc5/weights)") != std::string::npos);
  CHECK(log.find("BatchNorm2d") != std::string::npos);  // the summary shows the graph's nodes
  // The trunk in the fine-tuned model is the Caffe model's; fc5 has the task's 2 outputs.
  auto caffe = nn::caffe_weights(model, proto);
  auto tuned = nn::read_model_weights(runs + "/model.npz");
  for (const char* l : {"conv1", "res2a_branch2b", "scale_conv1"}) {
    INFO(l);
    const auto& a = caffe.find(l)->params.at(0).array;
    const auto& b = tuned.find(l)->params.at(0).array;
    REQUIRE(a.shape() == b.shape());
    CHECK(std::equal(a.data(), a.data() + a.nbytes(), b.data()));
  }
  CHECK(tuned.find("fc5")->find("weights")->array.shape() == Shape({6, 2}));
  // The model describes itself (arch caffe and its prototxt): graft-predict needs no other flag.
  test::write_png(tmp + "/x.png", test::random_image(12, 12, 3));
  REQUIRE(run(std::string(GRAFT_EX_PREDICT) + " --weights '" + runs + "/model.npz' --json '" + tmp + "/x.png'", tmp + "/p.log") == 0);
  const std::string p = read_text(tmp + "/p.log");
  INFO(p);
  CHECK(p.find("\"probabilities\": [") != std::string::npos);
  CHECK((p.find("\"label\": \"male\"") != std::string::npos || p.find("\"label\": \"female\"") != std::string::npos));
}

TEST_CASE("graft-embed: dlib's descriptors of a 150x150 chip as load_dlib_face and forward give them, pool, distances",
          "[examples][dlib]") {
  const std::string model = dlib_model_or_skip();
  test::TempDir tmpdir("examples-embed");
  const std::string tmp = tmpdir.path().string();
  const data::Image chip = test::smooth_image(150, 150, 31), other = test::smooth_image(150, 150, 32);
  test::write_png(tmp + "/chip.png", chip);
  test::write_png(tmp + "/other.png", other);
  test::write_png(tmp + "/crop.png", test::smooth_image(200, 200, 33));  // resized to 140, bordered
  const std::string embed = std::string(GRAFT_EX_EMBED) + " --weights '" + model + "' ";
  REQUIRE(run(embed + "--json '" + tmp + "/chip.png' '" + tmp + "/other.png' '" + tmp + "/crop.png'", tmp + "/e.json") == 0);
  const std::string js = read_text(tmp + "/e.json");
  INFO(js.substr(0, 400));
  CHECK(valid_json(tmp + "/e.json"));
  CHECK(js.find("\"file\": ") != std::string::npos);
  const auto e = embeddings(js);
  REQUIRE(e.size() == 3);
  for (const auto& v : e) CHECK(v.size() == 128);

  // The same chip through nn::load_dlib_face and forward, in this process: the chip is fed as
  // it is (same input floats), so only float rounding differs (the two processes may split
  // OpenBLAS's sums over threads differently: ~1e-7 seen on values of ~0.1).
  auto net = nn::dlib_face_resnet<float>();
  const nn::DlibFaceInfo info = nn::load_dlib_face(*net, model);
  net->set_training(false);
  Tensor<float> x(Shape{1, 3, 150, 150});
  nn::dlib_face_input(chip, info, x.data());
  const Tensor<float>& d = net->forward(x);
  REQUIRE(d.size() == 128);
  double worst = 0, norm = 0;
  for (int k = 0; k < 128; ++k) {
    worst = std::max(worst, std::abs(e[0][size_t(k)] - double(d.data()[k])));
    norm += double(d.data()[k]) * double(d.data()[k]);
  }
  CHECK(worst <= 2e-6);
  CHECK(std::sqrt(norm) > 0.1);  // a real descriptor, not zeros

  // --layer pool: the 256-d pooled features under the descriptor.
  REQUIRE(run(embed + "--layer pool --json '" + tmp + "/chip.png'", tmp + "/pool.json") == 0);
  const auto p = embeddings(read_text(tmp + "/pool.json"));
  REQUIRE(p.size() == 1);
  CHECK(p[0].size() == 256);

  // Two images: the distance, and dlib's verdict at the file's threshold.
  REQUIRE(run(embed + "'" + tmp + "/chip.png' '" + tmp + "/chip.png'", tmp + "/same.txt") == 0);
  const std::string same = read_text(tmp + "/same.txt");
  INFO(same.substr(same.rfind("distance") == std::string::npos ? 0 : same.rfind("distance")));
  CHECK(same.find("distance 0: the same person (dlib's threshold 0.6)") != std::string::npos);
  REQUIRE(run(embed + "--layer pool '" + tmp + "/chip.png' '" + tmp + "/other.png'", tmp + "/pool.txt") == 0);
  const std::string pool = read_text(tmp + "/pool.txt");
  CHECK(pool.find("(pool, 256 values)") != std::string::npos);
  CHECK(pool.find("distance ") != std::string::npos);
  CHECK(pool.find("same person") == std::string::npos);  // the threshold is the descriptor's only
  CHECK(run(embed + "--layer nope '" + tmp + "/chip.png'", tmp + "/bad.txt") == 2);
  CHECK(read_text(tmp + "/bad.txt").find("no node nope") != std::string::npos);
}

TEST_CASE("graft-finetune --arch dlib-face from dlib's .dat, then graft-eval, graft-predict and graft-embed on model.npz alone",
          "[examples][dlib]") {
  const std::string model = dlib_model_or_skip();
  test::TempDir tmpdir("examples-dlib-ft");
  const std::string tmp = tmpdir.path().string(), data = tmp + "/faces", runs = tmp + "/runs";
  std::system(("mkdir -p '" + data + "' '" + runs + "'").c_str());
  make_faces(data);  // 32x32: resized to the 140 face inside the 5-pixel border
  REQUIRE(run(std::string(GRAFT_EX_FINETUNE) + " --arch dlib-face --weights '" + model + "' --scratch head --stages head:1"
                  " --data '" + data + "' --format utkface --batch 16 --workers 1 --val 0.2 --test 0.2 --out '" + runs + "/ft'",
              runs + "/ft.log") == 0);
  const std::string log = read_text(runs + "/ft.log");
  INFO(log);
  CHECK(log.find("using dlib's network") != std::string::npos);
  CHECK(log.find("117 arrays loaded, 2 left at initial values (head/weights, head/biases)") != std::string::npos);
  CHECK(valid_json(runs + "/ft/metrics.json"));
  CHECK(read_text(runs + "/ft/metrics.json").find("\"confusion\"") != std::string::npos);
  CHECK(read_text(runs + "/ft/report.html").find("Confusion matrix") != std::string::npos);
  nn::ModelInfo info;
  REQUIRE(nn::read_model_info(runs + "/ft/model.npz", info));
  CHECK(info.arch == "dlib-face");
  CHECK(info.head_on == "fc");
  CHECK(info.input() == 150);
  CHECK(info.norm.order == data::Normalization::Order::RGB);
  CHECK(info.norm.stddev[0] == 256.0f);
  const io::DlibNet file = io::read_dlib(model);
  for (int c = 0; c < 3; ++c) CHECK(info.norm.mean[size_t(c)] == file.mean[c]);  // the file's means travelled
  CHECK(std::abs(info.dist_thresh - double(file.dist_thresh)) < 1e-6);
  // The trunk in model.npz is dlib's: its descriptor of a chip is what the .dat gives.
  {
    auto tuned = nn::build<float>(info);
    nn::load_weights_file(tuned->layers(), runs + "/ft/model.npz");
    auto dlib = nn::dlib_face_resnet<float>();
    nn::load_dlib_face(*dlib, model);
    tuned->set_training(false);
    dlib->set_training(false);
    Tensor<float> x(Shape{1, 3, 150, 150});
    data::Transform::none(info.norm).apply(test::smooth_image(150, 150, 41), 0, x);
    tuned->forward(x);
    Tensor<float> a;
    copy(tuned->activation(size_t(tuned->index_of("fc"))), a);
    const Tensor<float>& b = dlib->forward(x);
    REQUIRE(a.size() == b.size());
    double worst = 0;
    for (int64_t k = 0; k < a.size(); ++k) worst = std::max(worst, double(std::abs(a.data()[k] - b.data()[k])));
    CHECK(worst <= 1e-6);
  }
  // The model describes itself: no flag but --weights.
  REQUIRE(run(std::string(GRAFT_EX_EVAL) + " --weights '" + runs + "/ft/model.npz' --data '" + data + "' --format utkface --out '" +
                  runs + "/eval'",
              runs + "/eval.log") == 0);
  INFO(read_text(runs + "/eval.log"));
  CHECK(read_text(runs + "/eval/metrics.json").find("\"count\": 96") != std::string::npos);
  const std::string face = data + "/5_0_0_20170111000.jpg.chip.jpg";
  REQUIRE(run(std::string(GRAFT_EX_PREDICT) + " --weights '" + runs + "/ft/model.npz' --json '" + face + "'", runs + "/p.json") == 0);
  CHECK(valid_json(runs + "/p.json"));
  const std::string p = read_text(runs + "/p.json");
  CHECK((p.find("\"label\": \"male\"") != std::string::npos || p.find("\"label\": \"female\"") != std::string::npos));
  REQUIRE(run(std::string(GRAFT_EX_EMBED) + " --weights '" + runs + "/ft/model.npz' --json '" + face + "'", runs + "/e.json") == 0);
  const auto e = embeddings(read_text(runs + "/e.json"));
  REQUIRE(e.size() == 1);
  CHECK(e[0].size() == 128);  // the descriptor under the head
}

TEST_CASE("graft-finetune --arch dlib-face: --cache-once, --chip resize, --trunk-norm batchnorm, and their bad values",
          "[examples][dlib]") {
  const std::string model = dlib_model_or_skip();
  test::TempDir tmpdir("examples-dlib-opts");
  const std::string tmp = tmpdir.path().string(), data = tmp + "/faces", runs = tmp + "/runs";
  std::system(("mkdir -p '" + data + "' '" + runs + "'").c_str());
  make_faces(data);
  const std::string common = " --data '" + data + "' --format utkface --batch 16 --workers 1 --val 0.2 --test 0.2";
  // Two stages, one cache below both: the second stage's epoch reads the features the first
  // stage's epoch computed (no refill), and the head stage ran level5 from them.
  REQUIRE(run(std::string(GRAFT_EX_FINETUNE) + " --arch dlib-face --weights '" + model +
                  "' --scratch head --stages head:1,level5_b1_conv1:1:0.1 --cache-once --chip resize" + common +
                  " --out '" + runs + "/once'",
              runs + "/once.log") == 0);
  const std::string once = read_text(runs + "/once.log");
  INFO(once);
  CHECK(once.find("level5_b1_conv1") != std::string::npos);
  // epoch 2 (the level5 stage) is from cached features: with a cache per stage it would refill
  size_t e2 = once.find("\n2       level5_b1_conv1");
  REQUIRE(e2 != std::string::npos);
  CHECK(once.substr(e2, once.find('\n', e2 + 1) - e2).find("(from cached features)") != std::string::npos);
  nn::ModelInfo info;
  REQUIRE(nn::read_model_info(runs + "/once/model.npz", info));
  CHECK(info.chip == "resize");
  CHECK(info.trunk_norm == "affine");
  CHECK(read_text(runs + "/once/report.html").find("once below every stage") != std::string::npos);
  // From random weights with BatchNorm in the trunk; model.npz says so and graft-eval rebuilds it.
  REQUIRE(run(std::string(GRAFT_EX_FINETUNE) + " --arch dlib-face --trunk-norm batchnorm --norm imagenet --stages all:1" +
                  common + " --out '" + runs + "/scratch'",
              runs + "/scratch.log") == 0);
  REQUIRE(nn::read_model_info(runs + "/scratch/model.npz", info));
  CHECK(info.trunk_norm == "batchnorm");
  REQUIRE(run(std::string(GRAFT_EX_EVAL) + " --weights '" + runs + "/scratch/model.npz' --data '" + data +
                  "' --format utkface --out '" + runs + "/scratch-eval'",
              runs + "/scratch-eval.log") == 0);
  // Bad values and combinations are usage errors that say what is wanted.
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --arch dlib-face --weights '" + model + "' --chip square" + common +
                " --out '" + runs + "/bad1'", runs + "/bad1.log") == 2);
  CHECK(read_text(runs + "/bad1.log").find("--chip square: dlib") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --arch dlib-face --weights '" + model + "' --trunk-norm batchnorm" + common +
                " --out '" + runs + "/bad2'", runs + "/bad2.log") == 2);
  CHECK(read_text(runs + "/bad2.log").find("holds dlib's affines") != std::string::npos);
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + " --arch vgg16 --chip resize" + common + " --out '" + runs + "/bad3'",
            runs + "/bad3.log") == 2);
  CHECK(read_text(runs + "/bad3.log").find("--chip is for --arch dlib-face") != std::string::npos);
}

TEST_CASE("An ONNX trunk fine-tuned by graft-finetune, exported by graft-export, predicted from, converted and inspected",
          "[examples][onnx]") {
  test::TempDir tmpdir("examples-onnx");
  const std::string tmp = tmpdir.path().string(), data = tmp + "/faces", runs = tmp + "/runs";
  std::system(("mkdir -p '" + data + "' '" + runs + "'").c_str());
  make_faces(data);
  const std::string common = " --data '" + data + "' --format utkface --batch 16 --workers 1 --val 0.2 --test 0.2";
  // A ResNet-18 (width 1/8, 32x32) as another tool would publish it: an ONNX file without
  // graft's description, ending in a Softmax over 10 classes.
  {
    auto net = nn::resnet18<float>(10, {32, 0.125});
    net->initialize(3);
    net->set_training(false);
    nn::save_onnx(*net, tmp + "/trunk.onnx");
  }
  const std::string ft = runs + "/ft";
  REQUIRE(run(std::string(GRAFT_EX_FINETUNE) + common + " --weights '" + tmp + "/trunk.onnx' --stages fc:1 --out '" + ft + "'",
              runs + "/ft.log") == 0);
  std::string log = read_text(runs + "/ft.log");
  INFO(log);
  // The graph's output Gemm "fc" is the classifier, resized to the two classes and trained
  // from scratch; everything else came from the file.
  CHECK(log.find("trunk.onnx: 100 arrays loaded, 2 left at initial values (fc/weights, fc/biases)") != std::string::npos);
  nn::ModelInfo info;
  REQUIRE(nn::read_model_info(ft + "/model.npz", info));
  CHECK(info.arch == "onnx");
  CHECK(info.input() == 32);
  REQUIRE(run(std::string(GRAFT_EX_EVAL) + " --weights '" + ft + "/model.npz'" + common + " --split test --out '" + runs +
                  "/ev'", runs + "/ev.log") == 0);

  // graft-export: the fine-tuned model as ONNX, describing itself; graft-predict gives the
  // same probabilities from either file.
  const std::string onnx = runs + "/gender.onnx";
  REQUIRE(run(std::string(GRAFT_EX_EXPORT) + " --weights '" + ft + "/model.npz' -o '" + onnx + "'", runs + "/ex.log") == 0);
  nn::ModelInfo back;
  REQUIRE(nn::read_model_info(onnx, back));
  CHECK(back.arch == "onnx");
  CHECK(back.classes == info.classes);
  CHECK(back.norm.mean == info.norm.mean);
  const io::OnnxModel m = io::read_onnx(onnx);
  REQUIRE(m.meta("classes"));
  CHECK(*m.meta("classes") == "male,female");
  CHECK(*m.meta("channel_order") == "RGB");
  const std::string face = tmp + "/face.png";
  test::write_png(face, test::smooth_image(40, 36, 9));
  REQUIRE(run(std::string(GRAFT_EX_PREDICT) + " --weights '" + ft + "/model.npz' --json '" + face + "'", runs + "/p1.json") == 0);
  REQUIRE(run(std::string(GRAFT_EX_PREDICT) + " --weights '" + onnx + "' --json '" + face + "'", runs + "/p2.json") == 0);
  CHECK(read_text(runs + "/p1.json") == read_text(runs + "/p2.json"));
  CHECK(read_text(runs + "/p1.json").find("probabilities") != std::string::npos);
  // ... and fine-tuning starts from the exported file (its own classifier "fc" replaced).
  const int rc2 = run(std::string(GRAFT_EX_FINETUNE) + common + " --weights '" + onnx +
                          "' --stages fc:1,layer4.0.conv1:1:0.1 --out '" + runs + "/ft2'", runs + "/ft2.log");
  log = read_text(runs + "/ft2.log");
  INFO(log);
  REQUIRE(rc2 == 0);
  CHECK(log.find("gender.onnx: 100 arrays loaded, 2 left at initial values (fc/weights, fc/biases)") != std::string::npos);

  // graft-convert: ONNX to graft's npz (caffe-tensorflow layouts); graft-inspect lists it.
  REQUIRE(run(std::string(GRAFT_EX_CONVERT) + " '" + onnx + "' -o '" + runs + "/g.npz'", runs + "/cv.log") == 0);
  const io::WeightsDict w = io::read_weights(runs + "/g.npz");
  CHECK(w.find("fc"));
  CHECK(w.find("layer1.0.bn1"));
  REQUIRE(run(std::string(GRAFT_EX_INSPECT) + " '" + onnx + "' --json", runs + "/in.json") == 0);
  CHECK(valid_json(runs + "/in.json"));
  CHECK(read_text(runs + "/in.json").find("\"format\": \"onnx\"") != std::string::npos);

  // An embedding network (ending in its pooled features): a new Linear "head" on its output.
  {
    nn::Network<float> e(Shape{3, 32, 32});
    e.conv("conv1", 8, 3, 2, 1).relu("relu1").global_avg_pool("pool").flatten("features");
    e.initialize(4);
    nn::OnnxExportOptions o;
    o.softmax = false;
    nn::save_onnx(e, tmp + "/embed.onnx", o);
  }
  REQUIRE(run(std::string(GRAFT_EX_FINETUNE) + common + " --weights '" + tmp + "/embed.onnx' --stages head:1 --out '" + runs +
                  "/ft3'", runs + "/ft3.log") == 0);
  log = read_text(runs + "/ft3.log");
  INFO(log);
  CHECK(log.find("embed.onnx: 2 arrays loaded, 2 left at initial values (head/weights, head/biases)") != std::string::npos);
  // graft-embed reads the graph's output (its 8 pooled features) from the file as it is.
  REQUIRE(run(std::string(GRAFT_EX_EMBED) + " --weights '" + tmp + "/embed.onnx' --json '" + face + "'", runs + "/emb.json") == 0);
  const auto emb = embeddings(read_text(runs + "/emb.json"));
  REQUIRE(emb.size() == 1);
  CHECK(emb[0].size() == 8);
  // Bad input: an --arch that is not the file's, a file that is not ONNX.
  CHECK(run(std::string(GRAFT_EX_FINETUNE) + common + " --arch vgg16 --weights '" + onnx + "' --out '" + runs + "/bad'",
            runs + "/bad.log") == 2);
  CHECK(read_text(runs + "/bad.log").find("is an ONNX model") != std::string::npos);
  test::write_bytes(tmp + "/junk.onnx", {0x08, 0x07, 0xff});
  CHECK(run(std::string(GRAFT_EX_PREDICT) + " --weights '" + tmp + "/junk.onnx' '" + face + "'", runs + "/junk.log") == 1);
  CHECK(read_text(runs + "/junk.log").find("junk.onnx") != std::string::npos);
}
