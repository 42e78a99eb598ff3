// Dataset builders on generated folders and lists (names, labels, what is skipped and why),
// and on the real UTKFace and Adience files when the data folder is present.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "graft/data.hpp"
#include "support/image_files.hpp"
#include "support/skip.hpp"

using namespace graft;
using namespace graft::data;
using graft::test::TempDir;

namespace {
std::filesystem::path real_data(const std::string& name) {
  auto dir = data_dir(GRAFT_SOURCE_DIR, name);
  if (!std::filesystem::is_directory(dir))
    GRAFT_SKIP("no " + name + " data at " + dir.string() + " (set GRAFT_DATA to the data folder)");
  return dir;
}
void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}
}  // namespace

TEST_CASE("UTKFace: names parsed, malformed ones reported and skipped", "[data]") {
  UTKFaceName u;
  std::string why;
  CHECK(parse_utkface_name("26_1_3_20170119180712123.jpg.chip.jpg", u, why));
  CHECK((u.age == 26 && u.gender == 1 && u.race == 3));
  CHECK(parse_utkface_name("24_0_1_20170116220224657 .jpg.chip.jpg", u, why));  // space: kept
  CHECK(parse_utkface_name("55_0_0_20170116232725357jpg.chip.jpg", u, why));    // no dot: kept
  CHECK_FALSE(parse_utkface_name("39_1_20170116174525125.jpg.chip.jpg", u, why));
  CHECK(why == "3 fields, expected age_gender_race_datetime");
  CHECK_FALSE(parse_utkface_name("30_2_0_20170116174525125.jpg.chip.jpg", u, why));
  CHECK(why == "gender '2' is not 0 or 1");
  CHECK_FALSE(parse_utkface_name("30_0_5_20170116174525125.jpg.chip.jpg", u, why));
  CHECK_FALSE(parse_utkface_name("x_0_0_20170116174525125.jpg.chip.jpg", u, why));
  CHECK_FALSE(parse_utkface_name("-3_0_0_20170116174525125.jpg.chip.jpg", u, why));
  CHECK_FALSE(parse_utkface_name("30_0_0_.jpg", u, why));
  CHECK_FALSE(parse_utkface_name("30_0_0", u, why));

  TempDir dir("utk");
  for (const char* n : {"9_1_2_20161219190524395.jpg.chip.jpg", "10_0_0_20170110220033115.jpg.chip.jpg",
                        "24_0_1_20170116220224657 .jpg.chip.jpg", "39_1_20170116174525125.jpg.chip.jpg",
                        "30_2_0_20170116174525125.jpg.chip.jpg", "README.txt", ".hidden_0_0_1.jpg"})
    test::touch(dir / n);
  std::filesystem::create_directories(dir / "sub_0_0_1.jpg");  // a folder is not a sample
  Dataset d = utkface(dir.path());
  REQUIRE(d.size() == 3);
  CHECK(d.classes == std::vector<std::string>{"male", "female"});
  // Sorted by name: "10_..." < "24_..." < "9_...".
  CHECK(d[0].path == dir / "10_0_0_20170110220033115.jpg.chip.jpg");
  CHECK((d[0].label == 0 && d[0].age_min == 10 && d[0].age_max == 10 && d[0].race == 0));
  CHECK((d[1].label == 0 && d[1].age_min == 24 && d[1].race == 1));
  CHECK((d[2].label == 1 && d[2].age_min == 9 && d[2].race == 2));
  REQUIRE(d.skipped.size() == 2);
  CHECK(d.skipped_count(SkipReason::MalformedName) == 2);
  CHECK(d.skipped[0].path == dir / "30_2_0_20170116174525125.jpg.chip.jpg");
  CHECK(d.skipped[1].str() == dir / "39_1_20170116174525125.jpg.chip.jpg: malformed name (3 fields, expected age_gender_race_datetime)");
  CHECK(d.class_counts() == std::vector<int64_t>{2, 1});
  CHECK(d.summary() == "utkface: 3 samples (male 2, female 1); skipped 2 (malformed name 2)");
  CHECK_THROWS_WITH(utkface(dir / "nope"), Catch::Contains("nope: not a folder"));
}

