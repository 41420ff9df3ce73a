"""Trained models as ``torch.export`` programs: each kind's signature, export, and loading.

A program is a trained model cut down to one pure function of tensors, in the protocol of
its kind, with no Python of the method's own:

- rl: ``(obs, prev_action, prev_reward, done, trial_start, state) -> (action_logits, state)``,
  one env step of a batch of trials; the policy forgets its state where ``trial_start`` is
  set, so a trial starts from any state (zeros by convention);
- sequence: ``(xs, ys) -> predictions``, the whole prompt batch at once, causal as in
  ``mesa_bench.protocol.sequence``;
- optimization: ``(params, grads, state) -> (update, state)``, one inner step; the state
  starts at zeros.

Axes named ``batch`` (every kind), ``points`` (sequence), ``params`` (optimization),
``rows`` and ``cols`` (a grid observation) vary from call to call; every other size is
fixed. A program travels as a ``.pt2`` archive (``torch.export.save``) that carries its
``Manifest``; ``load_program`` refuses an archive that would unpickle anything, and checks
the program against its manifest and its kind's protocol, naming what differs. torch is
imported on first use (the leaderboard reads manifests without it).
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesa_bench.protocol.core import Kind

if TYPE_CHECKING:
    import torch
    from torch.export import ExportedProgram

FORMAT = 1
MANIFEST_FILE = "manifest.json"  # inside the archive, beside torch's own files
DIMS = ("batch", "points", "params", "rows", "cols")

# Per kind, each input and output as (name, shape pattern, dtype): a pattern item is a
# named axis, "#" any fixed size, "*" any further axes; dtype None allows any float, "any"
# any dtype (an observation is whatever the family's env returns).
PROTOCOL: dict[str, tuple[tuple[tuple[str, str, str | None], ...], ...]] = {
    "rl": (
        (
            ("obs", "batch *", "any"),
            ("prev_action", "batch", "int64"),
            ("prev_reward", "batch", "float32"),
            ("done", "batch", "float32"),
            ("trial_start", "batch", "bool"),
            ("state", "batch *", "float32"),
        ),
        (("action_logits", "batch #", None), ("state", "batch *", "float32")),
    ),
    "sequence": (
        (("xs", "batch points #", "float32"), ("ys", "batch points", "float32")),
        (("predictions", "batch points", None),),
    ),
    "optimization": (
        (
            ("params", "batch params", "float64"),
            ("grads", "batch params", "float64"),
            ("state", "batch *", None),
        ),
        (("update", "batch params", None), ("state", "batch *", None)),
    ),
}


class ProgramError(ValueError):
    """A program that cannot be exported, or a file that is not the program it should be."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, shape (fixed sizes and named axes) and dtype."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TensorSpec:
        return cls(str(raw["name"]), tuple(raw["shape"]), str(raw["dtype"]))

    def __str__(self) -> str:
        return f"{self.name}[{', '.join(map(str, self.shape))}] {self.dtype}"


@dataclass(frozen=True)
class Exportable:
    """What a method entry hands the exporter (``MethodEntry.exportable``).

    Attributes:
        module: ``forward`` takes the kind's inputs in order and returns its outputs.
        inputs: example tensors, one per input (varying axes of size 2 or more, so that
            torch does not fix them at 1).
        dims: per input, axis -> name (``batch``, ``points``, ``params``) of the axes
            that vary.
        max_sizes: the largest size of a named axis, where there is one (a transformer's
            learned positions cover so many points).
        defer_guards: turn shape conditions torch cannot prove for every size into checks
            at run time (``prefer_deferred_runtime_asserts_over_guards``) instead of
            refusing; the exporter then still runs the program at other sizes.
    """

    module: Any
    inputs: tuple[Any, ...]
    dims: tuple[Mapping[int, str], ...]
    max_sizes: Mapping[str, int] = field(default_factory=dict)
    defer_guards: bool = False


@dataclass(frozen=True)
class Manifest:
    """What a program is: which run's model, of which kind, with which signature.

    Attributes:
        method: the method's registry name.
        family: the family's versioned id.
        kind: ``rl``, ``sequence`` or ``optimization``.
        seed: the run's seed.
        budget: the budget the model was trained for.
        inputs: the program's inputs, in order.
        outputs: its outputs, in order.
        results: the results file the run wrote (its path when exported).
        results_sha256: that file's SHA-256, which ties the program to its numbers.
        torch: the torch version that exported it.
        format: version of this manifest.
    """

    method: str
    family: str
    kind: str
    seed: int
    budget: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    results: str
    results_sha256: str
    torch: str
    format: int = FORMAT

    def to_json(self) -> str:
        raw = asdict(self)
        raw["inputs"] = [s.as_dict() for s in self.inputs]
        raw["outputs"] = [s.as_dict() for s in self.outputs]
        return json.dumps(raw, indent=1)

    @classmethod
    def from_json(cls, text: str, where: str = "manifest") -> Manifest:
        """Returns the manifest in ``text``; raises ProgramError naming what is wrong."""
        try:
            raw = json.loads(text)
            raw["inputs"] = tuple(TensorSpec.from_dict(s) for s in raw["inputs"])
            raw["outputs"] = tuple(TensorSpec.from_dict(s) for s in raw["outputs"])
            manifest = cls(**raw)
        except (ValueError, KeyError, TypeError) as e:
            raise ProgramError(f"{where}: not a program manifest ({e})") from None
        if manifest.format != FORMAT:
            raise ProgramError(f"{where}: manifest format {manifest.format}, expected {FORMAT}")
        return manifest


