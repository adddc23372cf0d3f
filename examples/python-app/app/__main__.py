"""Entry point: `python3 /app` runs this file with /app first on sys.path, so the modules
next to it import as top-level modules."""

import sys

import names
import render


def main():
    for name in names.DOMAINS:
        print(render.line(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
