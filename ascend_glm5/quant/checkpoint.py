"""msModelSlim "ascendV1" checkpoints on disk: memory-mapped reading and writing.

A directory holds ``quant_model_description.json`` (``{tensor name: quant type}`` plus the global
keys ``version``, ``model_quant_type``, ``metadata``, ``group_size``, ``optional``), safetensors shards
``quant_model_weights-0000i-of-0000n.safetensors`` with their index
``quant_model_weights.safetensors.index.json``, and the model's ``config.json`` (msModelSlim
``core/quant_service/modelslim_v1/save/ascendv1.py``; docs/quantization.md).

Reading never copies a tensor: :class:`SafetensorsDir` maps each shard (copy-on-write, so the file
is never modified) and hands out ``torch.frombuffer`` views of the mapping; the pages load on first touch.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import struct
from collections.abc import Iterable

import torch

DESCRIPTION = "quant_model_description.json"
WEIGHTS_PREFIX = "quant_model_weights"
QUANT_TYPES = ("FLOAT", "W8A8", "W8A8_DYNAMIC", "W4A8_DYNAMIC")
# msModelSlim's model_quant_type priority (W4A8_DYNAMIC is deliberately absent: a W4A8 export
# reports the highest of its other types).
_TYPE_PRIORITY = ("FLOAT", "W8A8_DYNAMIC", "W8A8")
GLOBAL_KEYS = ("version", "model_quant_type", "metadata", "group_size", "optional", "is_rot_used",
               "kv_quant_type", "fa_quant_type", "indexer_quant_type", "kv_cache_type")  # fmt: skip
SHARD_BYTES = 4 * 1024**3  # msModelSlim's part_file_size default: 4 GB

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}  # fmt: skip
_NAMES = {v: k for k, v in _DTYPES.items()}


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file or tensor at fault."""


