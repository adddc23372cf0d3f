#include <iostream>

#include "services/echo/echo.h"

int main(int argc, char** argv) {
    std::cout << "echo: " << shout(argc > 1 ? argv[1] : "hello from the monorepo") << std::endl;
    return 0;
}
