// A library of the example: one function, its header public to the targets that use it.
#pragma once

#include <string>

std::string greeting(const std::string& who);
