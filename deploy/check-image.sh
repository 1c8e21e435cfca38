#!/usr/bin/env bash
# Keeps deploy/Dockerfile honest without Docker. Usage: deploy/check-image.sh <build-dir>
#
#  1. The final stage's `apt-get install` list: every package exists in the Debian archive
#     (apt-cache show) and none is a compiler or a -dev package.
#  2. Every binary the build produces (services/*/stp-*, tools/stpctl/stpctl) is installed by
#     the Dockerfile, and every shared library it loads (ldd) belongs (dpkg -S) to a package of
#     that list, to a package those depend on, or to the base of debian:bookworm-slim. A
#     library the binary links directly must come from the list or the base itself, not by
#     accident through another package's dependencies.
#  3. Every path a COPY takes from the build context exists and is not excluded by
#     deploy/Dockerfile.dockerignore (an allow-list: `**`, then `!path` per source).
# Fails with one line per problem.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKERFILE=${DOCKERFILE:-$ROOT/deploy/Dockerfile}
BUILD_DIR=${1:-}
if [[ -z "$BUILD_DIR" || ! -d "$BUILD_DIR" ]]; then
  echo "usage: $0 <build-dir>   (the CMake build tree holding the binaries)" >&2
  exit 2
fi
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
for tool in apt-cache dpkg dpkg-query ldd readelf; do
  command -v "$tool" >/dev/null || { echo "check-image: $tool is needed" >&2; exit 2; }
done

# What every debian:bookworm-slim image already has and the binaries may link directly:
# the C and C++ runtimes (Priority: required, or pulled in by apt, which is in the image).
BASE_PACKAGES=(libc6 libgcc-s1 libstdc++6 zlib1g)

problems=()
problem() { problems+=("$*"); }

# ---------------------------------------------------------------- the Dockerfile's stages
# Joins continuation lines, then prints the instructions of the last stage.
final_stage() {
  sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$DOCKERFILE" | grep -v '^[[:space:]]*#' |
    awk 'toupper($1) == "FROM" { stage = "" } { stage = stage $0 "\n" } END { printf "%s", stage }'
}
# The packages of every `apt-get install` in the final stage.
mapfile -t RUNTIME_PACKAGES < <(
  final_stage | grep -E '^[[:space:]]*RUN' | sed 's/&&/\n/g; s/;/\n/g' |
    awk '/apt-get[[:space:]]+install/ {
           started = 0
           for (i = 1; i <= NF; i++) {
             if ($i == "install") { started = 1; continue }
             if (started && $i !~ /^-/) print $i
           }
         }' | sort -u)

