#!/bin/bash
# Installs the build into a private DESTDIR (meson install --destdir) and uses that copy
# the way people use an installed libnanomsg:
#
#   layout          the files are where libnanomsg's are (headers, libnanomsg.so.5 and
#                   its links, libnanomsg.a, nanomsg.pc, the CMake package, nanocat, man
#                   pages); the installed nanocat runs
#   pkgconfig       app.c built with `pkg-config --cflags --libs nanomsg` against the
#                   copy (PKG_CONFIG_SYSROOT_DIR), run on it (LD_LIBRARY_PATH): it must
#                   map the copy's libnanomsg.so.5
#   pkgconfig-static  the same with `pkg-config --static` against the copy without its
#                   shared library: linked with libnanomsg.a and what Libs.private
#                   lists (without them it must not link), it loads no libnanomsg.so
#   cmake           find_package(nanomsg 1.1) and nanomsg::nanomsg in a CMake project
#                   (CMAKE_PREFIX_PATH at the copy); 1.1.5 EXACT is found, 2 and 1.2
#                   are refused
#   man             every installed man page renders with `man -l` without a warning
#
# usage: install.sh MODE
# env: NANOSP_BUILD_DIR, NANOSP_SOURCE_DIR (set by meson)
# Exit 0 pass, 1 fail (also when a tool missing: the message names the package), 77 skip (only under -Dallow_skip=true).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../interop/lib.sh"

mode=${1:?usage: install.sh MODE}
it_init "install-$mode"
it_need_cmd meson cc pkg-config readelf
build=$(cd "${NANOSP_BUILD_DIR:?NANOSP_BUILD_DIR is not set}" && pwd) || it_fail "no build directory"

root=$IT_TMP/root
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$IT_TMP/install.log" 2>&1 ||
    { cat "$IT_TMP/install.log" >&2; it_fail "meson install --destdir failed"; }
pc=$(find "$root" -name nanomsg.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || it_fail "no nanomsg.pc installed"
pcdir=$(dirname "$pc")
prefix=$(PKG_CONFIG_LIBDIR=$pcdir pkg-config --variable=prefix nanomsg)
libdir=$(PKG_CONFIG_LIBDIR=$pcdir pkg-config --variable=libdir nanomsg)
includedir=$(PKG_CONFIG_LIBDIR=$pcdir pkg-config --variable=includedir nanomsg)
[ "$(PKG_CONFIG_LIBDIR=$pcdir pkg-config --modversion nanomsg)" = 1.1.5 ] || it_fail "nanomsg.pc is not version 1.1.5"
it_log "installed into $root (prefix $prefix, libdir $libdir)"

# A sanitizer build's library needs the sanitizer runtime in the programs that use it.
san_flags=()
if it_sanitizer_env "$build/libnanomsg.so.5"; then
    san_flags=(-fsanitize=address,undefined)
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi

# Only our copy's nanomsg.pc, with its paths moved under the DESTDIR.
pkgconf() { PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_PATH= PKG_CONFIG_SYSROOT_DIR=$root pkg-config "$@"; }

# run_app APP [static]: runs it and checks that it exchanged and what it mapped.
run_app()
{
    local app=$1 kind=${2:-shared} out
    out=$(env LD_LIBRARY_PATH="$root$libdir" "$app" 2>"$IT_TMP/app.err") ||
        it_fail "$app failed: $(cat "$IT_TMP/app.err")"
    grep -qx 'exchanged hello' <<<"$out" || it_fail "$app did not exchange its message: $out"
    if [ "$kind" = static ]; then
        grep -q '^libnanomsg:' <<<"$out" && it_fail "the static build loaded a libnanomsg: $out"
    else
        local mapped
        mapped=$(sed -n 's/^libnanomsg: //p' <<<"$out")
        [ "$(readlink -f "$mapped")" = "$(readlink -f "$root$libdir/libnanomsg.so.5")" ] ||
            it_fail "$app ran on [$mapped], not on the installed copy"
    fi
    it_log "$app: $(tr '\n' ' ' <<<"$out")"
}

case $mode in
layout)
    for h in nn bus inproc ipc pair pipeline pubsub reqrep survey tcp ws tls; do
        [ -f "$root$includedir/nanomsg/$h.h" ] || it_fail "header nanomsg/$h.h not installed"
    done
    [ "$(readlink "$root$libdir/libnanomsg.so")" = libnanomsg.so.5 ] || it_fail "libnanomsg.so is not a link to libnanomsg.so.5"
    [ "$(readlink "$root$libdir/libnanomsg.so.5")" = libnanomsg.so.5.1.0 ] ||
        it_fail "libnanomsg.so.5 is not a link to libnanomsg.so.5.1.0"
    readelf -d "$root$libdir/libnanomsg.so.5.1.0" | grep -q 'SONAME.*\[libnanomsg\.so\.5\]' || it_fail "wrong SONAME"
    [ -f "$root$libdir/libnanomsg.a" ] || it_fail "libnanomsg.a not installed"
    for f in nanomsg-config.cmake nanomsg-config-version.cmake nanomsg-target.cmake; do
        [ -f "$root$libdir/cmake/nanomsg-1.1.5/$f" ] || it_fail "$libdir/cmake/nanomsg-1.1.5/$f not installed"
    done
    nanocat=$root$prefix/bin/nanocat
    [ -x "$nanocat" ] || it_fail "nanocat not installed in $prefix/bin"
    env LD_LIBRARY_PATH="$root$libdir" "$nanocat" --help >"$IT_TMP/help" || it_fail "the installed nanocat --help failed"
    [ "$(head -n 1 "$IT_TMP/help")" = Usage: ] || it_fail "the installed nanocat printed no help"
    grep -q '^ --cacert FILE' "$IT_TMP/help" || it_fail "the installed nanocat has no --cacert"
    ;;
