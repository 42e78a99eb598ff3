# Runs one libFuzzer target for a bounded time (ctest: fuzz_<name>).
#   cmake -DFUZZER=... -DWORK=... -DSEEDS=... -DDICT=... -DSECONDS=... -P run_fuzzer.cmake
# New inputs go to WORK/corpus; a failure leaves its reproducer in WORK/artifacts, which the
# message names (re-run it with: FUZZER WORK/artifacts/crash-...).
file(MAKE_DIRECTORY "${WORK}/corpus" "${WORK}/artifacts")
execute_process(
  COMMAND "${FUZZER}" "${WORK}/corpus" "${SEEDS}"
          -max_total_time=${SECONDS} -max_len=16384 -timeout=10
          -rss_limit_mb=2048 -malloc_limit_mb=1024
          "-dict=${DICT}" "-artifact_prefix=${WORK}/artifacts/" -print_final_stats=1
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); reproducer in ${WORK}/artifacts")
endif()
