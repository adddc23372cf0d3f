#include "services/echo/echo.h"

#include <algorithm>
#include <cctype>

std::string shout(const std::string& text) {
    std::string out = text;
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
    return out + "!";
}
