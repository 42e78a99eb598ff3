// Skipping a test that cannot run here (no GPU, no PyTorch, no data folder).
//
// Catch2 2.x (Debian 12) has no SKIP, so a skipped test prints why and exits with code
// 77, which ctest reports as "Skipped" (SKIP_RETURN_CODE). ctest runs each test case in a
// process of its own, so the exit ends only that test case.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define GRAFT_SKIP(reason)                                                          \
  do {                                                                              \
    std::fprintf(stderr, "SKIPPED: %s\n", std::string(reason).c_str());             \
    std::fflush(stderr);                                                            \
    std::fflush(stdout);                                                            \
    std::_Exit(77);                                                                 \
  } while (0)