if ((${#RUNTIME_PACKAGES[@]} == 0)); then
  problem "Dockerfile: no 'apt-get install' in the final stage; the runtime libraries come from there"
fi
echo "runtime packages in the final stage: ${RUNTIME_PACKAGES[*]:-none}"

# One apt-cache call for the whole list (each call loads the package cache).
declare -A IN_ARCHIVE=()
while read -r p; do IN_ARCHIVE[$p]=1; done < <(
  apt-cache show --no-all-versions "${RUNTIME_PACKAGES[@]}" 2>/dev/null | sed -n 's/^Package: //p')
if ((${#RUNTIME_PACKAGES[@]} > 0 && ${#IN_ARCHIVE[@]} == 0)); then
  echo "check-image: apt-cache knows none of the packages; run 'apt-get update' first" >&2
  exit 2
fi
for p in "${RUNTIME_PACKAGES[@]}"; do
  if [[ -z "${IN_ARCHIVE[$p]:-}" ]]; then
    problem "Dockerfile: runtime package '$p' does not exist in the Debian archive (apt-cache show $p)"
  fi
  case "$p" in
    *-dev | build-essential | gcc* | g++* | cpp* | clang* | cmake | make | pkg-config | binutils* | *-compiler*)
      problem "Dockerfile: '$p' is a build tool or -dev package; it does not belong in the runtime stage" ;;
  esac
done

# ---------------------------------------------------------------- packages that may provide
# Everything installed with the runtime packages: their dependency closure plus the base.
mapfile -t CLOSURE < <(
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${RUNTIME_PACKAGES[@]}" "${BASE_PACKAGES[@]}" 2>/dev/null |
    grep -v -e '^[[:space:]]' -e '^<' | sort -u)
declare -A LISTED=() PULLED_IN=()
for p in "${RUNTIME_PACKAGES[@]}" "${BASE_PACKAGES[@]}"; do LISTED[$p]=1; done
for p in "${CLOSURE[@]}"; do PULLED_IN[$p]=1; done

# ---------------------------------------------------------------- the binaries
mapfile -t BINARIES < <(
  find "$BUILD_DIR/services" -mindepth 2 -maxdepth 2 -type f -name 'stp-*' -perm -u+x 2>/dev/null
  find "$BUILD_DIR/tools/stpctl" -maxdepth 1 -type f -name stpctl -perm -u+x 2>/dev/null)
if ((${#BINARIES[@]} == 0)); then
  problem "$BUILD_DIR: no built binaries (services/*/stp-*, tools/stpctl/stpctl); build first"
fi

# Every library load, as four parallel arrays: binary, soname, path ("-" when ldd cannot find
# it), direct (1 when the binary itself names the library, 0 when another library pulls it in).
L_BIN=() L_SONAME=() L_PATH=() L_DIRECT=()
for bin in "${BINARIES[@]}"; do
  rel=${bin#"$BUILD_DIR"/}
  if ! grep -q "build/$rel" "$DOCKERFILE"; then
    problem "Dockerfile: does not install $(basename "$bin") (expected build/$rel in the build stage)"
  fi
  needed=" $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
  while read -r soname arrow path _; do
    # "libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
    # "libfoo.so.1 => not found", "linux-vdso.so.1 (0x...)"
    [[ "$soname" == linux-vdso* ]] && continue
    if [[ "$arrow" != "=>" ]]; then path=$soname; soname=${soname##*/}; fi
    [[ "$path" == not ]] && path=-
    direct=0
    [[ "$needed" == *" $soname "* ]] && direct=1
    L_BIN+=("${bin##*/}") L_SONAME+=("$soname") L_PATH+=("$path") L_DIRECT+=("$direct")
  done < <(ldd "$bin")
done

# Which package owns each library file, asked of dpkg once for all of them. With usrmerge,
# dpkg may know a file under /lib or under /usr/lib, and the path ldd prints may be a symlink.
declare -A OWNER=() REAL=()
for path in "${L_PATH[@]}"; do
  [[ "$path" == - ]] || REAL[$path]=1
done
if ((${#REAL[@]})); then
  mapfile -t reals < <(readlink -f "${!REAL[@]}")
  paths=("${!REAL[@]}")
  for i in "${!paths[@]}"; do REAL[${paths[$i]}]=${reals[$i]}; done
  candidates=()
  for path in "${paths[@]}"; do
    for c in "$path" "${REAL[$path]}"; do
      candidates+=("$c")
      case "$c" in
        /usr/lib/*) candidates+=("${c#/usr}") ;;
        /lib/* | /lib64/*) candidates+=("/usr$c") ;;
      esac
    done
  done
  while IFS= read -r line; do
    # "libfoo1:amd64: /usr/lib/x86_64-linux-gnu/libfoo.so.1" (or "a, b: /path" for shared paths)
    pkg=${line%%: /*}
    file=/${line#*: /}
    pkg=${pkg%%,*}
    OWNER[$file]=${pkg%%:*}
  done < <(printf '%s\n' "${candidates[@]}" | sort -u | xargs dpkg -S 2>/dev/null || true)
fi
# Sets $pkg to the owner of a library path; fails when dpkg knows none.
owner() {
  local path=$1 real=${REAL[$1]} c
  for c in "$path" "$real" "${path#/usr}" "/usr$path" "${real#/usr}" "/usr$real"; do
    if [[ -n "${OWNER[$c]:-}" ]]; then
      pkg=${OWNER[$c]}
      return 0
    fi
  done
  return 1
}

# Problems per library, with the binaries that have them, so a missing package reads as one line.
declare -A checked_lib=() LIB_PROBLEM=() LIB_BINS=()
lib_problem() { # binary message
  [[ -z "${LIB_PROBLEM[$2]:-}" ]] && LIB_ORDER+=("$2")
  LIB_PROBLEM[$2]=1
  LIB_BINS[$2]+=" $1"
}
LIB_ORDER=()
for i in "${!L_BIN[@]}"; do
  name=${L_BIN[$i]} soname=${L_SONAME[$i]} path=${L_PATH[$i]} direct=${L_DIRECT[$i]}
  [[ -n "${checked_lib[$name|$soname]:-}" ]] && continue
  checked_lib[$name|$soname]=1
  if [[ "$path" == - ]]; then
    lib_problem "$name" "$soname is not found on this machine (ldd); cannot tell which package provides it"
  elif ! owner "$path"; then
    lib_problem "$name" "$soname ($path) belongs to no Debian package (dpkg -S); the image cannot provide it"
  elif ((direct)) && [[ -z "${LISTED[$pkg]:-}" ]]; then
    lib_problem "$name" "$soname comes from package '$pkg', which is not in the final stage's 'apt-get install' list"
  elif ((!direct)) && [[ -z "${PULLED_IN[$pkg]:-}" ]]; then
    lib_problem "$name" "$soname (a dependency of a library) comes from package '$pkg', which the runtime packages do not pull in"
  fi
done
for m in "${LIB_ORDER[@]}"; do problem "runtime library: $m (needed by${LIB_BINS[$m]})"; done
echo "binaries checked: ${#BINARIES[@]} (${#checked_lib[@]} library loads)"

# ---------------------------------------------------------------- COPY sources
IGNORE_FILE="$DOCKERFILE.dockerignore"
ALLOWED=()
if [[ -f "$IGNORE_FILE" ]]; then
  mapfile -t ALLOWED < <(sed -n 's#^!\(.*\)#\1#p' "$IGNORE_FILE" | sed 's#/$##')
fi
allowed() {
  local src=${1%/} a
  [[ -f "$IGNORE_FILE" ]] || return 0
  for a in "${ALLOWED[@]}"; do
    [[ "$src" == "$a" || "$src" == "$a"/* ]] && return 0
  done
  return 1
}
while read -r line; do
  read -ra words <<<"$line"
  srcs=()
  from_stage=0
  for w in "${words[@]:1}"; do
    case "$w" in
      --from=*) from_stage=1 ;;
      --*) ;;
      *) srcs+=("$w") ;;
    esac
  done
  ((from_stage)) && continue
  unset 'srcs[${#srcs[@]}-1]' # the last word is the destination
  for s in "${srcs[@]}"; do
    # shellcheck disable=SC2206 # the glob is meant to expand
    matches=($ROOT/$s)
    if [[ ! -e "${matches[0]}" ]]; then
      problem "Dockerfile: COPY source '$s' does not exist in the build context ($ROOT)"
    elif ! allowed "$s"; then
      problem "Dockerfile: COPY source '$s' is excluded from the build context by ${IGNORE_FILE#"$ROOT"/}"
    fi
  done
done < <(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$DOCKERFILE" | grep -iE '^[[:space:]]*COPY[[:space:]]')

if ((${#problems[@]})); then
  echo
  echo "check-image: ${#problems[@]} problem(s) with deploy/Dockerfile:"
  printf '  - %s\n' "${problems[@]}"
  exit 1
fi
echo "check-image: deploy/Dockerfile covers every runtime library of the ${#BINARIES[@]} binaries"