def sha256_file(path: str | Path) -> str:
    """Returns the SHA-256 hex digest of the file at ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_protocol(kind: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> None:
    """Raises ProgramError unless the signature is ``kind``'s (names, axes, dtypes)."""
    if kind not in PROTOCOL:
        raise ProgramError(f"unknown kind {kind!r} (kinds: {', '.join(PROTOCOL)})")
    sides = (("input", inputs, PROTOCOL[kind][0]), ("output", outputs, PROTOCOL[kind][1]))
    for side, specs, wanted in sides:
        names = [s.name for s in specs]
        if names != [w[0] for w in wanted]:
            raise ProgramError(
                f"{kind} programs take {side}s ({', '.join(w[0] for w in wanted)}), "
                f"this one ({', '.join(names)})"
            )
        for spec, (_, pattern, dtype) in zip(specs, wanted, strict=True):
            if not _matches(spec, pattern.split(), dtype):
                allowed = dtype or "a float dtype"
                raise ProgramError(
                    f"{kind} {side} {spec} does not fit the protocol: shape [{pattern}], "
                    f"dtype {allowed}"
                )
    if kind != "sequence" and inputs[-1] != outputs[-1]:
        raise ProgramError(f"the state goes in as {inputs[-1]} but comes out as {outputs[-1]}")


def _matches(spec: TensorSpec, pattern: list[str], dtype: str | None) -> bool:
    if dtype is None and not spec.dtype.startswith(("float", "bfloat")):
        return False
    if dtype not in (None, "any", spec.dtype):
        return False
    rest = pattern[-1] == "*"
    fixed = pattern[:-1] if rest else pattern
    if len(spec.shape) < len(fixed) or (not rest and len(spec.shape) != len(fixed)):
        return False
    for size, want in zip(spec.shape, fixed, strict=False):
        if (want == "#" and not isinstance(size, int)) or (want != "#" and size != want):
            return False
    return all(isinstance(s, int) or s in DIMS for s in spec.shape[len(fixed) :])


# --- export ---


def export_program(item: Exportable, kind: Kind) -> tuple[ExportedProgram, Manifest]:
    """Returns ``item``'s module as a ``torch.export`` program and a manifest whose
    signature is read from the program (run fields left blank for the caller to fill).

    Raises:
        ProgramError: torch cannot export the module with those axes varying, the
            signature is not ``kind``'s, or the program's outputs differ from the module's.
    """
    import torch
    from torch.export import Dim

    in_names = [w[0] for w in PROTOCOL[kind][0]]
    if len(item.inputs) != len(in_names) or len(item.dims) != len(in_names):
        raise ProgramError(f"{kind} programs take {len(in_names)} inputs ({', '.join(in_names)})")
    names = sorted({n for d in item.dims for n in d.values()})
    dims = {n: Dim(n, min=1, max=item.max_sizes.get(n)) for n in names}
    shapes = tuple({axis: dims[n] for axis, n in d.items()} for d in item.dims)
    declared = tuple(
        _declared(n, x, d) for n, x, d in zip(in_names, item.inputs, item.dims, strict=True)
    )
    item.module.eval()
    try:
        with warnings.catch_warnings():
            # an RNN re-assigns its flat weight list while traced; the program reads the
            # parameters themselves, so torch's warning about it says nothing to act on
            warnings.filterwarnings("ignore", "The tensor attributes .* were assigned during")
            program = torch.export.export(
                item.module,
                item.inputs,
                dynamic_shapes=shapes,
                prefer_deferred_runtime_asserts_over_guards=item.defer_guards,
            )
    except Exception as e:  # torch raises many types; the first line says which axis
        raise ProgramError(f"torch.export could not export the model: {_first_line(e)}") from e
    program.example_inputs = None  # torch would pickle them into the archive
    inputs, outputs = describe(program, declared, [w[0] for w in PROTOCOL[kind][1]])
    check_protocol(kind, inputs, outputs)
    _check_same_outputs(item, program)
    blank = Manifest("", "", kind, 0, 0, inputs, outputs, "", "", torch.__version__)
    return program, blank


