#!/bin/sh
# install.sh: installs a globus-streams release archive into a prefix (default ~/.local)
# after checking it against the SHA256SUMS file published beside it, then says what to
# add to PATH. Ships in the repository and at the top of every archive.
#
#   sh install.sh [--prefix DIR | --system] [--destdir DIR] [--checksums FILE]
#                 [--allow-incomplete] [ARCHIVE]
#
# Without ARCHIVE, run from an unpacked archive, it installs the archive that directory
# was unpacked from (globus-streams-VERSION-TARGET.tar.gz beside the directory).
set -eu

me=install.sh
library=libglobus_streams_client.so.0
library_link=libglobus_streams_client.so

say() { printf '%s: %s\n' "$me" "$*"; }
die() {
  printf '%s: %s\n' "$me" "$*" >&2
  exit 1
}

usage() {
  cat <<'EOF'
usage: install.sh [--prefix DIR | --system] [--destdir DIR] [--checksums FILE]
                  [--allow-incomplete] [ARCHIVE]

Installs bin/, lib/ and share/doc/ of a globus-streams archive into DIR
(default: ~/.local), after checking the archive against SHA256SUMS.

  --prefix DIR         where to install (default: $HOME/.local)
  --system             a system-wide install: prefix /usr/local (unless --prefix),
                       and the launcher also where the Globus guides name it,
                       /usr/share/globus/streams/globus-streams-launch.sh
  --destdir DIR        stage every file under DIR as if it were / (for packages);
                       the installed files still name the final paths
  --checksums FILE     the SHA256SUMS file (default: SHA256SUMS beside ARCHIVE)
  --allow-incomplete   also install a *.INCOMPLETE.tar.gz development build
  ARCHIVE              globus-streams-VERSION-TARGET.tar.gz (default: the archive
                       this unpacked directory came from)
EOF
}

prefix=
system=0
destdir=
checksums=
allow_incomplete=0
archive=
while [ $# -gt 0 ]; do
  case $1 in
    --prefix)
      [ $# -ge 2 ] || die "option '--prefix' needs a directory"
      prefix=$2
      shift 2
      ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --system) system=1; shift ;;
    --destdir)
      [ $# -ge 2 ] || die "option '--destdir' needs a directory"
      destdir=$2
      shift 2
      ;;
    --destdir=*) destdir=${1#--destdir=}; shift ;;
    --checksums)
      [ $# -ge 2 ] || die "option '--checksums' needs a file"
      checksums=$2
      shift 2
      ;;
    --checksums=*) checksums=${1#--checksums=}; shift ;;
    --allow-incomplete) allow_incomplete=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; printf '%s: unknown option "%s"\n' "$me" "$1" >&2; exit 2 ;;
    *)
      [ -z "$archive" ] || { usage >&2; printf '%s: more than one archive given\n' "$me" >&2; exit 2; }
      archive=$1
      shift
      ;;
  esac
done

# Where the Globus guides say the launcher is (`--system`).
guide_launcher=/usr/share/globus/streams/globus-streams-launch.sh

if [ -z "$prefix" ] && [ "$system" = 1 ]; then
  prefix=/usr/local