pkgconfig)
    cflags=$(pkgconf --cflags nanomsg) libs=$(pkgconf --libs nanomsg)
    [[ $cflags == *"-I$root$includedir"* ]] || it_fail "--cflags does not point into the copy: $cflags"
    [[ $libs == *"-L$root$libdir"* && $libs == *-lnanomsg* ]] || it_fail "--libs does not point into the copy: $libs"
    # shellcheck disable=SC2086 # pkg-config output is a list of words
    cc "${san_flags[@]}" -o "$IT_TMP/app" "$here/app.c" $cflags $libs 2>"$IT_TMP/cc.err" ||
        it_fail "cc app.c \$(pkg-config --cflags --libs nanomsg) failed: $(cat "$IT_TMP/cc.err")"
    readelf -d "$IT_TMP/app" | grep -q 'NEEDED.*\[libnanomsg\.so\.5\]' || it_fail "app does not need libnanomsg.so.5"
    run_app "$IT_TMP/app"
    it_log "cc app.c $cflags $libs"
    ;;
pkgconfig-static)
    # A copy with only the static library, as a static-only install has.
    rm -f "$root$libdir"/libnanomsg.so*
    cflags=$(pkgconf --static --cflags nanomsg) libs=$(pkgconf --static --libs nanomsg)
    private=$(sed -n 's/^Libs.private: *//p' "$pc")
    [[ $private == *-pthread* ]] || it_fail "Libs.private does not list -pthread: $private"
    # shellcheck disable=SC2086
    cc "${san_flags[@]}" -o "$IT_TMP/app" "$here/app.c" $cflags $libs 2>"$IT_TMP/cc.err" ||
        it_fail "cc app.c \$(pkg-config --static --cflags --libs nanomsg) failed: $(cat "$IT_TMP/cc.err")"
    readelf -d "$IT_TMP/app" | grep -q 'NEEDED.*libnanomsg' && it_fail "the static build needs a libnanomsg.so"
    run_app "$IT_TMP/app" static
    # The libraries of Libs.private are needed: without them libnanomsg.a does not link.
    if [[ $private == *-lmbed* ]]; then
        # shellcheck disable=SC2086
        if cc "${san_flags[@]}" -o "$IT_TMP/app-nopriv" "$here/app.c" $cflags $(pkgconf --libs nanomsg) \
            2>"$IT_TMP/cc-nopriv.err"; then
            it_fail "app linked without Libs.private: the check proves nothing"
        fi
        grep -q 'undefined reference to `mbedtls_' "$IT_TMP/cc-nopriv.err" ||
            it_fail "linking without Libs.private failed for another reason: $(head -c 300 "$IT_TMP/cc-nopriv.err")"
    fi
    it_log "cc app.c $cflags $libs"
    ;;
