// Prints a greeting and who runs it: libstdc++ and libgcc_s come from the cc image, the uid
// from the nonroot user.
#include <unistd.h>

#include <iostream>

#include "examples/cc-app/greet/greet.h"

int main() {
    std::cout << greeting("running as uid " + std::to_string(getuid())) << std::endl;
    return 0;
}