def _declared(name: str, x: torch.Tensor, dims: Mapping[int, str]) -> TensorSpec:
    shape = tuple(dims.get(a, int(s)) for a, s in enumerate(x.shape))
    return TensorSpec(name, shape, str(x.dtype).removeprefix("torch."))


def _check_same_outputs(item: Exportable, program: ExportedProgram) -> None:
    """Raises ProgramError unless the program gives the module's outputs on the example
    inputs, on inputs one longer along every varying axis and on inputs of size 1 along
    them (a size the trace fixed, or a check it deferred to run time, shows there)."""
    import torch

    ones = tuple(_narrowed(x, d) for x, d in zip(item.inputs, item.dims, strict=True))
    for inputs in (item.inputs, _grown(item), ones):
        with torch.no_grad():
            want = _as_tuple(item.module(*inputs))
            try:
                got = _as_tuple(program.module()(*inputs))
            except Exception as e:
                sizes = ", ".join(str(tuple(x.shape)) for x in inputs)
                raise ProgramError(
                    f"the exported program fails on inputs of shapes {sizes}: {_first_line(e)}"
                ) from e
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            close = a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-6)
            if not close:
                raise ProgramError(f"the exported program's output {i} differs from the model's")


def _grown(item: Exportable) -> tuple:
    """Returns the example inputs one longer along every varying axis (below its limit)."""
    import torch

    sizes = {
        n: x.shape[a] for x, d in zip(item.inputs, item.dims, strict=True) for a, n in d.items()
    }
    grow = {n for n, size in sizes.items() if size < item.max_sizes.get(n, size + 1)}
    out = []
    for x, d in zip(item.inputs, item.dims, strict=True):
        for axis, name in d.items():
            if name in grow:
                x = torch.cat([x, x.narrow(axis, 0, 1)], dim=axis)
        out.append(x)
    return tuple(out)


def _narrowed(x: torch.Tensor, dims: Mapping[int, str]) -> torch.Tensor:
    for axis in dims:
        x = x.narrow(axis, 0, 1)
    return x


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _as_tuple(out: Any) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def save_program(program: ExportedProgram, manifest: Manifest, path: str | Path) -> Path:
    """Writes ``program`` with ``manifest`` inside to ``path`` (a ``.pt2`` archive)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, path, extra_files={MANIFEST_FILE: manifest.to_json()})
    return path


# --- signature of a program ---


def describe(
    program: ExportedProgram, inputs: Sequence[TensorSpec], output_names: Sequence[str]
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Returns the program's inputs and outputs as specs, named as ``inputs`` and
    ``output_names`` (what they should be), its varying sizes named after the axes of
    ``inputs`` that they stand at.

    Raises:
        ProgramError: the program takes or returns another number of tensors, or one of
            its sizes is neither fixed nor one of the named axes.
    """
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    user_in = [placeholders[name] for name in program.graph_signature.user_inputs]
    if len(user_in) != len(inputs):
        raise ProgramError(f"the program takes {len(user_in)} inputs, expected {len(inputs)}")
    symbols: dict[str, str] = {}
    for node, spec in zip(user_in, inputs, strict=True):
        for size, name in zip(node.meta["val"].shape, spec.shape, strict=False):
            if isinstance(name, str) and not isinstance(size, int):
                symbols.setdefault(str(size), name)
    out_node = next(n for n in program.graph.nodes if n.op == "output")
    user_out = out_node.args[0][len(out_node.args[0]) - len(program.graph_signature.user_outputs) :]
    if len(user_out) != len(output_names):
        raise ProgramError(
            f"the program returns {len(user_out)} outputs, expected {len(output_names)}"
        )
    ins = tuple(_spec(s.name, n, symbols) for n, s in zip(user_in, inputs, strict=True))
    outs = tuple(_spec(name, n, symbols) for name, n in zip(output_names, user_out, strict=True))
    return ins, outs


def _spec(name: str, node: Any, symbols: Mapping[str, str]) -> TensorSpec:
    val = node.meta["val"]
    shape = []
    for size in val.shape:
        if isinstance(size, int):
            shape.append(size)
        elif str(size) in symbols:
            shape.append(symbols[str(size)])
        else:
            raise ProgramError(f"{name} has a size ({size}) that is not one of the named axes")
    return TensorSpec(name, tuple(shape), str(val.dtype).removeprefix("torch."))


# --- loading ---


