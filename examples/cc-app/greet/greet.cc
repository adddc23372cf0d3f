#include "examples/cc-app/greet/greet.h"

std::string greeting(const std::string& who) { return "hello from C++ on distroless, " + who; }
