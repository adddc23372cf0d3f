"""What the python3 image must prove: hello world, UTF-8 file names, no shell, and every
stdlib module importable except those needing what the image deliberately lacks."""
import importlib
import subprocess
import sys

print("hello from python", sys.version.split()[0])
print("fsencoding", sys.getfilesystemencoding())

try:
    subprocess.run("echo shell", shell=True, check=True)
    print("FAIL a shell ran")
except (OSError, subprocess.CalledProcessError) as e:
    print("no shell:", type(e).__name__)

# Modules that need Tk, gdbm or the test suite (not in the image on purpose), that exist
# only on Windows or macOS, or (3.11) lib2to3, which Debian ships apart as python3-lib2to3.
LACKING = {
    "tkinter", "_tkinter", "idlelib", "turtle", "turtledemo", "test", "_gdbm",
    "msvcrt", "winreg", "_winreg", "winsound", "_winapi", "nt", "_overlapped", "msilib", "_msi",
    "_wmi", "_scproxy", "_ios_support", "_android_support", "_apple_support", "lib2to3",
}
failed = []
for name in sorted(sys.stdlib_module_names):
    if name in LACKING:
        continue
    try:
        importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failed.append(f"{name}: {type(e).__name__}: {e}")
try:
    import dbm.gnu  # noqa: F401
    print("FAIL dbm.gnu imported, but the image has no libgdbm")
except ImportError:
    pass
print("imported", len(sys.stdlib_module_names) - len(failed), "modules")
for f in failed:
    print("FAIL import", f)

# ctypes.util.find_library asks `ldconfig -p`, which reads /etc/ld.so.cache.
import ctypes
import ctypes.util

for lib in ("ssl", "ffi", "sqlite3"):
    found = ctypes.util.find_library(lib)
    if not found:
        print("FAIL find_library", lib, "found nothing")
        continue
    try:
        ctypes.CDLL(found)
        print("find_library", lib, found, "loaded")
    except OSError as e:
        print("FAIL CDLL", lib, found, e)