class _Shard:
    """One safetensors file, memory-mapped; ``tensor(name)`` is a zero-copy view."""

    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise CheckpointError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
            (size,) = struct.unpack("<Q", head)
            try:
                self.header = json.loads(f.read(size))
            except (ValueError, UnicodeDecodeError) as e:
                raise CheckpointError(f"{path}: unreadable safetensors header ({e})") from None
            self.header.pop("__metadata__", None)
            self.base = 8 + size
            length = os.fstat(f.fileno()).st_size
            # ACCESS_COPY: writable private pages (torch wants a writable buffer), file never written
            self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if length else None

    def tensor(self, name: str) -> torch.Tensor:
        info = self.header[name]
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise CheckpointError(f"{self.path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        shape = info["shape"]
        count = 1
        for d in shape:
            count *= d
        item = torch.empty((), dtype=dtype).element_size()
        if end - start != count * item or self.base + end > len(self.map or b""):
            raise CheckpointError(f"{self.path}: tensor {name} data ({end - start} bytes) does not match "
                                  f"its shape {shape} and dtype {info['dtype']} or lies outside the file")  # fmt: skip
        if count == 0:
            return torch.empty(shape, dtype=dtype)
        offset = self.base + start
        if offset % item:  # misaligned for a typed view: copy this one tensor's bytes instead
            raw = torch.frombuffer(self.map, dtype=torch.uint8, count=end - start, offset=offset).clone()
            return raw.view(dtype).reshape(shape)
        return torch.frombuffer(self.map, dtype=dtype, count=count, offset=offset).reshape(shape)


class SafetensorsDir:
    """All tensors of a checkpoint directory: a ``*.safetensors.index.json`` index (sharded) or
    every ``*.safetensors`` file in it. ``get(name)`` returns a memory-mapped view."""

    def __init__(self, path: str):
        self.path = path
        indexes = sorted(f for f in os.listdir(path) if f.endswith(".safetensors.index.json"))
        self.where: dict[str, str] = {}
        if indexes:
            for index in indexes:
                with open(os.path.join(path, index)) as f:
                    weight_map = json.load(f).get("weight_map", {})
                for name, file in weight_map.items():
                    self.where.setdefault(name, file)
        # with an index, only the files it lists (a stray file next to the shards is not part of it)
        files = sorted(set(self.where.values()) if indexes else
                       {f for f in os.listdir(path) if f.endswith(".safetensors")})  # fmt: skip
        self._shards: dict[str, _Shard] = {}
        for file in files:
            full = os.path.join(path, file)
            if not os.path.isfile(full):
                raise CheckpointError(f"the index lists {file}, which is not in {path}")
            shard = self._shards[file] = _Shard(full)
            for name in shard.header:
                if self.where.setdefault(name, file) != file and name in self._shards[self.where[name]].header:
                    raise CheckpointError(f"tensor {name} is in both {self.where[name]} and {file}")
        for name, file in self.where.items():
            if name not in self._shards[file].header:
                raise CheckpointError(f"the index puts tensor {name} in {file}, which does not hold it")
        if not self.where:
            raise CheckpointError(f"{path} holds no safetensors weights")

    def names(self) -> list[str]:
        return sorted(self.where)

    def __contains__(self, name: str) -> bool:
        return name in self.where

    def get(self, name: str) -> torch.Tensor:
        if name not in self.where:
            raise CheckpointError(f"tensor {name} is missing from the checkpoint")
        return self._shards[self.where[name]].tensor(name)

    def spec(self, name: str) -> tuple[tuple[int, ...], torch.dtype]:
        """Shape and dtype without touching the data."""
        info = self._shards[self.where[name]].header[name]
        return tuple(info["shape"]), _DTYPES.get(info["dtype"])


def read_description(path: str) -> tuple[dict[str, str], dict]:
    """``(types, globals)`` of ``quant_model_description.json`` in ``path``: every tensor's quant type,
    and the global keys. Unknown types raise CheckpointError naming the tensor."""
    file = os.path.join(path, DESCRIPTION)
    if not os.path.isfile(file):
        raise CheckpointError(f"{path} has no {DESCRIPTION}: not an msModelSlim export")
    with open(file) as f:
        data = json.load(f)
    types, globals_ = {}, {}
    for key, value in data.items():
        if key in GLOBAL_KEYS or not isinstance(value, str):
            globals_[key] = value
        elif value not in QUANT_TYPES:
            raise CheckpointError(f"{DESCRIPTION}: tensor {key} has quant type {value!r}; supported: "
                                  f"{', '.join(QUANT_TYPES)}")  # fmt: skip
        else:
            types[key] = value
    if globals_.get("group_size", 0) not in (0, None):
        raise CheckpointError(f"{DESCRIPTION}: group_size {globals_['group_size']} (per-group weights) is not "
                              f"supported; msModelSlim's GLM-5 recipes are per-channel (group_size 0)")  # fmt: skip
    return types, globals_


class CheckpointWriter:
    """Writes an msModelSlim ascendV1 directory: shards of at most ``shard_bytes``, the index, and
    the description file with the same key order as msModelSlim's saver."""

    def __init__(self, path: str, shard_bytes: int = SHARD_BYTES):
        os.makedirs(path, exist_ok=True)
        self.path, self.shard_bytes = path, shard_bytes
        self.types: dict[str, str] = {}
        self._pending: dict[str, torch.Tensor] = {}
        self._pending_bytes = 0
        self._shards: list[list[str]] = []
        self.total_bytes = 0
        self.extra_globals: dict = {}  # e.g. GLM-5's "is_rot_used"
        self._side_index: dict[str, str] = {}

    def add(self, name: str, tensor: torch.Tensor, quant_type: str) -> None:
        if quant_type not in QUANT_TYPES:
            raise ValueError(f"unknown quant type {quant_type!r} for {name}")
        if name in self.types:
            raise ValueError(f"tensor {name} written twice")
        if tensor.dtype not in _NAMES:
            raise TypeError(f"{name}: dtype {tensor.dtype} cannot be stored")
        size = tensor.numel() * tensor.element_size()
        if self._pending and self._pending_bytes + size >= self.shard_bytes:
            self._flush()
        self._pending[name] = tensor.detach().cpu().contiguous().clone()
        self._pending_bytes += size
        self.total_bytes += size
        self.types[name] = quant_type

    def _flush(self) -> None:
        if not self._pending:
            return
        from safetensors.torch import save_file

        index = len(self._shards) + 1
        save_file(self._pending, os.path.join(self.path, f"{WEIGHTS_PREFIX}-{index:05d}.tmp"))
        self._shards.append(list(self._pending))
        self._pending, self._pending_bytes = {}, 0

    def model_quant_type(self) -> str:
        present = set(self.types.values())
        best = "FLOAT"
        for t in _TYPE_PRIORITY:
            if t in present:
                best = t
        return best

    def close(self, *, optional: dict | None = None, metadata: dict | None = None) -> None:
        """Write the last shard, rename shards to ``-0000i-of-0000n``, then the index and the description."""
        self._flush()
        count = len(self._shards)
        weight_map = {}
        for i, names in enumerate(self._shards, start=1):
            final = f"{WEIGHTS_PREFIX}-{i:05d}-of-{count:05d}.safetensors"
            os.replace(os.path.join(self.path, f"{WEIGHTS_PREFIX}-{i:05d}.tmp"), os.path.join(self.path, final))
            weight_map.update({name: final for name in names})
        weight_map.update(self._side_index)
        with open(os.path.join(self.path, f"{WEIGHTS_PREFIX}.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}, f, indent=2)
        description = dict(self.types)
        description.update(version="1.0.0", model_quant_type=self.model_quant_type(), metadata=metadata or {},
                           group_size=0, optional=optional or {})  # fmt: skip
        description.update(self.extra_globals)
        with open(os.path.join(self.path, DESCRIPTION), "w") as f:
            json.dump(description, f, indent=4)

    def add_side_file(self, relative: str, tensors: dict[str, torch.Tensor], index_names: Iterable[str] = ()) -> None:
        """A safetensors file outside the shards (``optional/quarot.safetensors``, ``rot.safetensors``);
        ``index_names`` are listed in the index (as msModelSlim lists ``rot.weight``)."""
        from safetensors.torch import save_file

        full = os.path.join(self.path, relative)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, full)
        self._side_index.update({name: relative for name in index_names})


def copy_model_files(src: str, dst: str) -> None:
    """Copy config/tokenizer files (``*.json``, ``*.py``, ``*.txt``, ``*.jinja``, not indexes) from
    ``src`` to ``dst`` and drop any ``quantization_config`` from config.json, as msModelSlim does."""
    for file in os.listdir(src):
        if not file.endswith((".json", ".py", ".txt", ".jinja")) or file.endswith("index.json"):
            continue
        if file == DESCRIPTION:
            continue
        shutil.copyfile(os.path.join(src, file), os.path.join(dst, file))
    config = os.path.join(dst, "config.json")
    if os.path.isfile(config):
        with open(config) as f:
            data = json.load(f)
        if data.pop("quantization_config", None) is not None:
            with open(config, "w") as f:
                json.dump(data, f, indent=2)


def dtype_name(dtype: torch.dtype) -> str:
    return _NAMES[dtype]