TEST_CASE("UTKFace: the real folder, counts per gender", "[data]") {
  auto dir = real_data("utkface");
  Dataset d = utkface(dir);
  auto counts = d.class_counts();
  CHECK(counts[0] == 10160);
  CHECK(counts[1] == 9198);
  CHECK(d.skipped_count(SkipReason::MalformedName) == 3);
  CHECK(d.skipped.size() == 3);
  // The two untidy names are kept (see utkface.hpp).
  auto has = [&](const std::string& n) {
    return std::any_of(d.samples.begin(), d.samples.end(), [&](const Sample& s) { return s.path == (dir / n).string(); });
  };
  CHECK(has("24_0_1_20170116220224657 .jpg.chip.jpg"));
  CHECK(has("55_0_0_20170116232725357jpg.chip.jpg"));
  for (const auto& s : d.samples) {
    REQUIRE((s.age_min >= 1 && s.age_min <= 116 && s.race >= 0 && s.race <= 4));
  }
  // The files are 200x200 JPEGs.
  for (int64_t i : {int64_t(0), d.size() / 2, d.size() - 1}) {
    Image img = load_image(d[i].path);
    CHECK((img.width == 200 && img.height == 200));
  }
}

TEST_CASE("Adience: fold files, 2 and 3 classes, missing images counted", "[data]") {
  TempDir dir("adience");
  std::filesystem::create_directories(dir.path() / "faces" / "u1@N00");
  std::filesystem::create_directories(dir.path() / "faces" / "u2@N00");
  for (const char* n : {"u1@N00/coarse_tilt_aligned_face.1.a_o.jpg", "u1@N00/coarse_tilt_aligned_face.2.b_o.jpg",
                        "u2@N00/coarse_tilt_aligned_face.3.c_o.jpg", "u2@N00/coarse_tilt_aligned_face.4.d_o.jpg",
                        "u2@N00/coarse_tilt_aligned_face.6.f_o.jpg"})
    test::touch((dir.path() / "faces" / n).string());
  const std::string header =
      "user_id\toriginal_image\tface_id\tage\tgender\tx\ty\tdx\tdy\ttilt_ang\tfiducial_yaw_angle\tfiducial_score\r\n";
  write_text(dir / "fold_0_data.txt",
             header +
                 "u1@N00\ta_o.jpg\t1\t(25, 32)\tf\t0\t414\t1086\t1383\t-115\t30\t17\r\n"  // line 2: kept
                 "u1@N00\tb_o.jpg\t2\t35\tm\t1\t2\t3\t4\t5\t6\t7\r\n"                    // 3: kept
                 "u2@N00\tc_o.jpg\t3\tNone\tu\t1\t2\t3\t4\t5\t6\t7\r\n"                  // 4: unknown gender
                 "u2@N00\td_o.jpg\t4\t(8, 12)\t\t1\t2\t3\t4\t5\t6\t7\r\n"                // 5: empty gender
                 "u2@N00\te_o.jpg\t5\t(8, 12)\tm\t1\t2\t3\t4\t5\t6\t7\r\n"               // 6: image missing
                 "u2@N00\tf_o.jpg\t6\t(8 12)\tf\t1\t2\t3\t4\t5\t6\t7\r\n"                // 7: bad age
                 "u2@N00\tg_o.jpg\r\n"                                                   // 8: too few fields
                 "\r\n");
  write_text(dir / "fold_1_data.txt", header + "u2@N00\tf_o.jpg\t6\t(48, 53)\tm\t1\t2\t3\t4\t5\t6\t7\n");

  Dataset two = adience(dir.path(), {0});
  REQUIRE(two.size() == 2);
  CHECK(two.classes == std::vector<std::string>{"male", "female"});
  CHECK(two[0].path == (dir.path() / "faces" / "u1@N00" / "coarse_tilt_aligned_face.1.a_o.jpg").string());
  CHECK((two[0].label == 1 && two[0].age_min == 25 && two[0].age_max == 32 && two[0].fold == 0));
  CHECK(two[0].subject == "u1@N00");
  CHECK((two[1].label == 0 && two[1].age_min == 35 && two[1].age_max == 35));
  CHECK(two.skipped_count(SkipReason::UnknownLabel) == 2);
  CHECK(two.skipped_count(SkipReason::MissingImage) == 1);
  CHECK(two.skipped_count(SkipReason::MalformedRow) == 2);
  auto missing = std::find_if(two.skipped.begin(), two.skipped.end(),
                              [](const Skipped& s) { return s.reason == SkipReason::MissingImage; });
  CHECK(missing->path == (dir.path() / "faces" / "u2@N00" / "coarse_tilt_aligned_face.5.e_o.jpg").string());
  CHECK(missing->detail == "listed at " + (dir / "fold_0_data.txt") + ":6");

  Dataset three = adience(dir.path(), {0, 1}, AdienceOptions{3});
  REQUIRE(three.size() == 5);
  CHECK(three.classes == std::vector<std::string>{"male", "female", "other"});
  CHECK((three[2].label == 2 && three[2].age_min == -1));
  CHECK((three[3].label == 2 && three[3].age_min == 8 && three[3].age_max == 12));
  CHECK((three[4].fold == 1 && three[4].age_min == 48 && three[4].label == 0));
  CHECK(three.skipped_count(SkipReason::UnknownLabel) == 0);
  CHECK(three.name == "adience folds 0,1");

  write_text(dir / "fold_2_data.txt", "user\timage\n");
  CHECK_THROWS_WITH(adience(dir.path(), {2}), Catch::StartsWith(dir / "fold_2_data.txt") && Catch::Contains("not an Adience fold file"));
  CHECK_THROWS_WITH(adience(dir.path(), {3}), Catch::Contains("fold_3_data.txt: cannot open"));
  CHECK_THROWS_WITH(adience(dir.path(), {0}, AdienceOptions{4}), Catch::Contains("2 or 3"));
}

