"""`make gpu-wheels`: download exactly the wheels the GPU box lacks for the GPU check, split into device calls that fit.

The GPU box (the device tool's machine: Linux x86-64, Python 3.12, no network) already has the packages listed in
benchmarks/gpu_box_packages.txt (torch, transformers, accelerate, peft, ...). The GPU check (benchmarks/gpu_check.sh)
needs the project's base dependencies and Unsloth; everything in that closure the box does not have travels as wheels,
at most 64 MiB per device call *together with the working tree*. This script

1. walks the requirement closure from the roots (the base dependencies and the pinned unsloth / unsloth_zoo of the
   `gpu` extra), downloading each missing package's wheel for Linux x86-64 / CPython 3.12 with `pip download
   --no-deps` and reading its `Requires-Dist` (markers evaluated for that box); it stops at packages the box has and at
   the ones in SKIP (each with the reason);
2. checks the chosen versions against every requirement that names them (a pick that breaks one is re-downloaded with
   the combined specifier) and reports requirements of the carried wheels that the box's known versions break;
3. packs the wheels into at most `--max-calls` folders (`.whl/call1`, `.whl/call2`, ...; largest first, first fit), each
   within the per-call budget minus the working tree's size, and FAILS (exit 1) if they do not fit;
4. prints the list with sizes and writes `.whl/MANIFEST.json`.

Usage: python benchmarks/gpu_wheels.py [--dest .whl] [--pool .cache/gpu-wheels] [--budget-mib 64] [--max-calls 2]
"""
from __future__ import annotations
import argparse, json, os, re, shutil, subprocess, sys, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rft_nb.stack import GPU_PYTHON, GPU_PLATFORMS, canonical, requirements  # noqa: E402

MIB = 2 ** 20
BOX_FILE = ROOT / 'benchmarks' / 'gpu_box_packages.txt'
# Not carried, each for a reason the check's log repeats.
SKIP = {
    'nbdev': 'docs/notebook tooling: the GPU check runs pytest and the benchmark, not nbdev',
    'jupyter': 'docs/notebook tooling (pulls JupyterLab); not used by the GPU check',
    'vllm': 'its wheel and CUDA packages exceed the 64 MiB per call and it pins another torch (platform-notes)',
    'deepspeed': 'multi-GPU only (ZeRO); the box has one GPU',
    'qwen_vl_utils': 'pulls av (about 30 MB); the check never decodes video',
    'xformers': 'optional for Unsloth: unsloth/models/_utils.py catches ModuleNotFoundError and uses PyTorch SDPA; '
                'its wheel pins one torch build',
}
ENV = dict(python_version=GPU_PYTHON, python_full_version=f'{GPU_PYTHON}.3', sys_platform='linux', platform_system='Linux',
           platform_machine='x86_64', os_name='posix', implementation_name='cpython',
           platform_python_implementation='CPython', platform_release='', platform_version='', extra='')


def box_packages(path: Path = BOX_FILE) -> dict[str, str | None]:
    "{canonical name: version or None} of what the GPU box already has."
    out = {}
    for line in path.read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if not line: continue
        name, _, ver = line.partition('==')
        out[canonical(name)] = ver or None
    return out


def roots() -> list[str]:
    "The requirements the GPU check needs: the base dependencies and the pinned unsloth and unsloth_zoo of [gpu]."
    gpu = [r for r in requirements('gpu') if canonical(re.split(r'[<>=!~\[; ]', r, 1)[0]) in ('unsloth', 'unsloth_zoo')]
    return requirements(None) + gpu


def wheel_requires(whl: Path) -> list[str]:
    "The `Requires-Dist` lines of a wheel's METADATA."
    with zipfile.ZipFile(whl) as z:
        meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA') and n.count('/') == 1)
        return [l.split(':', 1)[1].strip() for l in z.read(meta).decode().splitlines() if l.startswith('Requires-Dist:')]


def wheel_name_version(whl: Path) -> tuple[str, str]:
    name, ver = whl.name.split('-')[:2]
    return canonical(name), ver


def applies(req, extras=()) -> bool:
    "Whether requirement `req` (a packaging Requirement) applies on the GPU box, for the given extras."
    return req.marker is None or any(req.marker.evaluate(dict(ENV, extra=e)) for e in ('', *extras))


