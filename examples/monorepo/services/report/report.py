"""A Python service: imports are rooted at the workspace root, as in rules_python."""

from lib.pytext.words import shout

print("report:", shout("hello from the monorepo"))
