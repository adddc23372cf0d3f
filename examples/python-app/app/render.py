"""Formats one domain as `unicode -> ASCII`, using the idna package (IDNA 2008), which comes
from Debian's python3-idna in its own image layer."""

import idna


def line(domain):
    return "{} -> {}".format(domain, idna.encode(domain).decode("ascii"))
