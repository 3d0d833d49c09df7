"""Dependencies run one way, and no module uses another's private names.

Every module of the vidprov namespace is parsed (not imported); each import it makes (module level or
inside a function, `import x`, `from x import y`, and strings naming vidprov modules, as importlib and
lazy-attribute tables use them) is checked against ALLOWED below, the one table of permitted edges.
"""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Layer of each module: the most specific prefix wins; any other vidprov.* module is core.
LAYER_OF = {
    "vidprov": "core",
    "vidprov.generator": "generator",
    "vidprov.watermark": "watermark",
    "vidprov.detector": "detector",
    "vidprov.benchmarks": "benchmarks",
    "vidprov.provenance": "provenance",
    # Entry points: the package's public facade (lazy names over every layer), CLIs, demos, app, scale-out.
    "vidprov.__init__": "entry",
    "vidprov.cli": "entry",
    "vidprov.demo": "entry",
    "vidprov.app": "entry",
    "vidprov.scale": "entry",
}
ENTRY_MODULE_NAMES = ("cli", "demo")  # vidprov.<component>.cli / .demo are entry points too

# layer -> layers it may import (its own layer always included).
ALLOWED = {
    "core": {"core"},
    "generator": {"core"},
    "watermark": {"core", "generator-sampler"},  # the latent mark samples with the generator's public API
    "detector": {"core"},
    "benchmarks": {"core", "generator", "generator-sampler", "watermark", "detector"},
    "provenance": {"core", "generator", "generator-sampler", "watermark", "detector"},
    "entry": {"core", "generator", "generator-sampler", "watermark", "detector", "benchmarks", "provenance", "entry"},
}
# The generator's public sampler: its package facade (load, generate, DEFAULT_MODEL, FAMILIES), no submodule.
SAMPLER_MODULES = {"vidprov.generator"}


@cache
def modules() -> dict[str, Path]:
    """Dotted name -> file, from the package-dir mapping in pyproject.toml."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    out: dict[str, Path] = {}
    for package, folder in cfg.items():
        base = ROOT / folder
        for f in base.rglob("*.py"):
            rel = f.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if any(p.startswith(".") or p == "weights" for p in parts):
                continue
            name = ".".join([package, *parts])
            out["vidprov.__init__" if f == ROOT / "vidprov" / "__init__.py" else name] = f
    return out


def is_package(name: str) -> bool:
    return name == "vidprov" or modules().get(name, Path()).name == "__init__.py"


def layer(name: str) -> str:
    parts = name.split(".")
    if len(parts) >= 3 and parts[1] in ("generator", "watermark", "detector", "benchmarks") and parts[2] in ENTRY_MODULE_NAMES:
        return "entry"
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in LAYER_OF:
            return LAYER_OF[prefix]
    raise AssertionError(f"{name}: not a vidprov module")


def target_layer(importer: str, target: str) -> str:
    if target in SAMPLER_MODULES and layer(importer) != "generator":
        return "generator-sampler"
    if target == "vidprov":
        return "core"  # the facade's eager names are core; lazy ones are checked as attributes below
    return layer(target)


@cache
def lazy_names() -> dict[str, str]:
    """The root package's lazy names -> the module that defines them."""
    tree = ast.parse((ROOT / "vidprov" / "__init__.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_LAZY" for t in node.targets):
            return {k: v[0] for k, v in ast.literal_eval(node.value).items()}
    return {}


def resolve(name: str) -> str | None:
    """The vidprov module a dotted name refers to (a module, or an attribute of one), or None."""
    if not (name == "vidprov" or name.startswith("vidprov.")):
        return None
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in modules() or candidate == "vidprov":
            if candidate == "vidprov" and len(parts) > 1 and parts[1] in lazy_names():
                return lazy_names()[parts[1]]
            return candidate
    return None


def edges(name: str, path: Path) -> list[tuple[int, str, str]]:
    """(line, imported module, how) for every vidprov module that `name` imports or names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if is_package(name) else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, "import") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:
                out.append((node.lineno, f"{base}.{a.name}", "from-import"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"vidprov(\.\w+)+", node.value):
            out.append((node.lineno, node.value, "string"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "vidprov":
            out.append((node.lineno, f"vidprov.{node.attr}", "attribute"))
    resolved = []
    for line, target, how in out:
        mod = resolve(target)
        if mod is not None and mod not in (name, "vidprov.__init__"):
            resolved.append((line, mod, how))
    return resolved


def show(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def test_every_vidprov_module_is_found():
    names = set(modules())
    assert {"vidprov.io", "vidprov.perturb", "vidprov.provenance", "vidprov.detector.scan",
            "vidprov.generator.video_generator", "vidprov.watermark.pixel", "vidprov.benchmarks.harness"} <= names


def test_imports_run_one_way():
    bad = []
    for name, path in sorted(modules().items()):
        src = layer(name)
        for line, target, how in edges(name, path):
            dst = target_layer(name, target)
            if dst != src and dst not in ALLOWED[src]:
                bad.append(f"{show(path)}:{line}: {src} module {name} {how}s {target} ({dst})")
    assert not bad, "imports against the layering (see ALLOWED):\n" + "\n".join(bad)


def private_uses(name: str, path: Path) -> list[str]:
    """`from x import _y` and `x._y` where x is another vidprov module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases: dict[str, str] = {}  # local name -> vidprov module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                mod = resolve(a.name)
                if mod and a.asname:
                    aliases[a.asname] = mod
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if resolve(full) == full:
                    aliases[a.asname or a.name] = full
                elif a.name.startswith("_") and not a.name.startswith("__") and resolve(node.module or ""):
                    found.append(f"{show(path)}:{node.lineno}: imports {a.name} from {node.module}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in aliases and aliases[node.value.id] != name):
            found.append(f"{show(path)}:{node.lineno}: uses {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    bad = [f for name, path in sorted(modules().items()) for f in private_uses(name, path)]
    assert not bad, "private names used across modules (make them public in their owner, or stop sharing):\n" + "\n".join(bad)


def test_no_diffusers_private_methods():
    pattern = re.compile(r"\b(LTXPipeline|WanPipeline|pipe|self\.pipe)\._[a-z]\w*\(")
    bad = [f"{show(p)}:{i}" for p in modules().values()
           for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not bad, "diffusers' private pipeline methods used:\n" + "\n".join(bad)


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The walkers see function-level imports, importlib strings, lazy names and private attributes."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f():\n"
        "    import importlib\n"
        "    from vidprov.detector import scan\n"
        "    importlib.import_module('vidprov.watermark.pixel')\n"
        "    import vidprov\n"
        "    vidprov.Scanner\n"
        "    from vidprov import io\n"
        "    return io._open, scan\n"
    )
    found = {(target, how) for _, target, how in edges("vidprov.generator.probe", probe)}
    assert {("vidprov.detector.scan", "from-import"), ("vidprov.watermark.pixel", "string"),
            ("vidprov.provenance", "attribute")} <= found
    assert target_layer("vidprov.watermark.latent", "vidprov.generator") == "generator-sampler"
    assert target_layer("vidprov.watermark.latent", "vidprov.generator.video_generator") == "generator"
    assert layer("vidprov.detector.cli") == "entry" and layer("vidprov.perturb") == "core"
    assert private_uses("vidprov.generator.probe", probe) == [f"{show(probe)}:8: uses vidprov.io._open"]