def download(spec: str, pool: Path, log=print) -> Path:
    "The wheel for requirement string `spec` (no deps) in `pool`, downloaded for the GPU box if not there yet."
    from packaging.requirements import Requirement
    from packaging.version import Version
    req = Requirement(spec)
    have = [w for w in pool.glob('*.whl') if wheel_name_version(w)[0] == canonical(req.name)
            and req.specifier.contains(Version(wheel_name_version(w)[1]), prereleases=True)]
    if have: return max(have, key=lambda w: Version(wheel_name_version(w)[1]))
    before = set(pool.glob('*.whl'))
    cmd = [sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--python-version',
           GPU_PYTHON, '--implementation', 'cp', *[f'--platform={p}' for p in GPU_PLATFORMS], '-d', str(pool),
           str(Requirement(f"{req.name}{req.specifier}"))]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        err = '\n'.join(l for l in p.stderr.splitlines() if not l.startswith('WARNING: Location'))
        raise SystemExit(f"gpu-wheels: FAILED: no wheel for {spec} (Linux x86-64, Python {GPU_PYTHON}):\n{err[-2000:]}")
    got = [w for w in set(pool.glob('*.whl')) - before if wheel_name_version(w)[0] == canonical(req.name)]
    if not got: raise SystemExit(f"gpu-wheels: FAILED: pip reported success for {spec} but wrote no matching wheel in {pool}")
    log(f"  downloaded {got[0].name}")
    return got[0]


def closure(root_reqs: list[str], box: dict, pool: Path, log=print) -> tuple[dict[str, Path], dict[str, list[str]], list[str]]:
    """({name: wheel} to carry, {name: [requirement strings naming it]}, [skipped: 'name (why)']) for `root_reqs`.
    Walks requirements breadth first; a package the box has or SKIP names ends the walk there."""
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version
    chosen: dict[str, Path] = {}
    wanted: dict[str, list[str]] = {}
    skipped, todo = set(), [(r, ()) for r in root_reqs]
    while todo:
        spec, _ = todo.pop(0)
        req = Requirement(spec)
        if not applies(req): continue
        name = canonical(req.name)
        wanted.setdefault(name, [])
        if spec not in wanted[name]: wanted[name].append(spec)
        if name in SKIP: skipped.add(f"{name} ({SKIP[name]})"); continue
        if name in box: continue
        combined = SpecifierSet(','.join(str(Requirement(s).specifier) for s in wanted[name] if str(Requirement(s).specifier)))
        if name in chosen and combined.contains(Version(wheel_name_version(chosen[name])[1]), prereleases=True): continue
        whl = download(f"{req.name}{combined}", pool, log)
        chosen[name] = whl
        extras = set().union(*(Requirement(s).extras for s in wanted[name]))
        for r in wheel_requires(whl):
            rq = Requirement(r)
            if applies(rq, tuple(extras)):
                rq.marker = None
                todo.append((str(rq), ()))
    return chosen, wanted, sorted(skipped)


def box_conflicts(chosen: dict[str, Path], box: dict) -> list[str]:
    "Requirements of the carried wheels that a box package's known version breaks (unknown versions are not judged)."
    from packaging.requirements import Requirement
    from packaging.version import Version
    bad = []
    for name, whl in chosen.items():
        for r in wheel_requires(whl):
            req = Requirement(r)
            v = box.get(canonical(req.name))
            if applies(req) and v and not req.specifier.contains(Version(v), prereleases=True):
                bad.append(f"{name} {wheel_name_version(whl)[1]} needs {r}; the box has {req.name} {v}")
    return bad


def tree_bytes(root: Path = ROOT) -> int:
    "Bytes of what travels with every device call: tracked and untracked-not-ignored files (git's view), and shared/."
    p = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=root,
                       capture_output=True, check=True)
    files = {f for f in p.stdout.decode().split('\0') if f}
    if (root / 'shared').is_dir(): files |= {str(f.relative_to(root)) for f in (root / 'shared').rglob('*') if f.is_file()}
    return sum((root / f).stat().st_size for f in files if (root / f).is_file())