TEST_CASE("Adience: the real fold files and the 19 real images", "[data]") {
  auto dir = real_data("adience");
  Dataset f0 = adience(dir, {0});
  // fold 0: 4484 rows; gender m 2047, f 1948, u 436, empty 53; only user 30601258@N03's
  // 19 faces (11 m, 8 f) are in the folder.
  CHECK(f0.size() == 19);
  CHECK(f0.class_counts() == std::vector<int64_t>{11, 8});
  CHECK(f0.skipped_count(SkipReason::UnknownLabel) == 436 + 53);
  CHECK(f0.skipped_count(SkipReason::MissingImage) == 4484 - 489 - 19);
  CHECK(f0.skipped_count(SkipReason::MalformedRow) == 0);
  CHECK(f0.size() + int64_t(f0.skipped.size()) == 4484);
  for (const auto& s : f0.samples) {
    CHECK(s.subject == "30601258@N03");
    CHECK(s.age_min == 25);
    CHECK(s.age_max == 32);
    Image img = load_image(s.path);
    CHECK((img.width > 100 && img.height > 100));
  }
  Dataset f1 = adience(dir, {1}, AdienceOptions{3});
  CHECK(f1.size() == 0);
  CHECK(f1.skipped_count(SkipReason::MissingImage) == 3730);
  Dataset both = adience(dir, {0, 1}, AdienceOptions{3});
  CHECK(both.size() == 19);
  CHECK(both.size() + int64_t(both.skipped.size()) == 4484 + 3730);
}

TEST_CASE("image_folder: one class per sub-folder, images found recursively, sorted", "[data]") {
  TempDir dir("folder");
  for (const char* d : {"dogs/more", "cats", ".cache", "dogs/.hidden"}) std::filesystem::create_directories(dir / d);
  for (const char* f : {"cats/b.png", "cats/a.JPG", "cats/notes.txt", "dogs/z.jpeg", "dogs/more/y.jpg",
                        ".cache/x.jpg", "dogs/.hidden/w.jpg", "dogs/.v.jpg", "top.jpg"})
    test::touch(dir / f);
  Dataset d = image_folder(dir.path());
  CHECK(d.classes == std::vector<std::string>{"cats", "dogs"});
  REQUIRE(d.size() == 4);
  CHECK(d[0].path == dir / "cats/a.JPG");
  CHECK(d[1].path == dir / "cats/b.png");
  CHECK(d[2].path == dir / "dogs/more/y.jpg");
  CHECK(d[3].path == dir / "dogs/z.jpeg");
  CHECK(d.class_counts() == std::vector<int64_t>{2, 2});
  TempDir empty("folder");
  CHECK_THROWS_WITH(image_folder(empty.path()), Catch::Contains("no class folders"));
}