fi
if [ -n "$destdir" ]; then
  case $prefix in
    /*) ;;
    *) die "cannot use --destdir with the relative prefix \"$prefix\": pass an absolute --prefix" ;;
  esac
fi
if [ -z "$prefix" ]; then
  [ -n "${HOME:-}" ] || die "cannot choose the default prefix: HOME is not set (pass --prefix DIR)"
  prefix=$HOME/.local
fi

# The archive this unpacked directory came from, when none is named.
if [ -z "$archive" ]; then
  here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
  case $(basename -- "$here") in
    globus-streams-*) ;;
    *) usage >&2; die "no archive given: pass the path of a globus-streams-VERSION-TARGET.tar.gz" ;;
  esac
  for candidate in "$here.tar.gz" "$here.INCOMPLETE.tar.gz"; do
    if [ -f "$candidate" ]; then
      archive=$candidate
      break
    fi
  done
  [ -n "$archive" ] || die "no archive given, and no \"$here.tar.gz\" beside this directory: pass the archive's path"
fi
[ -f "$archive" ] || die "cannot install \"$archive\": no such file"

name=$(basename -- "$archive")
case $name in
  globus-streams-*.INCOMPLETE.tar.gz) top=${name%.INCOMPLETE.tar.gz}; incomplete=1 ;;
  globus-streams-*.tar.gz) top=${name%.tar.gz}; incomplete=0 ;;
  *) die "cannot install \"$archive\": want a file named globus-streams-VERSION-TARGET.tar.gz" ;;
esac
rest=${top#globus-streams-}
case $rest in
  *-x86_64-unknown-linux-gnu) target=x86_64-unknown-linux-gnu; arch=x86_64 ;;
  *-aarch64-unknown-linux-gnu) target=aarch64-unknown-linux-gnu; arch=aarch64 ;;
  *) die "cannot install \"$name\": unknown target (want x86_64- or aarch64-unknown-linux-gnu)" ;;
esac
version=${rest%-"$target"}

machine=$(uname -m)
case $machine in
  amd64) machine=x86_64 ;;
  arm64) machine=aarch64 ;;
esac
[ "$machine" = "$arch" ] || die "cannot install \"$name\": it is built for $arch, this machine is $machine"

# Checksum first: nothing is unpacked from a file that is not the published one.
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum <"$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 <"$1" | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r <"$1" | cut -d ' ' -f 1
  else
    die "cannot verify \"$name\": no sha256sum, shasum or openssl on PATH"
  fi
}
[ -n "$checksums" ] || checksums=$(dirname -- "$archive")/SHA256SUMS
[ -f "$checksums" ] ||
  die "cannot verify \"$name\": no \"$checksums\" (download SHA256SUMS beside the archive, or pass --checksums FILE)"
want=$(awk -v n="$name" '$2 == n || $2 == ("*" n) { print $1; exit }' "$checksums")
[ -n "$want" ] || die "cannot verify \"$name\": \"$checksums\" has no line for it"
got=$(sha256 "$archive")
[ "$got" = "$want" ] ||
  die "cannot install \"$name\": its SHA-256 is $got, but \"$checksums\" says $want (damaged or not the published file)"
say "verified $name against $checksums"

if [ "$incomplete" = 1 ] && [ "$allow_incomplete" = 0 ]; then
  die "cannot install \"$name\": it is an INCOMPLETE development build, not a release (pass --allow-incomplete to install it anyway)"
fi

# $final is where the files will be used; $prefix is where they are written now (the
# same, unless --destdir stages them).
if [ -n "$destdir" ]; then
  mkdir -p "$destdir" || die "cannot create the destdir \"$destdir\""
  destdir=$(CDPATH='' cd -- "$destdir" && pwd)
  final=$prefix
  prefix=$destdir$prefix
fi
mkdir -p "$prefix" || die "cannot create the prefix \"$prefix\""
prefix=$(CDPATH='' cd -- "$prefix" && pwd)
[ -n "$destdir" ] || final=$prefix
tmp=$(mktemp -d "$prefix/.globus-streams-install.XXXXXX") || die "cannot create a temporary directory in \"$prefix\""
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 130' INT TERM

# Every member must sit inside the one top directory, with no ".." anywhere.
tar -tzf "$archive" >"$tmp/members" 2>/dev/null || die "cannot read \"$name\": not a gzip-compressed tar archive"
bad=$(awk -v t="$top" '!($0 == t || $0 == t "/" || index($0, t "/") == 1) || $0 ~ /(^|\/)\.\.(\/|$)/ { print; exit }' "$tmp/members")
[ -z "$bad" ] || die "cannot install \"$name\": member \"$bad\" is outside \"$top/\""
mkdir "$tmp/x"
tar -xzf "$archive" -C "$tmp/x" || die "cannot unpack \"$name\""
src=$tmp/x/$top
[ -f "$src/lib/$library" ] || die "cannot install \"$name\": it has no lib/$library"

# Each file is copied beside its destination and renamed over it, so a program that is
# running from the prefix keeps its old file and never sees a half-written one.
installed=
put() {
  mkdir -p "$(dirname -- "$prefix/$2")"
  cp "$src/$1" "$prefix/$2.part.$$"
  chmod "$3" "$prefix/$2.part.$$"
  mv -f "$prefix/$2.part.$$" "$prefix/$2"
  installed="$installed $2"
}
if [ -f "$src/bin/globus-streams" ]; then
  put bin/globus-streams bin/globus-streams 755
fi
put bin/globus-streams-launch bin/globus-streams-launch 755
put bin/globus-streams-launch.sh bin/globus-streams-launch.sh 755
if [ -f "$src/bin/globus-streams-supervise" ]; then
  put bin/globus-streams-supervise bin/globus-streams-supervise 755
fi
put "lib/$library" "lib/$library" 755
ln -sf "$library" "$prefix/lib/$library_link"
installed="$installed lib/$library_link"
put share/doc/globus-streams/README.md share/doc/globus-streams/README.md 644
put share/doc/globus-streams/LICENSE share/doc/globus-streams/LICENSE 644
if [ "$system" = 1 ]; then
  # A link, not a copy: the launcher follows it to find ../lib/ beside its real self.
  guide=$destdir$guide_launcher
  mkdir -p "$(dirname -- "$guide")" || die "cannot create \"$(dirname -- "$guide")\""
  ln -sf "$final/bin/globus-streams-launch.sh" "$guide.part.$$"
  mv -f "$guide.part.$$" "$guide"
fi

say "installed globus-streams $version ($target) into $prefix:"
for file in $installed; do
  printf '  %s\n' "$file"
done
if [ "$system" = 1 ]; then
  printf '  %s -> %s\n' "$destdir$guide_launcher" "$final/bin/globus-streams-launch.sh"
fi
if [ "$incomplete" = 1 ]; then
  say "WARNING: bin/globus-streams was not installed; the archive says:"
  sed 's/^/  /' "$src/INCOMPLETE"
elif ! out=$("$prefix/bin/globus-streams" --version 2>&1); then
  die "the installed \"$prefix/bin/globus-streams\" does not run: $out"
else
  say "$out"
fi

[ -z "$destdir" ] || exit 0 # staged for a package: PATH is the package's business
case ":${PATH:-}:" in
  *":$prefix/bin:"*) say "$prefix/bin is on your PATH: run 'globus-streams --help'" ;;
  *)
    say "$prefix/bin is not on your PATH; add it, e.g. in ~/.profile:"
    printf '  export PATH="%s/bin:$PATH"\n' "$prefix"
    ;;
esac
