#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  // spdlog's registry is a function-local static inside libspdlog.so, which is
  // not built for TSan: made first by two test threads at once (two cluster
  // members logging), TSan cannot see the guard and reports a race. Made here,
  // before any thread, as rotor's own main does (setup_logging).
  spdlog::default_logger_raw();
  return doctest::Context(argc, argv).run();
}