def pack(sizes: dict[str, int], capacity: int, max_calls: int) -> list[list[str]]:
    "Names packed into calls of at most `capacity` bytes each, largest first, first fit; SystemExit if more than `max_calls`."
    if capacity <= 0: raise SystemExit(f"gpu-wheels: FAILED: the working tree alone leaves no room for wheels ({capacity / MIB:.1f} MiB)")
    calls: list[list[str]] = []
    free: list[int] = []
    for n in sorted(sizes, key=lambda n: (-sizes[n], n)):
        if sizes[n] > capacity:
            raise SystemExit(f"gpu-wheels: FAILED: {n} ({sizes[n] / MIB:.1f} MiB) alone exceeds a call's room for wheels "
                             f"({capacity / MIB:.1f} MiB)")
        i = next((i for i, f in enumerate(free) if sizes[n] <= f), None)
        if i is None: calls.append([]); free.append(capacity); i = len(calls) - 1
        calls[i].append(n); free[i] -= sizes[n]
    if len(calls) > max_calls:
        raise SystemExit(f"gpu-wheels: FAILED: the wheels need {len(calls)} device calls of {capacity / MIB:.1f} MiB, "
                         f"more than --max-calls {max_calls} ({sum(sizes.values()) / MIB:.1f} MiB in all)")
    return calls


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--dest', default=str(ROOT / '.whl'), help='where the per-call folders go (carried by the device call)')
    ap.add_argument('--pool', default=str(ROOT / '.cache' / 'gpu-wheels'), help='download cache')
    ap.add_argument('--budget-mib', type=float, default=64.0, help='what one device call may carry, working tree included')
    ap.add_argument('--margin-mib', type=float, default=2.0, help='kept free in each call (files written meanwhile)')
    ap.add_argument('--max-calls', type=int, default=2, help='device calls the wheels may be split over')
    a = ap.parse_args(argv)
    pool, dest = Path(a.pool), Path(a.dest)
    pool.mkdir(parents=True, exist_ok=True)
    box = box_packages()
    print(f"gpu-wheels: closure of {len(roots())} roots for Linux x86-64, Python {GPU_PYTHON}, less the box's "
          f"{len(box)} packages ({BOX_FILE.relative_to(ROOT)})")
    chosen, wanted, skipped = closure(roots(), box, pool)
    for s in skipped: print(f"  not carried: {s}")
    # every requirement that names a carried package holds for the version chosen
    from packaging.requirements import Requirement
    from packaging.version import Version
    for name, whl in chosen.items():
        v = Version(wheel_name_version(whl)[1])
        bad = [s for s in wanted[name] if not Requirement(s).specifier.contains(v, prereleases=True)]
        if bad: raise SystemExit(f"gpu-wheels: FAILED: {whl.name} breaks {bad}")
    for c in box_conflicts(chosen, box): print(f"  warning: {c}")
    tree = tree_bytes()
    budget = int(a.budget_mib * MIB)
    capacity = budget - tree - int(a.margin_mib * MIB)
    sizes = {n: w.stat().st_size for n, w in chosen.items()}
    calls = pack(sizes, capacity, a.max_calls)
    if dest.exists(): shutil.rmtree(dest)
    manifest = dict(python=GPU_PYTHON, budget_mib=a.budget_mib, tree_mib=round(tree / MIB, 2), calls=[], skipped=skipped)
    print(f"gpu-wheels: {len(chosen)} wheels, {sum(sizes.values()) / MIB:.1f} MiB; working tree {tree / MIB:.1f} MiB; "
          f"room per call {capacity / MIB:.1f} MiB of {a.budget_mib:g}")
    for i, names in enumerate(calls, 1):
        d = dest / f'call{i}'
        d.mkdir(parents=True)
        total = sum(sizes[n] for n in names)
        print(f"  call {i}: carry .whl/call{i} ({total / MIB:.1f} MiB + tree {tree / MIB:.1f} MiB = "
              f"{(total + tree) / MIB:.1f} MiB of {a.budget_mib:g})")
        rows = []
        for n in sorted(names):
            w = chosen[n]
            try: os.link(w, d / w.name)
            except OSError: shutil.copy2(w, d / w.name)
            print(f"    {sizes[n] / MIB:7.2f} MiB  {w.name}")
            rows.append(dict(name=n, version=wheel_name_version(w)[1], file=w.name, bytes=sizes[n]))
        manifest['calls'].append(dict(folder=f'call{i}', bytes=total, wheels=rows))
    (dest / 'MANIFEST.json').write_text(json.dumps(manifest, indent=1))
    print(f"gpu-wheels: wrote {dest}/MANIFEST.json; run the calls in order (see benchmarks/gpu_check.sh --help)")


if __name__ == '__main__':
    main()
