"""Runs a TFLite model: LiteRT's C runtime through ctypes, else a Python TFLite Interpreter.

The ai-edge-litert wheel ships its runtime twice: the C library libLiteRt.so (8 MB) and, on top
of it, Python bindings (libpywrap_litert_common.so, 18 MB) that also need numpy's full import.
Calling the C API directly gives the same kernels (XNNPACK) and bit-identical outputs
(tests/unit/test_runtime.py) and lets the deployed package leave the bindings out
(infra/prune_package.py). Where the library is absent (an environment with only tflite-runtime)
or cannot be loaded, the Python Interpreter of ai_edge_litert or tflite_runtime is used instead.

C declarations: litert/c/litert_{common,layout,model,model_types,options,opaque_options,
compiled_model,tensor_buffer,tensor_buffer_requirements}.h of google-ai-edge/LiteRT, as built
into ai-edge-litert 2.3.0 (every symbol is looked up at load). That build exports no CPU-options
helpers: the CPU accelerator reads its settings from an opaque option named "xnnpack" whose
payload is TOML text (litert/c/options/litert_cpu_options.cc, runtime/litert_cpu_options.cc).

A model whose inputs leave dimensions open (-1; RetinaFace's height and width) is resized to the
arrays run() is given: LiteRtCompiledModelResizeInputTensor, then
LiteRtGetCompiledModelOutputTensorLayouts with update_allocation (LiteRT plans the tensors for the
new shape, about 10 ms a megapixel on one core) and new buffers; the Interpreter resizes likewise.
"""
from __future__ import annotations

import ctypes as C
import dataclasses
import importlib.util
import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CAPI_LIBRARY = "libLiteRt.so"
BACKENDS = ("auto", "litert-c", "interpreter")

# litert_common.h / litert_model_types.h / litert_tensor_buffer_types.h / litert_logging.h
STATUS_OK = 0
HW_ACCELERATOR_CPU = 1
RANKED_TENSOR = 0
QUANTIZATION_PER_TENSOR = 1
HOST_MEMORY_BUFFER = 1
LOCK_READ, LOCK_WRITE = 0, 1
CPU_OPTIONS_ID = b"xnnpack"
ENV_OPTION_MIN_LOGGER_SEVERITY, ANY_TYPE_INT = 25, 2  # litert_environment_options.h, litert_any.h
LOG_ERROR = 3  # quiets the start-up notes about GPU and NPU accelerators that Lambda lacks
HOST_MEMORY_ALIGNMENT = 64
MAX_RANK = 8
# LiteRtElementType: the TfLiteType numbers.
ELEMENT_TYPES = {1: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8, 10: np.float16}


class LiteRtError(RuntimeError):
    """LiteRT's C API returned an error status."""


class _Layout(C.Structure):
    # unsigned rank : 7; bool has_strides : 1; int32_t dimensions[8]; uint32_t strides[8];
    # (the two bit-fields share one 32-bit unit on both Lambda architectures). LiteRT fills it and
    # gets it back unchanged; newer headers end it with a strides pointer, which the zeroed strides
    # here also read as (NULL: packed), so either declaration is met.
    _fields_ = [("rank_bits", C.c_uint32), ("dimensions", C.c_int32 * MAX_RANK), ("strides", C.c_uint32 * MAX_RANK)]


class _Any(C.Structure):
    # LiteRtAny: a type tag, then an 8-byte union (here only its int64_t member).
    _fields_ = [("type", C.c_int), ("int_value", C.c_int64)]


class _EnvOption(C.Structure):
    _fields_ = [("tag", C.c_int), ("value", _Any)]


class _RankedTensorType(C.Structure):
    _fields_ = [("element_type", C.c_int), ("layout", _Layout)]


class _PerTensorQuantization(C.Structure):
    _fields_ = [("scale", C.c_float), ("zero_point", C.c_int64)]


