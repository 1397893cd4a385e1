#!/usr/bin/env python3
"""Reference fixtures for tests/test_quant.c, produced by gguf-py's numpy
quant code (gguf.quants) and numpy's float16 casts; never by vllm.c.

    python3 scripts/make_quant_fixtures.py      # writes tests/fixtures/quant/

Output (all little-endian binary, described by index.json):
  input.f32          float32 data with edge cases (zeros, constant blocks,
                     large / small / negative-only / positive-only values,
                     outliers, small integers) followed by random normals
  normal.f32         standard normal data, for quantize->dequantize RMSE
  <T>.blocks.bin     random block bytes of type T with finite f16 scale fields
  <T>.dequant.f32    gguf-py's dequantize of <T>.blocks.bin
  <T>.quant.bin      gguf-py's quantize of input.f32 (types it can quantize)
  f16_from_f32.{in.u32,out.u16}  numpy float32 -> float16
  f16_to_f32.{in.u16,out.u32}    numpy float16 -> float32
  bf16_from_f32.out.u16          gguf-py BF16 quantize of f16_from_f32.in.u32
index.json also records gguf-py's RMSE of quantize->dequantize on normal.f32
and, for the K-quants gguf-py cannot quantize, the RMSE of llama.cpp's own
quantizer (ggml_quantize_chunk, no imatrix) on normal.f32, dequantized by
gguf-py. That needs a llama.cpp build (scripts/build-llamacpp-tools.sh puts
one in ~/.cache/vllmc/llama.cpp; or set LLAMACPP_ROOT): the small C shim
scripts/ggml_quantize_shim.c is compiled against its libggml-base.a.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "quant")
rng = np.random.default_rng(20261125)

# types gguf-py implements (checked against gguf/quants.py): quantize and dequantize
CAN_QUANTIZE = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
CAN_DEQUANTIZE = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
                  T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]

# byte offsets of the f16 scale fields in each block (see src/model/quant.h)
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def make_input():
    """16 super-blocks of 256 floats: edge cases first, then normals."""
    seg = []
    seg.append(np.zeros(256))                                           # all zeros
    seg.append(np.concatenate([np.full(128, 0.75), np.full(128, -3.2)]))  # constant blocks
    seg.append(rng.standard_normal(256) * 2000.0)                       # large magnitudes
    seg.append(rng.standard_normal(256) * 1e-5)                         # small: f16 subnormal scales
    seg.append(-np.abs(rng.standard_normal(256)))                       # negative only
    seg.append(rng.uniform(0.5, 3.0, 256))                              # positive only
    out = rng.standard_normal(256)
    out[::32] *= 50.0                                                   # one outlier per block
    seg.append(out)
    seg.append(rng.integers(-8, 8, 256).astype(np.float64))             # small integers: exact ties
    seg.append(rng.standard_normal(2048))                               # plain normals
    return np.concatenate(seg).astype(np.float32)


def random_blocks(qt, n_blocks):
    """Random block bytes whose f16 scale fields hold finite values (some
    negative, some subnormal, a few zero)."""
    _, bb = GGML_QUANT_SIZES[qt]
    blocks = rng.integers(0, 256, size=(n_blocks, bb), dtype=np.uint8)
    for off in F16_FIELDS[qt]:
        mag = 10.0 ** rng.uniform(-7, 1, n_blocks)
        vals = (rng.standard_normal(n_blocks) * mag).astype(np.float16)
        vals[rng.integers(0, n_blocks)] = 0.0
        assert np.all(np.isfinite(vals))
        blocks[:, off:off + 2] = vals.view(np.uint8).reshape(n_blocks, 2)
    return blocks


def f32_conversion_inputs():
    """float32 bit patterns covering every class and the rounding edges of f16."""
    parts = []
    parts.append(rng.integers(0, 2**32, 1024, dtype=np.uint64).astype(np.uint32))  # anything
    # values inside the f16 range
    f = (rng.standard_normal(1024) * 10.0 ** rng.uniform(-9, 5, 1024)).astype(np.float32)
    parts.append(f.view(np.uint32))
    # exact halfway points and neighbours between consecutive f16 values (normal and subnormal)
    h = rng.integers(0, 0x7bff, 512, dtype=np.uint16)
    lo = h.view(np.float16).astype(np.float64)
    hi = (h + 1).astype(np.uint16).view(np.float16).astype(np.float64)
    mid = ((lo + hi) / 2).astype(np.float32)  # exact in float32
    mb = mid.view(np.uint32)
    parts += [mb, mb + 1, mb - 1]
    sign = np.uint32(0x80000000)
    parts.append(mb[:256] | sign)
    special = np.array([0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
                        0x7f800001, 0xff800001, 0x7f802000, 0x7fbfffff, 0x7f801fff,
                        0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001, 0x47800000, 0x7f7fffff,
                        0x38800000, 0x387fffff, 0x387fe000, 0x387ff000, 0x33000000, 0x33000001,
                        0x32ffffff, 0x33800000, 0x33c00000, 0x00000001, 0x807fffff, 0x3f800000,
                        0xbf800000, 0x3f801000, 0x3f803000, 0x3f800fff, 0x3f801001],
                       dtype=np.uint32)
    parts.append(special)
    return np.concatenate(parts).astype(np.uint32)


def rmse(a, b):
    return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def llamacpp_quantizer():
    """Returns quantize(qtype, float32 array) -> uint8 array using llama.cpp."""
    root = os.environ.get("LLAMACPP_ROOT", os.path.expanduser("~/.cache/vllmc/llama.cpp"))
    libs = sorted(glob.glob(os.path.join(root, "build-*", "ggml", "src", "libggml-base.a")))
    inc = os.path.join(root, "src", "ggml", "include")
    if not libs or not os.path.exists(os.path.join(inc, "ggml.h")):
        sys.exit("make_quant_fixtures: no llama.cpp build under %s (run scripts/build-llamacpp-tools.sh "
                 "or set LLAMACPP_ROOT)" % root)
    tmp = tempfile.mkdtemp(prefix="quantfix")
    exe = os.path.join(tmp, "shim")
    shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ggml_quantize_shim.c")
    subprocess.run(["cc", "-O2", "-I" + inc, shim, libs[-1], "-lm", "-lpthread", "-lstdc++", "-fopenmp",
                    "-o", exe], check=True)

    def quantize(qt, x):
        src, dst = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.bin")
        x.astype(np.float32).tofile(src)
        subprocess.run([exe, str(int(qt)), "256", src, dst], check=True)
        return np.fromfile(dst, dtype=np.uint8)

    return quantize, libs[-1]


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))

    def put(name, arr):
        arr.tofile(os.path.join(OUT, name))
        return name

    index = {"generator": "scripts/make_quant_fixtures.py (gguf-py %s, numpy %s)"
             % (getattr(sys.modules["gguf"], "__version__", "?"), np.__version__),
             "formats": {}}
    x = make_input()
    normal = rng.standard_normal(8192).astype(np.float32)
    index["input"] = {"file": put("input.f32", x), "n": int(x.size)}
    index["normal"] = {"file": put("normal.f32", normal), "n": int(normal.size)}

    for qt in CAN_DEQUANTIZE:
        be, bb = GGML_QUANT_SIZES[qt]
        entry = {"type": int(qt), "block_elems": be, "block_bytes": bb}
        if qt in (T.F16, T.BF16):
            n_blocks = 1024  # random 16-bit patterns, every class included
            blocks = rng.integers(0, 2**16, n_blocks, dtype=np.uint16).view(np.uint8).reshape(n_blocks, 2)
        else:
            n_blocks = 32 if be == 32 else 16
            blocks = random_blocks(qt, n_blocks)
        deq = quants.dequantize(blocks.reshape(1, -1), qt).astype(np.float32).reshape(-1)
        assert deq.size == n_blocks * be
        entry["dequant"] = {"n_blocks": n_blocks,
                            "blocks": put(qt.name + ".blocks.bin", blocks),
                            "values": put(qt.name + ".dequant.f32", deq)}
        if qt in CAN_QUANTIZE:
            q = quants.quantize(x.reshape(1, -1), qt)
            qn = quants.quantize(normal.reshape(1, -1), qt)
            back = quants.dequantize(qn, qt).astype(np.float32).reshape(-1)
            entry["quant"] = {"file": put(qt.name + ".quant.bin", np.ascontiguousarray(q).view(np.uint8)),
                              "normal_rmse": rmse(back, normal)}
        index["formats"][qt.name] = entry

    # llama.cpp's quantizer: K-quant RMSE to beat; and a cross-check that gguf-py's
    # quantizers are bit-identical to llama.cpp's for the types both have
    llq, lib = llamacpp_quantizer()
    index["llamacpp_lib"] = os.path.relpath(lib, os.path.expanduser("~"))
    index["llamacpp_normal_rmse"] = {}
    for qt in [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
        back = quants.dequantize(llq(qt, normal).reshape(1, -1), qt).astype(np.float32).reshape(-1)
        index["llamacpp_normal_rmse"][qt.name] = rmse(back, normal)
    for qt in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]:
        same = np.array_equal(llq(qt, x), quants.quantize(x.reshape(1, -1), qt).reshape(-1))
        print("llama.cpp %s quantize %s gguf-py's" % (qt.name, "==" if same else "!="))
        index["formats"][qt.name]["quant"]["llamacpp_identical"] = bool(same)

    fin = f32_conversion_inputs()
    with np.errstate(over="ignore"):  # overflow to inf is part of what is tested
        f16 = fin.view(np.float32).astype(np.float16).view(np.uint16)
    bf16 = quants.quantize(fin.view(np.float32).reshape(1, -1), T.BF16).view(np.uint16).reshape(-1)
    hin = np.concatenate([np.arange(0, 65536, 17, dtype=np.uint32).astype(np.uint16),
                          np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0x7c00,
                                    0xfc00, 0x7c01, 0x7dff, 0x7e00, 0xfe00, 0xffff], dtype=np.uint16)])
    hout = hin.view(np.float16).astype(np.float32).view(np.uint32)
    index["f16_from_f32"] = {"n": int(fin.size), "in": put("f16_from_f32.in.u32", fin),
                             "out": put("f16_from_f32.out.u16", f16)}
    index["bf16_from_f32"] = {"n": int(fin.size), "in": "f16_from_f32.in.u32",
                              "out": put("bf16_from_f32.out.u16", bf16)}
    index["f16_to_f32"] = {"n": int(hin.size), "in": put("f16_to_f32.in.u16", hin),
                           "out": put("f16_to_f32.out.u32", hout)}
    with open(os.path.join(OUT, "index.json"), "w") as fh:
        json.dump(index, fh, indent=1, sort_keys=True)
        fh.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote %s (%d files, %d bytes)" % (OUT, len(os.listdir(OUT)), total))


if __name__ == "__main__":
    main()
