"""Entry point: the launcher /app/app runs this module as __main__. BUILD.star's `imports`
puts this directory on sys.path, so the modules next to it import as top-level modules."""

import sys

import names
import render


def main():
    for name in names.DOMAINS:
        print(render.line(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