TEST_CASE("csv_list: path,label lines with ids or names", "[data]") {
  TempDir dir("csv");
  std::filesystem::create_directories(dir / "img");
  for (const char* f : {"img/a.jpg", "img/b,with comma.jpg", "img/c.png"}) test::touch(dir / f);
  const std::string abs = dir / "img/c.png";

  write_text(dir / "ids.csv", "path,label\r\n# a comment\r\nimg/a.jpg,1\r\n\r\nimg/b,with comma.jpg, 0\r\n" + abs +
                                  ",2\r\nimg/gone.jpg,1\r\n");
  Dataset ids = csv_list(dir / "ids.csv");
  CHECK(ids.classes == std::vector<std::string>{"0", "1", "2"});
  REQUIRE(ids.size() == 3);
  CHECK((ids[0].path == dir / "img/a.jpg" && ids[0].label == 1));
  CHECK((ids[1].path == dir / "img/b,with comma.jpg" && ids[1].label == 0));
  CHECK((ids[2].path == abs && ids[2].label == 2));
  CHECK(ids.skipped_count(SkipReason::MissingImage) == 1);
  CHECK(ids.skipped[0].detail == "listed at " + (dir / "ids.csv") + ":7");

  write_text(dir / "names.csv", "img/a.jpg,male\nimg/c.png,female\n");
  Dataset names = csv_list(dir / "names.csv");
  CHECK(names.classes == std::vector<std::string>{"female", "male"});
  CHECK((names[0].label == 1 && names[1].label == 0));

  CsvOptions fixed;
  fixed.classes = {"male", "female", "other"};
  Dataset f = csv_list(dir / "names.csv", fixed);
  CHECK((f[0].label == 0 && f[1].label == 1));
  CHECK(f.num_classes() == 3);
  write_text(dir / "mixed.csv", "img/a.jpg,2\nimg/c.png,female\n");
  Dataset m = csv_list(dir / "mixed.csv", fixed);
  CHECK((m[0].label == 2 && m[1].label == 1));

  CsvOptions based;
  based.base_dir = dir.path() / "img";
  write_text(dir / "based.csv", "a.jpg,0\n");
  CHECK(csv_list(dir / "based.csv", based)[0].path == dir / "img/a.jpg");

  write_text(dir / "bad.csv", "img/a.jpg,0\nimg/c.png\n");
  CHECK_THROWS_WITH(csv_list(dir / "bad.csv"), Catch::StartsWith(dir / "bad.csv:2") && Catch::Contains("expected path,label"));
  write_text(dir / "bad2.csv", "img/a.jpg,\n");
  CHECK_THROWS_WITH(csv_list(dir / "bad2.csv"), Catch::StartsWith(dir / "bad2.csv:1") && Catch::Contains("empty"));
  write_text(dir / "bad3.csv", "img/a.jpg,cat\n");
  CHECK_THROWS_WITH(csv_list(dir / "bad3.csv", fixed), Catch::StartsWith(dir / "bad3.csv:1") && Catch::Contains("'cat' is not one of the 3 classes"));
  CHECK_THROWS_WITH(csv_list(dir / "none.csv"), Catch::Contains("none.csv: cannot open"));
}

TEST_CASE("Dataset: select, append, checks", "[data]") {
  Dataset d;
  d.name = "toy";
  d.classes = {"a", "b"};
  for (int i = 0; i < 5; ++i) {
    Sample s;
    s.path = "p" + std::to_string(i);
    s.label = i % 2;
    d.samples.push_back(s);
  }
  Dataset s = d.select({4, 0, 0});
  REQUIRE(s.size() == 3);
  CHECK((s[0].path == "p4" && s[1].path == "p0" && s[2].path == "p0"));
  CHECK_THROWS_WITH(d.select({5}), Catch::Contains("sample 5 out of range (5 samples)"));
  s.append(d);
  CHECK(s.size() == 8);
  Dataset other = d;
  other.classes = {"x"};
  CHECK_THROWS_WITH(s.append(other), Catch::Contains("classes differ"));
  d.samples[2].label = 7;
  CHECK_THROWS_WITH(d.check(), Catch::Contains("p2 has label 7, but there are 2 classes"));
}

TEST_CASE("age_band: bands by the middle of the age range", "[data]") {
  const std::vector<int> edges = {0, 13, 20, 30, 45, 60};
  auto band = [&](int lo, int hi) {
    Sample s;
    s.age_min = lo;
    s.age_max = hi;
    return age_band(s, edges);
  };
  CHECK(band(0, 0) == 0);
  CHECK(band(12, 12) == 0);
  CHECK(band(13, 13) == 1);
  CHECK(band(25, 32) == 2);  // 28, in [20, 30)
  CHECK(band(30, 40) == 3);  // 35
  CHECK(band(60, 100) == 5);
  CHECK(band(116, 116) == 5);
  CHECK(band(-1, -1) == -1);
  CHECK(age_band_name(edges, 1) == "13-19");
  CHECK(age_band_name(edges, 5) == "60+");
  CHECK_THROWS_WITH(age_band_name(edges, 6), Catch::Contains("no band 6"));
  Sample s;
  s.age_min = s.age_max = 20;
  CHECK_THROWS_WITH(age_band(s, {0, 30, 20}), Catch::Contains("must increase"));
}