cmake)
    it_need_cmd cmake
    cmake_args=(-S "$here" -DCMAKE_PREFIX_PATH="$root$prefix" -DCMAKE_C_FLAGS="${san_flags[*]}"
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
    cmake "${cmake_args[@]}" -B "$IT_TMP/cmake" >"$IT_TMP/cmake.log" 2>&1 ||
        { cat "$IT_TMP/cmake.log" >&2; it_fail "cmake could not configure a project with find_package(nanomsg 1.1)"; }
    cmake --build "$IT_TMP/cmake" >>"$IT_TMP/cmake.log" 2>&1 ||
        { cat "$IT_TMP/cmake.log" >&2; it_fail "cmake --build failed"; }
    grep -q "nanomsg_DIR:PATH=$root$libdir/cmake/nanomsg-1.1.5" "$IT_TMP/cmake/CMakeCache.txt" ||
        it_fail "CMake found another nanomsg: $(grep nanomsg_DIR "$IT_TMP/cmake/CMakeCache.txt")"
    readelf -d "$IT_TMP/cmake/app" | grep -q 'NEEDED.*\[libnanomsg\.so\.5\]' || it_fail "app does not need libnanomsg.so.5"
    run_app "$IT_TMP/cmake/app"
    # The version file: what find_package accepts.
    version_ok()
    {
        local dir=$IT_TMP/cmake-$1
        mkdir -p "$dir"
        sed "s/find_package(nanomsg 1.1 REQUIRED)/find_package(nanomsg $1 REQUIRED)/" "$here/CMakeLists.txt" \
            >"$dir/CMakeLists.txt"
        cp "$here/app.c" "$dir/"
        cmake -S "$dir" -B "$dir/build" -DCMAKE_PREFIX_PATH="$root$prefix" >"$dir/log" 2>&1
    }
    version_ok "1.1.5 EXACT" || it_fail "find_package(nanomsg 1.1.5 EXACT) failed"
    version_ok 1.0 || it_fail "find_package(nanomsg 1.0) failed"
    version_ok 1.2 && it_fail "find_package(nanomsg 1.2) accepted version 1.1.5"
    version_ok 2 && it_fail "find_package(nanomsg 2) accepted version 1.1.5"
    ;;
man)
    it_need_cmd man
    mandir=$root$prefix/share/man
    [ -d "$mandir" ] || it_skip "no man pages installed (asciidoctor missing, or -Ddocs=disabled)"
    n=0
    for page in "$mandir"/man*/*; do
        name=$(basename "$page")
        MANWIDTH=80 man --warnings -l "$page" >"$IT_TMP/page" 2>"$IT_TMP/page.err" ||
            it_fail "man -l $name failed: $(cat "$IT_TMP/page.err")"
        [ -s "$IT_TMP/page.err" ] && it_fail "man -l $name warns: $(head -n 3 "$IT_TMP/page.err")"
        grep -q '^NAME' "$IT_TMP/page" || it_fail "man -l $name shows no NAME section"
        grep -q "^       ${name%.*} - " "$IT_TMP/page" || it_fail "man -l $name: the NAME section does not name ${name%.*}"
        n=$((n + 1))
    done
    for want in man1/nanocat.1 man3/nn_socket.3 man7/nn_env.7 man7/nn_tls.7 man7/nanomsg.7; do
        [ -f "$mandir/$want" ] || it_fail "$want not installed"
    done
    it_log "$n man pages render"
    ;;
*)
    it_fail "unknown MODE $mode"
    ;;
esac
it_log "PASS [$IT_TAG]"
exit 0
