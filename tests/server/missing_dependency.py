"""What a Python suite does when something it needs (the default model, grpcio) is missing.

On a developer's machine it skips: exit code 77, which ctest shows as skipped (SKIP_RETURN_CODE
in the suites' CMakeLists.txt). With XQ_REQUIRE_ALL set (.ci/run sets it) it fails instead: CI
installs everything the tests need, so a missing dependency there is a broken setup, and a skip
would let the suite turn green without having run.
"""
import os

import pytest

SKIP_RETURN_CODE = 77
FAIL_RETURN_CODE = 1


def require_all():
    """XQ_REQUIRE_ALL is set to anything but "" or "0" (as tests/support/skip_or_fail.h reads it)."""
    return os.environ.get("XQ_REQUIRE_ALL", "") not in ("", "0")


def skip_or_fail(why):
    """Ends the whole pytest run before any test: skipped, or failed under XQ_REQUIRE_ALL."""
    if require_all():
        message = f"{why} (XQ_REQUIRE_ALL is set, so a missing dependency fails the suite)"
        print(f"FAIL: {message}", flush=True)
        pytest.exit(message, returncode=FAIL_RETURN_CODE)
    print(f"SKIP: {why}", flush=True)
    pytest.exit(why, returncode=SKIP_RETURN_CODE)
