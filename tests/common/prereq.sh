# shellcheck shell=sh
# tests/common/prereq.sh: what a shell test does when something it needs is not there (a
# peer program, a library, a feature of the machine). Sourced (POSIX sh). The same rule as
# tu_missing in testutil.h: the test fails and names the Debian package that brings the
# missing piece, unless the build was configured with -Dallow_skip=true (meson then sets
# NANOSP_ALLOW_SKIP=true in the tests' environment), in which case it skips (exit 77).
# tools/install-deps.sh installs every package the tests use.

# tu_skip_allowed: true when the build lets tests with missing prerequisites skip.
tu_skip_allowed()
{
    [ "${NANOSP_ALLOW_SKIP:-false}" = true ]
}

# tu_unmet WHY: the prerequisite WHY (a sentence) is not met: exits 77 or 1.
tu_unmet()
{
    if tu_skip_allowed; then
        echo "SKIP: $1 (allowed by -Dallow_skip=true)" >&2
        exit 77
    fi
    echo "FAIL: $1." >&2
    echo "      (Configure with -Dallow_skip=true to let such tests skip instead.)" >&2
    exit 1
}

# tu_missing WHAT PACKAGE [configure]: WHAT (a program, a module, ...) from the Debian
# package PACKAGE is not installed. With "configure", the build looked for it when it was
# configured: after installing, the build directory must be configured again.
tu_missing()
{
    _tu_then=
    [ "${3:-}" = configure ] &&
        _tu_then=", then reconfigure the build directory (meson setup --reconfigure DIR)"
    tu_unmet "$1 is not installed: install the Debian package $2 (tools/install-deps.sh installs every package the tests use)$_tu_then"
}