class Program:
    """A loaded program: call it with the kind's inputs, get its outputs as a tuple.

    Attributes:
        manifest: what the program is.
        exported: the ``torch.export`` program itself.
    """

    def __init__(self, manifest: Manifest, exported: ExportedProgram):
        self.manifest, self.exported = manifest, exported
        self._module = exported.module()

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        import torch

        with torch.no_grad():
            return _as_tuple(self._module(*inputs))

    def initial_state(self, batch: int, params: int = 0) -> torch.Tensor:
        """Returns the zero state of ``batch`` trials (of ``params`` parameters each)."""
        import torch

        spec = self.manifest.inputs[-1]
        if self.manifest.kind == "sequence":
            raise ProgramError("sequence programs have no state")
        sizes = {"batch": batch, "params": params}
        shape = [sizes[s] if isinstance(s, str) else s for s in spec.shape]
        return torch.zeros(shape, dtype=getattr(torch, spec.dtype))


def load_program(path: str | Path, expected: Manifest | None = None) -> Program:
    """Returns the program in the ``.pt2`` archive at ``path``, checked.

    The archive must hold one program, no pickled payload (``torch.export.load`` would
    unpickle it), and a manifest whose signature is its kind's and the program's own.
    With ``expected`` (say, the manifest uploaded beside it), the archive's manifest must
    agree with it on method, family, kind and signature.

    Raises:
        ProgramError: naming the first thing that is wrong.
    """
    import torch

    path = Path(path)
    text = check_archive(path)
    manifest = Manifest.from_json(text, f"{path}: {MANIFEST_FILE}")
    if expected is not None:
        for name in ("method", "family", "kind", "inputs", "outputs"):
            have, want = getattr(manifest, name), getattr(expected, name)
            if have != want:
                raise ProgramError(f"{path}: {name} {_show(have)}, expected {_show(want)}")
    check_protocol(manifest.kind, manifest.inputs, manifest.outputs)
    try:
        exported = torch.export.load(path)
    except Exception as e:
        raise ProgramError(f"{path}: torch.export.load failed ({_first_line(e)})") from e
    names = [s.name for s in manifest.outputs]
    inputs, outputs = describe(exported, manifest.inputs, names)
    sides = (("inputs", inputs, manifest.inputs), ("outputs", outputs, manifest.outputs))
    for side, have, want in sides:
        if have != want:
            raise ProgramError(
                f"{path}: the program's {side} are {_show(have)}, its manifest says {_show(want)}"
            )
    return Program(manifest, exported)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    return repr(value)


def check_archive(path: Path) -> str:
    """Returns the manifest text of the ``.pt2`` archive at ``path`` after checking that
    ``torch.export.load`` would unpickle nothing from it: one program, tensors stored as
    raw bytes, no sample inputs, no ``.pt``/``.pkl`` file (torch reads some with pickle).

    Raises:
        ProgramError: naming the first thing that is not so.
    """
    from torch.export.pt2_archive import constants as pt2

    if not zipfile.is_zipfile(path):
        raise ProgramError(f"{path}: not a torch.export archive (.pt2, a zip file)")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        prefix = names[0].split("/", 1)[0] + "/" if names else ""

        def read(name: str) -> bytes:
            try:
                return archive.read(prefix + name)
            except KeyError:
                raise ProgramError(f"{path}: the archive has no {name}") from None

        model = pt2.MODELS_FILENAME_FORMAT.format("model")
        if [n for n in names if n.startswith(prefix + "models/")] != [prefix + model]:
            raise ProgramError(f"{path}: the archive must hold one program, 'model'")
        samples = pt2.SAMPLE_INPUTS_FILENAME_FORMAT.format("model")
        if read(samples):
            raise ProgramError(f"{path}: the archive holds pickled sample inputs")
        pickles = [n for n in names if n.endswith((".pt", ".pkl")) and n != prefix + samples]
        if pickles:
            raise ProgramError(f"{path}: the archive holds a pickle ({pickles[0]})")
        for config_file, tensor_prefix in (
            (pt2.WEIGHTS_CONFIG_FILENAME_FORMAT, pt2.WEIGHT_FILENAME_PREFIX),
            (pt2.CONSTANTS_CONFIG_FILENAME_FORMAT, pt2.TENSOR_CONSTANT_FILENAME_PREFIX),
        ):
            for name, meta in _payload_config(path, read(config_file.format("model"))).items():
                raw = not meta.get("use_pickle", True)
                if not (raw and str(meta.get("path_name", "")).startswith(tensor_prefix)):
                    raise ProgramError(f"{path}: the archive holds pickled tensors ({name})")
        return read(pt2.EXTRA_DIR + MANIFEST_FILE).decode()


def _payload_config(path: Path, data: bytes) -> dict[str, Any]:
    try:
        config = json.loads(data)["config"]
    except (ValueError, KeyError, TypeError):
        config = None
    if not isinstance(config, dict) or not all(isinstance(v, dict) for v in config.values()):
        raise ProgramError(f"{path}: the archive's tensor configuration is not readable")
    return config