_P, _PP, _SIZE = C.c_void_p, C.POINTER(C.c_void_p), C.c_size_t
_SIGNATURES = {
    "LiteRtCreateEnvironment": (C.c_int, [C.c_int, C.POINTER(_EnvOption), _PP]),
    "LiteRtDestroyEnvironment": (None, [_P]),
    "LiteRtCreateModelFromBuffer": (C.c_int, [_P, _P, _SIZE, _PP]),
    "LiteRtDestroyModel": (None, [_P]),
    "LiteRtGetModelSignature": (C.c_int, [_P, _SIZE, _PP]),
    "LiteRtGetSignatureSubgraph": (C.c_int, [_P, _PP]),
    "LiteRtGetNumSignatureInputs": (C.c_int, [_P, C.POINTER(_SIZE)]),
    "LiteRtGetNumSignatureOutputs": (C.c_int, [_P, C.POINTER(_SIZE)]),
    "LiteRtGetSignatureInputName": (C.c_int, [_P, _SIZE, C.POINTER(C.c_char_p)]),
    "LiteRtGetSignatureOutputName": (C.c_int, [_P, _SIZE, C.POINTER(C.c_char_p)]),
    "LiteRtGetNumSubgraphInputs": (C.c_int, [_P, C.POINTER(_SIZE)]),
    "LiteRtGetNumSubgraphOutputs": (C.c_int, [_P, C.POINTER(_SIZE)]),
    "LiteRtGetSubgraphInput": (C.c_int, [_P, _SIZE, _PP]),
    "LiteRtGetSubgraphOutput": (C.c_int, [_P, _SIZE, _PP]),
    "LiteRtGetTensorName": (C.c_int, [_P, C.POINTER(C.c_char_p)]),
    "LiteRtGetTensorTypeId": (C.c_int, [_P, C.POINTER(C.c_int)]),
    "LiteRtGetRankedTensorType": (C.c_int, [_P, C.POINTER(_RankedTensorType)]),
    "LiteRtGetQuantizationTypeId": (C.c_int, [_P, C.POINTER(C.c_int)]),
    "LiteRtGetPerTensorQuantization": (C.c_int, [_P, C.POINTER(_PerTensorQuantization)]),
    "LiteRtCreateOptions": (C.c_int, [_PP]),
    "LiteRtDestroyOptions": (None, [_P]),
    "LiteRtSetOptionsHardwareAccelerators": (C.c_int, [_P, C.c_int]),
    "LiteRtCreateOpaqueOptions": (C.c_int, [C.c_char_p, _P, _P, _PP]),
    "LiteRtAddOpaqueOptions": (C.c_int, [_P, _P]),
    "LiteRtCreateCompiledModel": (C.c_int, [_P, _P, _P, _PP]),
    "LiteRtDestroyCompiledModel": (None, [_P]),
    "LiteRtGetCompiledModelInputBufferRequirements": (C.c_int, [_P, _SIZE, _SIZE, _PP]),
    "LiteRtGetCompiledModelOutputBufferRequirements": (C.c_int, [_P, _SIZE, _SIZE, _PP]),
    "LiteRtGetTensorBufferRequirementsBufferSize": (C.c_int, [_P, C.POINTER(_SIZE)]),
    "LiteRtCreateTensorBufferFromHostMemory": (C.c_int, [C.POINTER(_RankedTensorType), _P, _SIZE, _P, _PP]),
    "LiteRtDestroyTensorBuffer": (None, [_P]),
    "LiteRtLockTensorBuffer": (C.c_int, [_P, _PP, C.c_int]),
    "LiteRtUnlockTensorBuffer": (C.c_int, [_P]),
    "LiteRtRunCompiledModel": (C.c_int, [_P, _SIZE, _SIZE, _PP, _SIZE, _PP]),
    "LiteRtCompiledModelResizeInputTensor": (C.c_int, [_P, _SIZE, _SIZE, C.POINTER(C.c_int), _SIZE]),
    "LiteRtGetCompiledModelOutputTensorLayouts": (C.c_int, [_P, _SIZE, _SIZE, C.POINTER(_Layout), C.c_bool]),
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float = 0.0  # 0.0: not quantized
    zero_point: int = 0
    open_dims: tuple[int, ...] = ()  # the dimensions the model leaves open (-1), resizable at run time


def _needs_resize(arrays, specs) -> bool:
    """Whether an input of the same rank comes at another shape in an open dimension (arrays of
    another rank are reshaped into the tensor, as before open shapes were supported)."""
    return any(a.ndim == len(s.shape) and a.shape != s.shape and s.open_dims for a, s in zip(arrays, specs))


def _resized(spec: TensorSpec, shape: tuple[int, ...]) -> TensorSpec:
    """``spec`` at ``shape``; only its open dimensions may change."""
    if len(shape) != len(spec.shape) or any(a != b for i, (a, b) in enumerate(zip(shape, spec.shape))
                                            if i not in spec.open_dims):
        raise ValueError(f"{spec.name}: shape {shape} does not fit {spec.shape} (open dimensions {spec.open_dims})")
    return dataclasses.replace(spec, shape=tuple(int(d) for d in shape))


def capi_library_path() -> Path | None:
    """Where ai_edge_litert's C API library is installed, found without importing the package."""
    spec = importlib.util.find_spec("ai_edge_litert")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / CAPI_LIBRARY
        if path.exists():
            return path
    return None


@cache
def _capi() -> C.CDLL:
    path = capi_library_path()
    if path is None:
        raise OSError(f"{CAPI_LIBRARY} is not installed")
    lib = C.CDLL(str(path), mode=os.RTLD_LOCAL)
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


# The payloads handed to LiteRtCreateOpaqueOptions stay owned by Python: LiteRT gets a destructor
# that does nothing, and the buffers live as long as the process (one per thread count).
_KEEP_PAYLOAD = C.CFUNCTYPE(None, C.c_void_p)(lambda _: None)


@cache
def _cpu_options_payload(num_threads: int) -> C.Array:
    return C.create_string_buffer(f"num_threads = {int(num_threads)}\n".encode())


class CompiledModel:
    """A model compiled once for the CPU by LiteRT's C API, with host-memory tensor buffers bound
    once per input shape; run() copies the inputs in and the outputs out. A model whose inputs
    leave dimensions open (-1) is resized to the arrays it is given, its buffers bound again."""

    backend = "litert-c"

    def __init__(self, model: bytes, num_threads: int = 1):
        self._handles: list[tuple[str, C.c_void_p]] = []  # destroyed in reverse order
        self._lib = lib = _capi()
        # LiteRT reads the flatbuffer in place: the bytes must outlive the model.
        self._model_bytes = C.create_string_buffer(model, len(model))
        quiet = _EnvOption(ENV_OPTION_MIN_LOGGER_SEVERITY, _Any(ANY_TYPE_INT, LOG_ERROR))
        env = self._create("LiteRtCreateEnvironment", "LiteRtDestroyEnvironment", 1, C.byref(quiet))
        handle = self._create("LiteRtCreateModelFromBuffer", "LiteRtDestroyModel", env, self._model_bytes, len(model))
        signature, subgraph = C.c_void_p(), C.c_void_p()
        self._check(lib.LiteRtGetModelSignature(handle, 0, C.byref(signature)), "LiteRtGetModelSignature")
        self._check(lib.LiteRtGetSignatureSubgraph(signature, C.byref(subgraph)), "LiteRtGetSignatureSubgraph")
        inputs = self._io(signature, subgraph, "Input")
        outputs = self._io(signature, subgraph, "Output")

        options = self._create("LiteRtCreateOptions", "LiteRtDestroyOptions")
        self._check(lib.LiteRtSetOptionsHardwareAccelerators(options, HW_ACCELERATOR_CPU), "set accelerators")
        cpu_options = C.c_void_p()
        self._check(lib.LiteRtCreateOpaqueOptions(CPU_OPTIONS_ID, C.cast(_cpu_options_payload(num_threads), C.c_void_p),
                                                  C.cast(_KEEP_PAYLOAD, C.c_void_p), C.byref(cpu_options)),
                    "LiteRtCreateOpaqueOptions")
        # The options take ownership of the CPU options (freed by LiteRtDestroyOptions).
        self._check(lib.LiteRtAddOpaqueOptions(options, cpu_options), "LiteRtAddOpaqueOptions")
        self._compiled = self._create("LiteRtCreateCompiledModel", "LiteRtDestroyCompiledModel", env, handle, options)

        self._ranked = [ranked for _, ranked in inputs + outputs]
        self._buffers: list[C.c_void_p] = []  # the bound tensor buffers, destroyed on a rebind
        self._bind_all([spec for spec, _ in inputs], [spec for spec, _ in outputs])

    def _bind_all(self, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
        for buffer in self._buffers:
            self._lib.LiteRtDestroyTensorBuffer(buffer)
        self._buffers = []
        n = len(inputs)
        self.inputs, self._in_arrays, in_buffers = self._bind(list(zip(inputs, self._ranked[:n])), "Input")
        self.outputs, self._out_arrays, out_buffers = self._bind(list(zip(outputs, self._ranked[n:])), "Output")
        self._in_buffers = (C.c_void_p * len(in_buffers))(*in_buffers)
        self._out_buffers = (C.c_void_p * len(out_buffers))(*out_buffers)

    def resize(self, *shapes: tuple[int, ...]) -> None:
        """Set the inputs' shapes (their open dimensions) and bind buffers of the outputs' new shapes."""
        inputs = [_resized(spec, shape) for spec, shape in zip(self.inputs, shapes)]
        for i, spec in enumerate(inputs):
            dims = (C.c_int * len(spec.shape))(*spec.shape)
            self._check(self._lib.LiteRtCompiledModelResizeInputTensor(self._compiled, 0, i, dims, len(spec.shape)),
                        "LiteRtCompiledModelResizeInputTensor")
        layouts = (_Layout * len(self.outputs))()
        # update_allocation: LiteRT plans the tensors for the new shapes now, and reports the outputs'.
        self._check(self._lib.LiteRtGetCompiledModelOutputTensorLayouts(self._compiled, 0, len(self.outputs),
                                                                        layouts, True), "output layouts")
        outputs = [dataclasses.replace(spec, shape=tuple(int(layout.dimensions[d]) for d in range(len(spec.shape))))
                   for spec, layout in zip(self.outputs, layouts)]
        self._bind_all(inputs, outputs)

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        lib = self._lib
        if _needs_resize(arrays, self.inputs):
            self.resize(*(a.shape for a in arrays))
        for array, target, buffer in zip(arrays, self._in_arrays, self._in_buffers):
            if array.size != target.size:
                raise ValueError(f"an input of shape {array.shape} does not fit the tensor's {target.shape}")
            self._check(lib.LiteRtLockTensorBuffer(buffer, C.byref(C.c_void_p()), LOCK_WRITE), "lock input")
            np.copyto(target, array.reshape(target.shape), casting="same_kind")
            lib.LiteRtUnlockTensorBuffer(buffer)
        self._check(lib.LiteRtRunCompiledModel(self._compiled, 0, len(self._in_arrays), self._in_buffers,
                                               len(self._out_arrays), self._out_buffers), "LiteRtRunCompiledModel")
        results = []
        for array, buffer in zip(self._out_arrays, self._out_buffers):
            self._check(lib.LiteRtLockTensorBuffer(buffer, C.byref(C.c_void_p()), LOCK_READ), "lock output")
            results.append(array.copy())
            lib.LiteRtUnlockTensorBuffer(buffer)
        return results

    def close(self) -> None:
        for buffer in getattr(self, "_buffers", ()):
            self._lib.LiteRtDestroyTensorBuffer(buffer)
        self._buffers = []
        while self._handles:
            destroy, handle = self._handles.pop()
            getattr(self._lib, destroy)(handle)

    def __del__(self):
        self.close()

    def _check(self, status: int, what: str) -> None:
        if status != STATUS_OK:  # litert_common.h names the codes; this build exports no strings for them
            raise LiteRtError(f"LiteRT {what} failed: status {status}")

    def _create(self, create: str, destroy: str, *args) -> C.c_void_p:
        handle = C.c_void_p()
        self._check(getattr(self._lib, create)(*args, C.byref(handle)), create)
        self._handles.append((destroy, handle))
        return handle

    def _io(self, signature, subgraph, kind: str) -> list[tuple[TensorSpec, _RankedTensorType]]:
        """The signature's inputs or outputs, in the order LiteRtRunCompiledModel takes them."""
        lib = self._lib
        count = _SIZE()
        self._check(getattr(lib, f"LiteRtGetNumSubgraph{kind}s")(subgraph, C.byref(count)), f"count {kind}s")
        tensors = []
        for i in range(count.value):
            tensor = C.c_void_p()
            self._check(getattr(lib, f"LiteRtGetSubgraph{kind}")(subgraph, i, C.byref(tensor)), f"get {kind}")
            tensors.append(self._spec(tensor))
        # Signature order can differ from the subgraph's; the two share tensor names.
        names = []
        for i in range(count.value):
            name = C.c_char_p()
            self._check(getattr(lib, f"LiteRtGetSignature{kind}Name")(signature, i, C.byref(name)), f"{kind} name")
            names.append((name.value or b"").decode())
        by_name = {spec.name: (spec, ranked) for spec, ranked in tensors}
        return [by_name[n] for n in names] if len(tensors) > 1 and set(names) <= set(by_name) else tensors

    def _spec(self, tensor) -> tuple[TensorSpec, _RankedTensorType]:
        lib = self._lib
        kind, ranked, name = C.c_int(), _RankedTensorType(), C.c_char_p()
        self._check(lib.LiteRtGetTensorTypeId(tensor, C.byref(kind)), "LiteRtGetTensorTypeId")
        if kind.value != RANKED_TENSOR:
            raise LiteRtError("tensors of unknown rank are not supported")
        self._check(lib.LiteRtGetRankedTensorType(tensor, C.byref(ranked)), "LiteRtGetRankedTensorType")
        self._check(lib.LiteRtGetTensorName(tensor, C.byref(name)), "LiteRtGetTensorName")
        rank = ranked.layout.rank_bits & 0x7F
        if not 0 < rank <= MAX_RANK or ranked.element_type not in ELEMENT_TYPES:
            raise LiteRtError(f"unexpected tensor type (rank {rank}, element type {ranked.element_type})")
        # An open dimension runs with size 1 until resized. Not the batch (Keras exports it as -1):
        # resized, LiteRT's compiled model reported the emotion models' outputs at batch 1 and
        # wrote past them (a heap error at 64 faces), so the batch stays 1 and a larger one is refused.
        open_dims = tuple(i for i in range(1, rank) if ranked.layout.dimensions[i] < 0)
        for i in range(rank):
            ranked.layout.dimensions[i] = max(1, ranked.layout.dimensions[i])
        scale, zero_point = 0.0, 0
        quantization = C.c_int()
        self._check(lib.LiteRtGetQuantizationTypeId(tensor, C.byref(quantization)), "LiteRtGetQuantizationTypeId")
        if quantization.value == QUANTIZATION_PER_TENSOR:
            per_tensor = _PerTensorQuantization()
            self._check(lib.LiteRtGetPerTensorQuantization(tensor, C.byref(per_tensor)), "quantization")
            scale, zero_point = float(per_tensor.scale), int(per_tensor.zero_point)
        shape = tuple(int(ranked.layout.dimensions[i]) for i in range(rank))
        spec = TensorSpec((name.value or b"").decode(), shape, np.dtype(ELEMENT_TYPES[ranked.element_type]),
                          scale, zero_point, open_dims)
        return spec, ranked

    def _bind(self, tensors, kind: str):
        """A 64-byte aligned host array per tensor, wrapped as a LiteRT tensor buffer."""
        specs, arrays, buffers = [], [], []
        for i, (spec, ranked) in enumerate(tensors):
            requirements, size = C.c_void_p(), _SIZE()
            self._check(getattr(self._lib, f"LiteRtGetCompiledModel{kind}BufferRequirements")(
                self._compiled, 0, i, C.byref(requirements)), "buffer requirements")
            self._check(self._lib.LiteRtGetTensorBufferRequirementsBufferSize(requirements, C.byref(size)),
                        "buffer size")
            nbytes = int(np.prod(spec.shape)) * spec.dtype.itemsize
            if size.value < nbytes:
                raise LiteRtError(f"{spec.name}: LiteRT asks for {size.value} bytes, the shape needs {nbytes}")
            raw = np.zeros(size.value + HOST_MEMORY_ALIGNMENT, dtype=np.uint8)
            start = -raw.ctypes.data % HOST_MEMORY_ALIGNMENT
            memory = raw[start:start + size.value]
            for d, extent in enumerate(spec.shape):
                ranked.layout.dimensions[d] = extent
            buffer = C.c_void_p()
            self._check(self._lib.LiteRtCreateTensorBufferFromHostMemory(C.byref(ranked), memory.ctypes.data,
                                                                         size.value, None, C.byref(buffer)),
                        "LiteRtCreateTensorBufferFromHostMemory")
            self._buffers.append(buffer)
            specs.append(spec)
            arrays.append(memory[:nbytes].view(spec.dtype).reshape(spec.shape))  # keeps `raw` alive
            buffers.append(buffer.value)
        return specs, arrays, buffers


class InterpreterModel:
    """The same interface over a Python TFLite Interpreter (ai_edge_litert or tflite_runtime)."""

    def __init__(self, model: bytes, num_threads: int = 1):
        try:
            from ai_edge_litert.interpreter import Interpreter
            self.backend = "litert-interpreter"
        except ImportError:
            from tflite_runtime.interpreter import Interpreter
            self.backend = "tflite-runtime"
        self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.inputs = [self._spec(d) for d in self.interpreter.get_input_details()]
        self.outputs = [self._spec(d) for d in self.interpreter.get_output_details()]
        self._in = [d["index"] for d in self.interpreter.get_input_details()]
        self._out = [d["index"] for d in self.interpreter.get_output_details()]

    @staticmethod
    def _spec(detail: dict) -> TensorSpec:
        scale, zero_point = detail["quantization"]
        signature = detail.get("shape_signature", detail["shape"])
        return TensorSpec(detail["name"], tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]),
                          float(scale), int(zero_point), tuple(i for i, d in enumerate(signature) if d < 0))

    def resize(self, *shapes: tuple[int, ...]) -> None:
        """Set the inputs' shapes (their open dimensions); the outputs' follow."""
        for index, spec, shape in zip(self._in, self.inputs, shapes):
            self.interpreter.resize_tensor_input(index, list(_resized(spec, tuple(shape)).shape), strict=True)
        self.interpreter.allocate_tensors()
        self.inputs = [self._spec(d) for d in self.interpreter.get_input_details()]
        self.outputs = [self._spec(d) for d in self.interpreter.get_output_details()]

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        if _needs_resize(arrays, self.inputs):
            self.resize(*(a.shape for a in arrays))
        for index, spec, array in zip(self._in, self.inputs, arrays):
            self.interpreter.set_tensor(index, np.asarray(array, dtype=spec.dtype).reshape(spec.shape))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(index).copy() for index in self._out]


def load_model(path: Path, num_threads: int = 1, backend: str = "auto") -> CompiledModel | InterpreterModel:
    """The model at ``path`` on ``backend``: "litert-c", "interpreter", or "auto" (the C API when
    it is installed and loads, the Interpreter otherwise)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown TFLite backend {backend!r}; choose from {', '.join(BACKENDS)}")
    model = Path(path).read_bytes()
    if backend == "interpreter":
        return InterpreterModel(model, num_threads)
    try:
        return CompiledModel(model, num_threads)
    except (OSError, AttributeError, LiteRtError) as error:
        if backend == "litert-c":
            raise
        if capi_library_path() is not None:  # installed, yet unusable: say so
            log.warning("LiteRT's C API could not run %s (%s); using the Python Interpreter", Path(path).name, error)
        return InterpreterModel(model, num_threads)
