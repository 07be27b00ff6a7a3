#!/bin/sh
# Fetch the kernels of vm/kernels into CACHE/<name>/{vmlinuz,config,package} (the .debs are
# downloaded with apt-get download into a scratch dir, extracted with dpkg -x and deleted).
# apt runs on vm/sources.list with a private state dir per suite: the system's apt
# configuration is neither read nor changed. A kernel already cached at the suite's current
# version is kept. Usage: vm/fetch-kernels.sh CACHE [NAME...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=$1; shift
mkdir -p "$cache/apt"
cache=$(cd "$cache" && pwd)

apt_opts() { # suite
	printf '%s ' -o "Dir::Etc::SourceList=$cache/apt/$1.list" -o Dir::Etc::SourceParts=/dev/null \
		-o "Dir::State::Lists=$cache/apt/$1/lists" -o "Dir::Cache=$cache/apt/$1/cache" \
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root
}

update_suite() { # suite: package lists of the suite (and its -security), refreshed daily
	suite=$1
	mkdir -p "$cache/apt/$suite/lists/partial" "$cache/apt/$suite/cache/archives/partial"
	grep -E "^deb .* $suite( |-security )" "$here/sources.list" > "$cache/apt/$suite.list"
	stamp="$cache/apt/$suite/updated"
	if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
		# shellcheck disable=SC2046
		apt-get $(apt_opts "$suite") -qq update
		touch "$stamp"
	fi
}

depends_on() { # suite package prefix: the first dependency of the package named prefix*
	# shellcheck disable=SC2046
	apt-cache $(apt_opts "$1") depends "$2" | sed -n "s/^ *Depends: \($3[^ ]*\).*/\1/p" | head -1
}

fetch() { # name suite package (a meta package, or a versioned linux-image-<version>-...)
	name=$1 suite=$2 meta=$3
	update_suite "$suite"
	case "$meta" in
	linux-image-[0-9]*) image=$meta ;;
	*) image=$(depends_on "$suite" "$meta" linux-image-) ;;
	esac
	[ -n "$image" ] || { echo "fetch-kernels: $meta has no linux-image dependency in $suite" >&2; exit 1; }
	out="$cache/$name"
	if [ -f "$out/package" ] && [ "$(cat "$out/package")" = "$image" ] && [ -f "$out/vmlinuz" ]; then
		echo "$name: $image (cached)"
		return
	fi
	scratch=$(mktemp -d)
	(
		cd "$scratch"
		# shellcheck disable=SC2046
		apt-get $(apt_opts "$suite") -qq download "$image"
		# From 7.x the image package is a meta package: the kernel is in linux-binary-*,
		# its config in linux-base-*.
		for part in linux-binary- linux-base-; do
			dep=$(depends_on "$suite" "$image" "$part")
			# shellcheck disable=SC2046
			[ -z "$dep" ] || apt-get $(apt_opts "$suite") -qq download "$dep"
		done
		du -cb ./*.deb | tail -1 | cut -f1 > download-bytes
		for deb in ./*.deb; do dpkg -x "$deb" x; done
	)
	vmlinuz=$(find "$scratch/x" -name 'vmlinuz*' -type f | head -1)
	config=$(find "$scratch/x" -name 'config*' -path '*boot*' -type f | head -1)
	[ -n "$vmlinuz" ] || { echo "fetch-kernels: no vmlinuz in $image" >&2; exit 1; }
	mkdir -p "$out"
	cp "$vmlinuz" "$out/vmlinuz"
	if [ -n "$config" ]; then cp "$config" "$out/config"; else rm -f "$out/config"; fi
	echo "$image" > "$out/package"
	echo "$name: $image, $(cat "$scratch/download-bytes") bytes downloaded"
	rm -rf "$scratch"
}

grep -v '^#' "$here/kernels" | while read -r name suite meta; do
	[ -n "$name" ] || continue
	if [ $# -gt 0 ]; then
		case " $* " in *" $name "*) ;; *) continue ;; esac
	fi
	fetch "$name" "$suite" "$meta"
done
